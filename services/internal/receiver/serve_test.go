package receiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// serve runs Serve with a receiver on a fresh JetStream until the test ends
// and returns the bound address.
func serve(t *testing.T, o ServeOptions) string {
	t.Helper()
	_, js := natstest.Run(t)
	if err := topology.Ensure(t.Context(), js, topology.Config{}); err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Secrets: [][]byte{[]byte("s3cret")}, JS: js}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan net.Addr, 1), make(chan error, 1)
	o.Addr = "127.0.0.1:0"
	o.Ready = func(a net.Addr) { ready <- a }
	go func() { done <- Serve(ctx, r.Handler(), o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	})
	select {
	case a := <-ready:
		return a.String()
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	return ""
}

func webhookRequest(t *testing.T, url, eventID string) *http.Request {
	t.Helper()
	body := payload(eventID, "job.run.completed")
	req, err := http.NewRequest(http.MethodPost, url+dbtcloud.WebhookPath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", signWith("s3cret")(body))
	return req
}

func TestServeTLS(t *testing.T) {
	certs := natstest.TLS(t)
	addr := serve(t, ServeOptions{CertFile: certs.ServerCert, KeyFile: certs.ServerKey})
	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer trusting.CloseIdleConnections()

	resp, err := trusting.Do(webhookRequest(t, "https://"+addr, "wev_tls"))
	if err != nil {
		t.Fatalf("POST over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.TLS == nil {
		t.Errorf("POST over TLS = %d (TLS %v), want 202 over TLS", resp.StatusCode, resp.TLS != nil)
	}

	// Not over plain HTTP, and not to a client that does not trust the CA.
	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Do(webhookRequest(t, "http://"+addr, "wev_plain")); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			t.Error("plain HTTP to the TLS receiver was accepted")
		}
	}
	var unknown x509.UnknownAuthorityError
	if resp, err := plain.Do(webhookRequest(t, "https://"+addr, "wev_untrusted")); err == nil {
		resp.Body.Close()
		t.Error("a client without the CA verified the receiver's certificate")
	} else if !errors.As(err, &unknown) {
		t.Errorf("untrusted client error = %v, want an unknown authority", err)
	}
}

func TestServeTLSFiles(t *testing.T) {
	certs := natstest.TLS(t)
	for _, tt := range []struct {
		name      string
		cert, key string
	}{
		{"cert without key", certs.ServerCert, ""},
		{"key without cert", "", certs.ServerKey},
		{"key of another certificate", certs.ServerCert, certs.ClientKey},
		{"missing file", certs.ServerCert + ".gone", certs.ServerKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Serve(t.Context(), http.NotFoundHandler(), ServeOptions{Addr: "127.0.0.1:0", CertFile: tt.cert, KeyFile: tt.key,
				Ready: func(net.Addr) { t.Error("Serve listened with bad TLS files") }})
			if err == nil {
				t.Error("Serve = nil, want an error")
			}
		})
	}
}

// slowClient opens a connection and dribbles a request one byte every
// 200 ms, the headers (or, with body, the headers at once and then a body
// that never completes), until the server closes the connection or stop is
// closed. It reports the close on closed.
func slowClient(addr string, body bool, stop <-chan struct{}, closed *atomic.Int32) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		defer conn.Close()
		head := "POST " + dbtcloud.WebhookPath + " HTTP/1.1\r\nHost: receiver\r\nAuthorization: 00\r\n"
		var rest string
		if body {
			if _, err := io.WriteString(conn, head+"Content-Length: 100000\r\n\r\n"); err != nil {
				closed.Add(1)
				return
			}
			rest = strings.Repeat("{", 100000)
		} else {
			rest = "X-Slow: " + strings.Repeat("a", 10000)
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(rest); i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{rest[i]}); err != nil {
				closed.Add(1) // the server hung up
				return
			}
		}
	}()
	return nil
}

// TestSlowClientsDoNotStopWebhooks: 200 slowloris connections (100 dribbling
// headers, 100 dribbling a body) are open while valid webhooks come; the
// webhooks are all stored before any slow client is cut off, and the read
// timeouts then cut off every slow client.
func TestSlowClientsDoNotStopWebhooks(t *testing.T) {
	const headerTimeout, readTimeout = 8 * time.Second, 10 * time.Second
	addr := serve(t, ServeOptions{ReadHeaderTimeout: headerTimeout, ReadTimeout: readTimeout})
	stop := make(chan struct{})
	defer close(stop)
	var closed atomic.Int32
	const slow = 200
	for i := range slow {
		if err := slowClient(addr, i%2 == 1, stop, &closed); err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
	}
	started := time.Now()
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	statuses := map[int]int{}
	for i := range 20 {
		wg.Go(func() {
			begin := time.Now()
			resp, err := client.Do(webhookRequest(t, "http://"+addr, fmt.Sprintf("wev_valid_%d", i)))
			took := time.Since(begin)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			if err != nil {
				statuses[0]++
				return
			}
			resp.Body.Close()
			statuses[resp.StatusCode]++
		})
	}
	wg.Wait()
	cutBefore := closed.Load()
	t.Logf("20 webhooks beside %d slow clients: statuses %v, slowest %v, %v after the slow clients connected",
		slow, statuses, slowest, time.Since(started))
	if statuses[http.StatusAccepted] != 20 {
		t.Errorf("webhook statuses = %v, want 20 × 202", statuses)
	}
	if cutBefore != 0 {
		t.Errorf("%d slow clients were already cut off when the webhooks were answered: the webhooks waited for the timeouts", cutBefore)
	}
	// The timeouts cut every slow client off (bounded wait).
	deadline := time.Now().Add(readTimeout + 20*time.Second)
	for closed.Load() < slow && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := closed.Load(); n != slow {
		t.Errorf("%d of %d slow clients cut off by the read timeouts, want all", n, slow)
	}
}
