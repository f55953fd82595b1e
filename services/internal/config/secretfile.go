package config

import (
	"io"
	"os"
	"path/filepath"
)

// WriteSecretFile replaces path's content with secret and a newline,
// atomically (a temporary file renamed over it), mode 0600, synced.
func WriteSecretFile(path, secret string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".webhook-secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, nothing is left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := io.WriteString(f, secret+"\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
