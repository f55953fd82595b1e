package main

import (
	"context"
	"errors"
	"io"
)

// runNormalize is a placeholder replaced by the real command.
func runNormalize(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("normalize: not implemented yet")
}
