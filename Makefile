# dbt Cloud harvester. Every target works on a fresh machine with Go and nothing else.
SHELL := /bin/bash
GO ?= go
MODULES = $(shell $(GO) list -m -f '{{.Dir}}')
BIN := bin
FUZZTIME ?= 10s

.PHONY: all build demo run test chaos bench bench-large fuzz lint vet fmt clean

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
	  $(GO) test -race -count=1 -parallel 3 -timeout 9m ./internal/chaos/
	@cat $(BIN)/chaos.txt

## bench: the normalizer against plain encoding/json decoding into a map, on generated projects of
## 1k and 10k models (and 50k, a 1 GB manifest, with HARVESTER_BENCH_LARGE=1 or make bench-large),
## each generated once per run into a temp dir; prints a table with the ratio (figures, not pass/fail).
BENCHTIME ?= 5x
bench:
	@cd services && set -o pipefail && $(GO) test -run '^$$' -bench '^BenchmarkNormalize$$' -benchmem -benchtime $(BENCHTIME) \
	  -timeout 60m ./internal/gen/ | $(GO) run ./internal/gen/benchtable

bench-large:
	HARVESTER_BENCH_LARGE=1 $(MAKE) bench BENCHTIME=3x

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

## lint: gofmt, go vet, then golangci-lint with STYLE.md's set (.golangci.yml) in every module;
## golangci-lint is built once into bin/tools from the module proxy (a pinned version).
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(CURDIR)/$(BIN)/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)
lint: vet $(GOLANGCI_LINT)
	@test -z "$$(gofmt -l events services)" || (gofmt -l events services; echo "gofmt: files above need formatting"; exit 1)
	@set -e; for m in $(MODULES); do (cd $$m && $(GOLANGCI_LINT) run ./...); done

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)/tools
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/tools/golangci-lint $(GOLANGCI_LINT)

clean:
	rm -rf $(BIN) demo
