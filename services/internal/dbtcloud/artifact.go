package dbtcloud

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListArtifacts lists the artifact paths of a run, relative to target/
// (manifest.json, run_results.json, compiled/..., run/...). step 0 asks for
// the default (the last step); dbt's spec gives this endpoint no step
// parameter, so a real server may ignore a non-zero step.
func (c *Client) ListArtifacts(ctx context.Context, runID int64, step int) ([]string, error) {
	var paths []string
	if _, err := c.getJSON(ctx, fmt.Sprintf("runs/%d/artifacts/", runID), stepQuery(step), &paths); err != nil {
		return nil, fmt.Errorf("list artifacts of run %d step %d: %w", runID, step, err)
	}
	return paths, nil
}

// Artifact starts downloading one artifact of a run. step 0 sends no step
// parameter, so dbt serves the last step's file. It returns the body and
// its Content-Length (-1 if unknown, e.g. when the transport decompressed
// it). The caller reads the body and must close it; reading ends with
// io.ErrUnexpectedEOF if the body is shorter than its Content-Length.
// A missing artifact is an error wrapping ErrNotFound.
func (c *Client) Artifact(ctx context.Context, runID int64, path string, step int) (io.ReadCloser, int64, error) {
	clean := strings.TrimLeft(path, "/")
	if clean == "" || strings.Contains(clean, "..") {
		return nil, 0, fmt.Errorf("get artifact %q of run %d: invalid path", path, runID)
	}
	rel := fmt.Sprintf("runs/%d/artifacts/%s", runID, clean)
	resp, err := c.open(ctx, call{method: http.MethodGet, api: "v2", rel: rel, query: stepQuery(step), accept: "*/*"}) //nolint:bodyclose // the caller closes it, through lengthReader
	if err != nil {
		return nil, 0, fmt.Errorf("get artifact %s of run %d step %d: %w", clean, runID, step, err)
	}
	return &lengthReader{rc: resp.Body, want: resp.ContentLength}, resp.ContentLength, nil
}

func stepQuery(step int) url.Values {
	if step <= 0 {
		return nil
	}
	return url.Values{"step": {strconv.Itoa(step)}}
}

// lengthReader turns an early EOF into io.ErrUnexpectedEOF when the length
// is known (net/http does this too; this holds for any RoundTripper).
type lengthReader struct {
	rc   io.ReadCloser
	want int64 // -1 if unknown
	got  int64
}

func (r *lengthReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.got += int64(n)
	if err == io.EOF && r.want >= 0 && r.got < r.want {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *lengthReader) Close() error { return r.rc.Close() }
