package receiver

import (
	"testing"

	"github.com/dbt-harvester/harvester/events"
)

// FuzzParseAndVerify feeds arbitrary bodies and headers to the signature check
// and the payload parser: neither may panic, a body only verifies under its own
// signature, and a parsed payload always routes to a subject.
func FuzzParseAndVerify(f *testing.F) {
	f.Add([]byte(payload("wev_1", "job.run.completed")), "00")
	f.Add([]byte(`{"accountId":"12","eventId":"e","eventType":"job.run.started","data":{"jobId":1,"runId":"2","environmentId":3}}`), "zz")
	f.Add([]byte(`{"webhooksID":"wsu","accountId":1e3}`), "")
	f.Add([]byte(`null`), "deadbeef")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		secret := []byte("fuzz-secret")
		if !ValidSignature([][]byte{secret}, body, Sign(secret, body)) {
			t.Fatal("a body failed to verify under its own signature")
		}
		if header != Sign(secret, body) && ValidSignature([][]byte{secret}, body, header) && len(header) == 64 {
			// Only the exact digest (in any hex case) may verify.
			if lower := []byte(header); len(lower) == 64 {
				for i, c := range lower {
					if c >= 'A' && c <= 'F' {
						lower[i] = c + 32
					}
				}
				if string(lower) != Sign(secret, body) {
					t.Fatalf("header %q verified but is not the body's signature", header)
				}
			}
		}
		w, err := events.ParseRunWebhook(body)
		if err != nil {
			return
		}
		if w.EventID == "" || events.RunKind(w.EventType) == "" || w.AccountID == 0 || w.Data.RunID == 0 {
			t.Fatalf("ParseRunWebhook accepted an unroutable payload: %+v", w)
		}
		if s := events.RunSubject(w.Ref(), events.RunKind(w.EventType)); s == "" {
			t.Fatal("empty subject")
		}
	})
}
