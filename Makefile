# dbt Cloud harvester. Every target works on a fresh machine with Go and nothing else.
SHELL := /bin/bash
GO ?= go
MODULES = $(shell $(GO) list -m -f '{{.Dir}}')
BIN := bin
FUZZTIME ?= 10s

.PHONY: all build demo run test chaos bench bench-large fuzz lint lint-k8s vet fmt clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./services/harvester ./services/receiver ./services/fetcher ./services/normalizer

## demo: the whole pipeline on this machine against the dbt Cloud simulator; no account, no server to install.
demo: build
	$(BIN)/harvester demo

## run: harvester serve for a real dbt Cloud account, configured by environment (see README).
run: build
	$(BIN)/harvester serve

## test: every module, with the race detector.
test:
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test -race -count=1 -timeout 12m ./...); done

## chaos: the pipeline on three real nats-server processes (deploy/nats/cluster, replicas 3), two
## receivers, fetchers and normalizers as processes and the dbt Cloud simulator, under SIGKILLs of
## NATS nodes and services, API faults and poison artifacts; asserts what the streams hold and
## prints the figures table (also in bin/chaos.txt). See README "Guarantees".
chaos:
	@mkdir -p $(BIN)
	@rm -f $(BIN)/chaos.txt
	cd services && HARVESTER_CHAOS=1 HARVESTER_CHAOS_REPORT=$(CURDIR)/$(BIN)/chaos.txt \
	  $(GO) test -race -count=1 -parallel 2 -timeout 12m ./internal/chaos/
	@cat $(BIN)/chaos.txt

## bench: the normalizer against plain encoding/json decoding into a map, on generated projects of
## 1k and 10k models (and 50k, a 1 GB manifest, with HARVESTER_BENCH_LARGE=1 or make bench-large),
## each generated once per run into a temp dir; then `harvester serve` end to end (one signed webhook
## to harvest.completed, 1k models, and 20k with HARVESTER_BENCH_LARGE=1; fsync on and off; the same
## messages published raw (async), through the normalizer's publish path, and by the harvest itself,
## as ratios) and the receiver against a naive handler under a bounded load.
## Prints the tables (figures, not pass/fail).
BENCHTIME ?= 5x
E2E_BENCHTIME ?= 3x
bench:
	@cd services && set -o pipefail && { $(GO) test -run '^$$' -bench '^BenchmarkNormalize$$' -benchmem -benchtime $(BENCHTIME) \
	  -timeout 60m ./internal/gen/ && $(GO) test -run '^$$' -bench '^Benchmark(Harvest|Receiver)$$' -benchtime $(E2E_BENCHTIME) \
	  -timeout 60m ./internal/service/; } | $(GO) run ./internal/gen/benchtable

bench-large:
	HARVESTER_BENCH_LARGE=1 $(MAKE) bench BENCHTIME=3x E2E_BENCHTIME=1x

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	@set -e; for m in $(MODULES); do cd $$m; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done; done

vet:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

fmt:
	gofmt -w events services

## lint: gofmt, go vet, then golangci-lint with STYLE.md's set (.golangci.yml) in every module,
## and lint-k8s (below); golangci-lint is built once into bin/tools from the module proxy (a pinned version).
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(CURDIR)/$(BIN)/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)
lint: vet $(GOLANGCI_LINT) lint-k8s
	@test -z "$$(gofmt -l events services)" || (gofmt -l events services; echo "gofmt: files above need formatting"; exit 1)
	@set -e; for m in $(MODULES); do (cd $$m && $(GOLANGCI_LINT) run ./...); done

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)/tools
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/tools/golangci-lint $(GOLANGCI_LINT)

## lint-k8s: kubeconform (strict) validates deploy/k8s against the JSON schemas of Kubernetes
## KUBERNETES_VERSION's API, made offline from the OpenAPI document the k8s.io/kubernetes module
## ships (services/internal/deploytest/k8sschema), both fetched once through the Go module proxy
## into bin/tools; then it checks that every deliberately broken manifest in
## services/internal/deploytest/testdata/k8s-broken is rejected.
KUBECONFORM_VERSION ?= v0.8.0
KUBERNETES_VERSION ?= 1.37.2
KUBECONFORM := $(CURDIR)/$(BIN)/tools/kubeconform-$(KUBECONFORM_VERSION)
K8S_SCHEMAS := $(CURDIR)/$(BIN)/tools/k8s-schemas
K8S_SCHEMA_STAMP := $(K8S_SCHEMAS)/v$(KUBERNETES_VERSION)-standalone-strict/.complete
K8S_BROKEN := services/internal/deploytest/testdata/k8s-broken
KUBECONFORM_FLAGS = -strict -summary -kubernetes-version $(KUBERNETES_VERSION) \
  -schema-location '$(K8S_SCHEMAS)/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json' \
  -skip Kustomization -ignore-filename-pattern 'nats-values\.yaml$$'
lint-k8s: $(KUBECONFORM) $(K8S_SCHEMA_STAMP)
	$(KUBECONFORM) $(KUBECONFORM_FLAGS) deploy/k8s
	@n=0; for f in $(K8S_BROKEN)/*.yaml; do n=$$((n+1)); \
	  if $(KUBECONFORM) $(KUBECONFORM_FLAGS) $$f >/dev/null 2>&1; then \
	    echo "lint-k8s: kubeconform accepted $$f, a broken manifest: the check checks nothing"; exit 1; fi; \
	done; test $$n -gt 0 && echo "lint-k8s: kubeconform rejects each of the $$n broken manifests in $(K8S_BROKEN)"

$(KUBECONFORM):
	@mkdir -p $(BIN)/tools
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	mv $(BIN)/tools/kubeconform $(KUBECONFORM)

$(K8S_SCHEMA_STAMP): $(wildcard services/internal/deploytest/k8sschema/*.go)
	@rm -rf $(dir $(K8S_SCHEMA_STAMP)) && mkdir -p $(BIN)/tools
	cd $(BIN)/tools && GOWORK=off $(GO) mod download k8s.io/kubernetes@v$(KUBERNETES_VERSION)
	cd services && $(GO) run ./internal/deploytest/k8sschema \
	  -swagger "$$($(GO) env GOMODCACHE)/k8s.io/kubernetes@v$(KUBERNETES_VERSION)/api/openapi-spec/swagger.json" \
	  -out $(dir $(K8S_SCHEMA_STAMP))
	touch $@

clean:
	rm -rf $(BIN) demo
