package normalizer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
)

// An object read must be the version the fetcher stored: another size or
// digest (a replica not caught up names an older version) is an error.
func TestSameObject(t *testing.T) {
	sum := sha256.Sum256([]byte(`{"metadata":{}}`))
	digest := "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:])
	other := sha256.Sum256([]byte("other"))
	want := events.StoredArtifact{Key: "1/2/3/manifest.json", Size: 15, SHA256: hex.EncodeToString(sum[:])}
	info := func(size uint64, digest string) *jetstream.ObjectInfo {
		return &jetstream.ObjectInfo{Size: size, Digest: digest}
	}
	tests := []struct {
		name    string
		info    *jetstream.ObjectInfo
		want    events.StoredArtifact
		wantErr bool
	}{
		{"same", info(15, digest), want, false},
		{"other size", info(940, digest), want, true},
		{"other digest", info(15, "SHA-256="+base64.URLEncoding.EncodeToString(other[:])), want, true},
		{"no digest in info", info(15, ""), want, false},
		{"event without size or sum", info(940, digest), events.StoredArtifact{Key: "k"}, false},
		{"no info", nil, want, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sameObject(tt.info, tt.want)
			if (err != nil) != tt.wantErr {
				t.Errorf("sameObject = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
