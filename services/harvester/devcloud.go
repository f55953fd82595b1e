package main

import (
	"context"
	"errors"
	"io"
)

// runDevcloud is a placeholder replaced by the real command.
func runDevcloud(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("devcloud: not implemented yet")
}
