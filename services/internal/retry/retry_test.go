package retry

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestClasses(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
		delay     time.Duration
		hasDelay  bool
	}{
		{"plain", io.ErrUnexpectedEOF, false, 0, false},
		{"permanent", Permanent(io.EOF), true, 0, false},
		{"wrapped permanent", fmt.Errorf("fetch run 1: %w", Permanent(io.EOF)), true, 0, false},
		{"after", After(3*time.Second, io.EOF), false, 3 * time.Second, true},
		{"wrapped after", fmt.Errorf("get: %w", After(time.Minute, io.EOF)), false, time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.permanent)
			}
			d, ok := Delay(tt.err)
			if d != tt.delay || ok != tt.hasDelay {
				t.Errorf("Delay(%v) = %v, %v; want %v, %v", tt.err, d, ok, tt.delay, tt.hasDelay)
			}
			if !errors.Is(tt.err, io.EOF) && !errors.Is(tt.err, io.ErrUnexpectedEOF) {
				t.Errorf("errors.Is lost the cause of %v", tt.err)
			}
		})
	}
	if Permanent(nil) != nil || After(time.Second, nil) != nil {
		t.Error("Permanent(nil) or After(d, nil) is not nil")
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt  uint64
		min, max time.Duration
	}{
		{1, 800 * time.Millisecond, time.Second},
		{2, 1600 * time.Millisecond, 2 * time.Second},
		{4, 6400 * time.Millisecond, 8 * time.Second},
		{30, 48 * time.Second, time.Minute},
	}
	for _, tt := range tests {
		for range 50 {
			got := Backoff(tt.attempt, time.Second, time.Minute)
			if got < tt.min || got > tt.max {
				t.Fatalf("Backoff(%d, 1s, 1m) = %v, want in [%v, %v]", tt.attempt, got, tt.min, tt.max)
			}
		}
	}
}
