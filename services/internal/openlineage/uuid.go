package openlineage

import (
	"crypto/sha1" // UUIDv5 is defined with SHA-1 (RFC 9562 §5.5); not used for security
	"encoding/hex"
)

// nameSpaceURL is RFC 9562's namespace ID for URLs.
var nameSpaceURL = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// runNamespace is the UUIDv5 namespace of the harvester's run IDs: the
// UUIDv5 of the producer URI in the URL namespace.
var runNamespace = uuidV5(nameSpaceURL, Producer+"/openlineage/run")

// uuidV5 is the name-based UUID (version 5, SHA-1) of name in namespace ns.
func uuidV5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// formatUUID is u in its canonical 8-4-4-4-12 form.
func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// RunID is the OpenLineage run ID of node (a dbt unique_id, or "" for the
// run as a whole) in a harvest: the UUIDv5 of
// "<account>/<run>/g<generation>/<node>" (or ".../run"), so the same harvest
// always gives the same IDs and a replay is idempotent downstream. key is
// "<account>/<run>/g<generation>" (see Harvest.runKey).
func RunID(key, node string) string {
	if node == "" {
		node = "run"
	}
	return formatUUID(uuidV5(runNamespace, key+"/"+node))
}
