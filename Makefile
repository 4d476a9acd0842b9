# vault-plugin-auth-entropy: see README.md. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := build

GO       ?= go
FUZZTIME ?= 30s
BIN      := $(CURDIR)/bin
GOFILES   = $(shell git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null)

.PHONY: build vault fmt fmtcheck vet unit-test integration-test test fuzz vectors demo clean

## build: the plugin and the vault-entropy CLI into ./bin
build:
	@scripts/build-plugin.sh $(BIN) >/dev/null && ls $(BIN)

## vault: build (or find cached) the pinned Vault server; prints its path
vault:
	@scripts/build-vault.sh

## fmt: gofmt every Go file
fmt:
	gofmt -w $(GOFILES)

## fmtcheck: fail if gofmt would change a file
fmtcheck:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## vet: go vet every package
vet:
	$(GO) vet ./...

## unit-test: unit tests with the race detector (no Vault process)
unit-test:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /testing/)

## integration-test: end-to-end tests against a real Vault (built once, cached)
integration-test:
	@vault=$$(scripts/build-vault.sh) && \
	  ENTROPY_INTEGRATION=1 VAULT_BIN=$$vault $(GO) test -count=1 -timeout 30m -p 1 -v ./testing/...

## test: everything CI checks: format, vet, unit tests, end-to-end tests
test: fmtcheck vet unit-test integration-test

## fuzz: each fuzz target of the wire protocol for FUZZTIME (default 30s)
fuzz:
	@for f in $$($(GO) test -list '^Fuzz' ./backend/protocol | grep '^Fuzz'); do \
	  echo "== $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./backend/protocol || exit 1; \
	done

## vectors: regenerate the protocol test vectors in docs/vectors
vectors:
	$(GO) test ./backend/protocol -run '^TestGenerateVectors$$' -generate
	$(GO) test ./backend/protocol -run '^TestVectors$$'

## demo: a dev Vault with the plugin mounted and a demo client logging in
demo:
	@scripts/demo.sh

## clean: remove ./bin (never the Vault cache)
clean:
	rm -rf $(BIN)
