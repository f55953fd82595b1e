// Package proc runs the harvester's own binaries as child processes: the
// demo starts `harvester serve` and `harvester devcloud` this way, and the
// process tests start the services. A child's output goes to a log file; it
// is stopped with SIGTERM, then killed.
//
// # What is owned
//
// A Child owns its process and its log file: Stop (or the process's own
// exit) releases both. Nothing is retried.
package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Child is a started process.
type Child struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

// Start runs bin with args, the current environment plus env, and its
// output appended to a new file at logPath.
func Start(bin, logPath string, args []string, env map[string]string) (*Child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s %v: %w", bin, args, err)
	}
	c := &Child{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); logFile.Close() }()
	return c, nil
}

// Log is the path of the child's log file.
func (c *Child) Log() string { return c.log }

// Stop asks the child to shut down gracefully, then kills it after grace.
// Later calls return at once.
func (c *Child) Stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done: //nolint:errcheck // how a child asked to stop exits is not news
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done //nolint:errcheck // as above
	}
	c.done <- nil
}

// Exited is nil while the child runs, else an error naming how it ended
// and its log.
func (c *Child) Exited() error {
	select {
	case err := <-c.done:
		c.done <- err
		return fmt.Errorf("%v exited early (%v); see %s", c.cmd.Args[1:], err, c.log)
	default:
		return nil
	}
}

// WaitReady polls url until it answers 200, c exits, or ctx ends.
func WaitReady(ctx context.Context, url string, c *Child) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := c.Exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (see %s)", url, ctx.Err(), c.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreePorts asks the kernel for n free loopback ports.
func FreePorts(n int) ([]string, error) {
	var ports []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}
