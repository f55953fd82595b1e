# dbt Cloud harvester. Every target works on a fresh machine with Go and nothing else.
SHELL := /bin/bash
GO ?= go
MODULES = $(shell $(GO) list -m -f '{{.Dir}}')
BIN := bin
FUZZTIME ?= 10s

.PHONY: all build demo run test bench fuzz lint vet fmt clean

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

## bench: the normalizer against plain encoding/json on generated projects (figures, not pass/fail).
bench:
	cd services && $(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./internal/normalize/ ./internal/gen/

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	@set -e; cd services; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

vet:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

fmt:
	gofmt -w events services

lint: vet
	@test -z "$$(gofmt -l events services)" || (gofmt -l events services; echo "gofmt: files above need formatting"; exit 1)

clean:
	rm -rf $(BIN) demo
