# vault-plugin-auth-entropy: see README.md. `make test` is what CI runs
# (.ci/run); `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
FUZZTIME ?= 10m
BIN      := $(CURDIR)/bin
# Every Go file of the repository (the wrapper module in scripts/vault-build
# too), without testdata; find(1) when this is not a git checkout.
GOFILES   = $(wildcard $(shell { git ls-files --cached --others --exclude-standard -- '*.go' 2>/dev/null || \
              find . -name '*.go' -not -path './.git/*'; } | grep -v '/testdata/'))

LOADFLAGS ?=
SOAKTIME  ?= 10m
PERFDIR   := docs/performance

# The pinned Vault and MinIO builds' paths: the build scripts run on first
# use (a target that needs neither builds neither) and once per make run;
# a failed build stops make. `make VAULT_BIN=...` names another binary.
pinned    = $(shell scripts/$(1))$(if $(filter-out 0,$(.SHELLSTATUS)),$(error scripts/$(1) failed))
VAULT_BIN = $(eval VAULT_BIN := $(call pinned,build-vault.sh))$(VAULT_BIN)
MINIO_BIN = $(eval MINIO_BIN := $(call pinned,build-minio.sh))$(MINIO_BIN)

.PHONY: help build release reproducible-check cross-vet vault minio fmt fmtcheck vet unit-test integration-test upgrade-test test fuzz fuzz-short bench vulncheck vectors demo clean load soak failover crash

## help: list the targets
help:
	@sed -n 's/^## \([a-z-]*\): /  \1\t/p' $(MAKEFILE_LIST) | expand -t 20

## build: the plugin and the vault-entropy CLI into ./bin
build:
	@scripts/build-plugin.sh $(BIN) >/dev/null
	@ls -l $(BIN)

## release: VERSION=vX.Y.Z (default: the VERSION file's, which it must match): binaries, SBOMs, SHA256SUMS and notes into dist/VERSION, from a clean tree
release:
	@scripts/release.sh $(VERSION)

## reproducible-check: build HEAD for linux/amd64 twice, in two directories, the second as user nobody; fail unless byte-identical (part of make test)
reproducible-check:
	@scripts/reproducible-check.sh

## cross-vet: go vet, and compile the tests of, the client and vault-entropy for windows/amd64 and windows/arm64 (part of make test)
cross-vet:
	@for arch in amd64 arm64; do \
	  echo "GOOS=windows GOARCH=$$arch $(GO) vet ./client/... ./cmd/vault-entropy/..."; \
	  GOOS=windows GOARCH=$$arch $(GO) vet ./client/... ./cmd/vault-entropy/...; \
	  for pkg in ./client ./client/awscreds ./cmd/vault-entropy; do \
	    GOOS=windows GOARCH=$$arch $(GO) test -c -o /dev/null $$pkg; \
	  done; \
	done

## vault: build the pinned Vault into the cache outside the repo (or find it there); prints its path
vault:
	@echo $(VAULT_BIN)

## minio: build the pinned MinIO (a test-only S3/STS server) into the cache outside the repo; prints its path
minio:
	@echo $(MINIO_BIN)

## fmt: gofmt every Go file
fmt:
	@gofmt -l -w $(GOFILES) </dev/null

## fmtcheck: fail, listing them, if gofmt would change any Go file
fmtcheck:
	@out=$$(gofmt -l $(GOFILES) </dev/null); \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run make fmt):"; echo "$$out"; exit 1; fi

## vet: go vet every package (of both modules: the plugin's and testing/'s)
vet:
	$(GO) vet ./...
	$(GO) -C testing vet ./...

## unit-test: unit tests with the race detector (no Vault process; the plugin's module, not testing/'s)
unit-test:
	$(GO) test -race -count=1 ./...

## integration-test: end-to-end tests in the testing/ module against a real Vault (Vault, MinIO and binaries built once)
integration-test: build
	@echo "ENTROPY_INTEGRATION=1 VAULT_BIN=$(VAULT_BIN) MINIO_BIN=$(MINIO_BIN) ENTROPY_BIN_DIR=$(BIN) $(GO) -C testing test -count=1 -timeout 30m -p 1 -v ./..."; \
	ENTROPY_INTEGRATION=1 VAULT_BIN=$(VAULT_BIN) MINIO_BIN=$(MINIO_BIN) ENTROPY_BIN_DIR=$(BIN) $(GO) -C testing test -count=1 -timeout 30m -p 1 -v ./...

## upgrade-test: the release of testing/upgrade/baseline-commit, and the schema version 1 build of testing/upgrade/schema-v1-commit, each upgraded in place to this build under a login load and downgraded to (the release serves on; the schema version 1 build refuses cleanly), both CLIs against both plugins (real Vault; part of integration-test; about a minute once the baselines are built)
upgrade-test: build
	ENTROPY_INTEGRATION=1 VAULT_BIN=$(VAULT_BIN) ENTROPY_BIN_DIR=$(BIN) $(GO) -C testing test -count=1 -p 1 -v ./upgrade/

## test: everything CI checks: fmtcheck, vet, cross-vet, unit-test, reproducible-check, fuzz-short, integration-test
test: fmtcheck vet cross-vet unit-test reproducible-check fuzz-short integration-test

## fuzz: every Fuzz target of every package for FUZZTIME each (default 10m: about 2.5 h for the 15 targets)
fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## fuzz-short: every Fuzz target for 2s (part of make test)
fuzz-short:
	@FUZZTIME=2s scripts/fuzz.sh

## bench: the server's verify path against the bare open of each suite: benchstat and verify/open (COUNT=10, about 4 min)
bench:
	@scripts/bench.sh

## vulncheck: govulncheck against a cached Go vulnerability database (fill it once: VULNDB_GIT=/path/to/golang/vulndb make vulncheck)
vulncheck:
	@scripts/vulncheck.sh

## vectors: regenerate the protocol test vectors in docs/vectors (then check them)
vectors:
	$(GO) test -count=1 ./backend/protocol -run '^TestGenerateVectors$$' -generate
	$(GO) test -count=1 ./backend/protocol -run '^TestVectors$$'

## load: entropy vs AppRole and the floor plugin, logins/s, p50/p99 (service, batch), 100k clients, rotation (vs the baseline build of testing/load/baseline-commit), garbage; writes $(PERFDIR)/load.{json,md,svg} (LOADFLAGS=-quick: short)
load: build
	@mkdir -p $(PERFDIR); \
	$(GO) -C testing build -o $(BIN)/entropy-load ./load/cmd/entropy-load; \
	$(GO) -C testing build -trimpath -o $(BIN)/vault-plugin-auth-floor ./load/cmd/vault-plugin-auth-floor; \
	baseline=$$(scripts/build-plugin-at.sh); \
	VAULT_BIN=$(VAULT_BIN) ENTROPY_BIN_DIR=$(BIN) $(BIN)/entropy-load -baseline-plugin "$$baseline" \
	  -out $(PERFDIR)/load.json -svg $(PERFDIR)/load.svg $(LOADFLAGS) | tee $(PERFDIR)/load.md

## soak: logins at saturation for SOAKTIME (default 10m) with background rotation; fails on any error; writes $(PERFDIR)/soak.{json,md}
soak: build
	@mkdir -p $(PERFDIR); \
	$(GO) -C testing build -o $(BIN)/entropy-load ./load/cmd/entropy-load; \
	VAULT_BIN=$(VAULT_BIN) ENTROPY_BIN_DIR=$(BIN) $(BIN)/entropy-load \
	  -soak $(SOAKTIME) -out $(PERFDIR)/soak.json $(LOADFLAGS) | tee $(PERFDIR)/soak.md

## failover: a 3-node raft cluster on loopback; the leader killed 5 times during a login load; reports the gaps
failover: build
	@ENTROPY_INTEGRATION=1 VAULT_BIN=$(VAULT_BIN) ENTROPY_BIN_DIR=$(BIN) ENTROPY_FAILOVER_ROUNDS=5 \
	  $(GO) -C testing test -count=1 -timeout 30m -v ./failover/

## crash: 100 rounds of SIGKILL to the client or to Vault during rotation (about 5 minutes)
crash: build
	@ENTROPY_INTEGRATION=1 VAULT_BIN=$(VAULT_BIN) ENTROPY_BIN_DIR=$(BIN) ENTROPY_CRASH_ROUNDS=100 \
	  $(GO) -C testing test -count=1 -timeout 30m -v ./crash/

## demo: Vault with the plugin at auth/entropy; a client enrolls, logs in and reads a secret
demo:
	@scripts/demo.sh

## clean: remove ./bin (never the Vault cache)
clean:
	rm -rf $(BIN)
