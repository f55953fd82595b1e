package replay

import (
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

func TestReplayFlags(t *testing.T) {
	now := time.Now()
	tests := []struct {
		r       Range
		wantErr bool
	}{
		{Range{Since: now, Subject: events.RunCompletedSubjects}, false},
		{Range{FromSeq: 3, ToSeq: 9, Subject: "dbt.run.1.>"}, false},
		{Range{Subject: events.RunCompletedSubjects}, true},
		{Range{Since: now, FromSeq: 1, Subject: events.RunCompletedSubjects}, true},
		{Range{Since: now, Until: now.Add(-time.Hour), Subject: events.RunCompletedSubjects}, true},
		{Range{FromSeq: 9, ToSeq: 3, Subject: events.RunCompletedSubjects}, true},
		{Range{Since: now, Subject: "dbt.metadata.>"}, true},
	}
	for i, tt := range tests {
		if err := tt.r.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("case %d: Validate() = %v, want error %v", i, err, tt.wantErr)
		}
	}
}
