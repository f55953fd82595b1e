//go:build race

package fetcher

// raceEnabled: the race detector slows generation and parsing about tenfold,
// so the large-file test uses a smaller project under it.
const raceEnabled = true
