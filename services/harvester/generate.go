package main

import (
	"context"
	"errors"
	"io"
)

// runGenerate is a placeholder replaced by the real command.
func runGenerate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("generate: not implemented yet")
}
