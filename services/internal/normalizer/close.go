package normalizer

import (
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// normalizeFix says what to do about a normalizer failure.
func normalizeFix(cause error) string {
	if retry.IsPermanent(cause) {
		return "the artifact cannot be read as dbt wrote it; check the run in dbt Cloud, and report the reason with the artifact's dbt version if dbt itself produced it"
	}
	return "the harvest gave up after repeated transient failures (NATS unavailable?); check the harvester's logs; the run event stays in DBT_RUNS for a re-harvest"
}
