package gen

import (
	"math/rand/v2"
	"strings"
)

// entity is a business noun that models, source tables and seeds are about.
type entity struct {
	name, plural string
	lookup       bool // a reference list loaded from a seed, keyed by a code
}

// pk is the entity's key column in models.
func (e entity) pk() string {
	if e.lookup {
		return e.name + "_code"
	}
	return e.name + "_id"
}

func (e entity) human() string { return strings.ReplaceAll(e.name, "_", " ") }

// attr is a non-key column a model may carry.
type attr struct {
	name string
	typ  logicalType
	what string // noun phrase for descriptions
}

// sourceSystem is a loader feeding one source group.
type sourceSystem struct {
	name, loader, loadedAt, description string
	freshness                           bool
}

func businessEntities() []entity {
	names := []string{
		"customer", "order", "payment", "product", "store", "supplier", "employee", "shipment",
		"invoice", "subscription", "campaign", "session", "refund", "inventory_item", "account",
		"lead", "opportunity", "ticket", "review", "promotion", "warehouse", "carrier", "return",
		"coupon", "device", "page_view", "ad_click", "contract", "plan", "order_item",
	}
	out := make([]entity, len(names))
	for i, n := range names {
		out[i] = entity{name: n, plural: n + "s"}
	}
	return out
}

func lookupEntities() []entity {
	names := [][2]string{
		{"country", "countries"}, {"currency", "currencies"}, {"holiday", "holidays"},
		{"product_category", "product_categories"}, {"payment_method", "payment_methods"},
		{"marketing_channel", "marketing_channels"}, {"order_status", "order_statuses"},
		{"tax_rate", "tax_rates"}, {"sales_region", "sales_regions"}, {"shipping_method", "shipping_methods"},
		{"fiscal_period", "fiscal_periods"}, {"cost_center", "cost_centers"},
	}
	out := make([]entity, len(names))
	for i, n := range names {
		out[i] = entity{name: n[0], plural: n[1], lookup: true}
	}
	return out
}

func attributePool() []attr {
	return []attr{
		{"status", typeText, "current lifecycle status"},
		{"amount", typeNumeric, "gross amount in the account currency"},
		{"subtotal", typeNumeric, "amount before tax and discounts"},
		{"tax_paid", typeNumeric, "tax charged"},
		{"discount_amount", typeNumeric, "total discount applied"},
		{"quantity", typeInt, "number of units"},
		{"item_count", typeInt, "number of line items"},
		{"name", typeText, "display name"},
		{"email", typeText, "contact email address, lower-cased"},
		{"country_code", typeText, "ISO 3166-1 alpha-2 country code"},
		{"currency", typeText, "ISO 4217 currency code"},
		{"channel", typeText, "acquisition or sales channel"},
		{"region", typeText, "sales region"},
		{"sku", typeText, "stock keeping unit"},
		{"external_ref", typeText, "identifier in the upstream system"},
		{"is_active", typeBool, "whether the record is currently active"},
		{"is_deleted", typeBool, "soft-delete flag from the source system"},
		{"is_test", typeBool, "whether the record was created by internal testing"},
		{"score", typeNumeric, "model score between 0 and 1"},
		{"duration_seconds", typeBigint, "duration in seconds"},
		{"event_count", typeBigint, "number of events observed"},
		{"first_seen_date", typeDate, "date the record first appeared"},
		{"valid_from", typeDate, "first day the record is valid"},
		{"closed_at", typeTimestamp, "when the record was closed"},
	}
}

func sourceSystems() []sourceSystem {
	return []sourceSystem{
		{"shop", "fivetran", "_fivetran_synced", "Transactional database of the online shop, replicated by Fivetran.", true},
		{"payments", "stitch", "_sdc_batched_at", "Payment processor exports, loaded by Stitch every 30 minutes.", true},
		{"crm", "airbyte", "_airbyte_extracted_at", "CRM objects synced by Airbyte.", true},
		{"web_events", "snowplow", "collector_tstamp", "Behavioural events collected by Snowplow.", true},
		{"erp", "fivetran", "_fivetran_synced", "ERP ledgers and master data.", true},
		{"marketing", "fivetran", "_fivetran_synced", "Ad platform spend and campaign data.", false},
		{"support", "stitch", "_sdc_batched_at", "Helpdesk tickets and satisfaction surveys.", true},
		{"logistics", "airbyte", "_airbyte_extracted_at", "Carrier and warehouse feeds.", true},
	}
}

func statusValues(e entity) []string {
	switch e.name {
	case "order", "shipment", "return", "order_item":
		return []string{"placed", "shipped", "completed", "return_pending", "returned"}
	case "payment", "invoice", "refund":
		return []string{"pending", "succeeded", "failed", "refunded"}
	case "ticket", "lead", "opportunity":
		return []string{"new", "open", "won", "lost", "closed"}
	}
	return []string{"active", "inactive", "archived"}
}

// text produces deterministic prose from small phrase pools.
type text struct{ r *rand.Rand }

func (t text) pick(s []string) string { return s[t.r.IntN(len(s))] }

func (t text) modelDescription(layerName, subject string) string {
	opening := []string{
		"One row per %s.", "This model holds one record for each %s.", "Grain: one row per %s.",
		"Each row describes a single %s.",
	}
	body := []string{
		"Built from the upstream models listed in the lineage graph and refreshed on every production run.",
		"Deleted and test records are filtered out before any joins are made.",
		"Late-arriving records are picked up by the incremental filter on the updated timestamp.",
		"Amounts are converted from cents to the reporting currency with the cents_to_dollars macro.",
		"Owned by the analytics engineering team; questions go to the #data-help channel.",
		"Timestamps are stored in UTC and truncated to the day where a date is exposed.",
		"Use this model rather than the raw sources; column names follow the project's naming conventions.",
		"Keys are surrogate keys generated from the natural keys of the source systems.",
	}
	var b strings.Builder
	b.WriteString(strings.Replace(t.pick(opening), "%s", subject, 1))
	for range 2 + t.r.IntN(3) {
		b.WriteByte(' ')
		b.WriteString(t.pick(body))
	}
	b.WriteString(" Layer: " + layerName + ".")
	return b.String()
}

func (t text) columnDescription(what, owner string) string {
	tails := []string{
		"", "", " Never null for records created after the 2021 migration.",
		" Populated by the source system; not validated upstream.",
		" Used as a join key by downstream marts.", " Nullable.", " Defaults to false when missing.",
		" See the data dictionary for allowed values.",
	}
	return "The " + what + " of the " + owner + "." + t.pick(tails)
}

func (t text) personName() string {
	first := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret", "Dennis"}
	last := []string{"Okafor", "Lindqvist", "Tanaka", "Moreau", "Kowalski", "Haddad", "Novak", "Reyes", "Fischer", "Chen", "Silva", "Byrne"}
	return t.pick(first) + " " + t.pick(last)
}
