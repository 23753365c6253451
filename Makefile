# The Makefile is the project's CI interface. Every target works on a fresh
# machine with Go (and, for `test`, Debian's packages).
export GOTOOLCHAIN := local
GO ?= go
BIN := bin

.PHONY: run cluster test test-short bench build lint docs generate fuzz clean

## run: the whole system in one process on embedded defaults (Ctrl-C stops it);
## ARGS=-isolation=process runs each function as processes of bin/function
run:
	@echo "make run: building bin/caliopen-local and bin/function (the first build takes a few minutes, later ones seconds)..."
	$(GO) build -o $(BIN)/ ./cmd/caliopen-local ./cmd/function
	@echo "make run: built; starting the system"
	$(BIN)/caliopen-local $(ARGS)

## cluster: the production topology as separate processes on this machine
## (three NATS servers, two connectors, listeners, schedulers, function
## replicas, PostgreSQL, S3); data in .cluster/ (Ctrl-C stops it)
cluster:
	bash scripts/cluster.sh $(ARGS)

## test: every test, starting the servers they need (PostgreSQL, S3)
test:
	bash scripts/test.sh

## test-short: the tests that need no server beside embedded NATS
test-short:
	$(GO) test -race -short ./...

## bench: throughput and latency against baselines measured in the same run,
## recorded in bench-results/ (ONLY="imap keys" runs some paths; PROFILE=dir
## writes a CPU profile per path)
bench:
	bash scripts/bench.sh $(ARGS)

## build: every binary into bin/
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## lint: formatting, vet, the import graph (no package imports a layer above it) and staticcheck
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/importgraph
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## docs: regenerate docs/contract.md from the contract table, and
## docs/benchmarks.md's tables from the latest result in bench-results/
docs:
	$(GO) test ./cmd/contract/ -run TestDocTable -update
	$(GO) test ./cmd/bench-record/ -run TestPage -update

## generate: write the deployment files the function registry determines
## (stack.yml's entries, the NATS users and passwords, infra/knative);
## go test ./deploy fails while one is out of date
generate:
	$(GO) run ./cmd/generate

## fuzz: run each fuzz target for a while (FUZZTIME=30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./internal/contract/

clean:
	rm -rf $(BIN) .data .cluster
