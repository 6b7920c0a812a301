# Strata — build, test, demo. `make test` is the one test command (CI runs it).
GO        ?= go
BIN       := $(CURDIR)/.bin
# FUZZTIME is how long `make fuzz` runs each fuzz target; TEST_FUZZTIME is
# the shorter time `make test` gives each one.
FUZZTIME      ?= 10s
TEST_FUZZTIME ?= 3s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/prometheus/common/version.Version=$(VERSION) \
             -X github.com/prometheus/common/version.Revision=$(REVISION) \
             -X github.com/prometheus/common/version.Branch=main
GOLANGCI_LINT_VERSION := 2.15.0
GOLANGCI_LINT         := $(BIN)/golangci-lint
PROTO_SRC := pkg/storepb/types.proto pkg/storepb/rpc.proto pkg/infopb/rpc.proto pkg/metadatapb/rpc.proto pkg/rulespb/rpc.proto

.PHONY: all build proto test test-unit test-e2e fuzz deps demo bench bench-store bench-compact bench-receive bench-rule lint clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/strata ./cmd/strata

# proto regenerates the committed StoreAPI code (needs protoc: apt-get install protobuf-compiler).
proto:
	$(GO) build -o $(BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o $(BIN)/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(GO) build -o $(BIN)/protoc-gen-go-vtproto github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto
	PATH=$(BIN):$$PATH protoc -I . \
		--go_out=. --go_opt=module=github.com/strata-io/strata \
		--go-grpc_out=. --go-grpc_opt=module=github.com/strata-io/strata \
		--go-vtproto_out=. --go-vtproto_opt=module=github.com/strata-io/strata \
		--go-vtproto_opt=features=marshal+unmarshal+size \
		$(PROTO_SRC)

# deps builds the real third-party servers the tests start: Prometheus and
# promtool from the Prometheus module in go.mod (cached by go build),
# Alertmanager and amtool from the Alertmanager module at go.mod's version
# (scripts/build-alertmanager.sh), and the object-storage servers and
# memcached (scripts/install-test-deps.sh: versitygw for S3, fake-gcs-server
# for GCS, Azurite for Azure; idempotent).
deps: build
	$(GO) build -o $(BIN)/ github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
	GO=$(GO) ./scripts/build-alertmanager.sh
	./scripts/install-test-deps.sh

# test is the one test command (README, CI): vet, lint, unit tests with the
# race detector, every fuzz target for TEST_FUZZTIME, then end-to-end tests
# against real processes on loopback.
test: deps
	$(GO) vet -stdmethods=false ./...   # chunkenc iterators have Seek(int64), not io.Seeker
	$(MAKE) --no-print-directory lint
	$(GO) test -race -timeout 25m $$($(GO) list ./... | grep -v /test/e2e)
	FUZZTIME=$(TEST_FUZZTIME) GO=$(GO) ./scripts/fuzz.sh
	$(GO) test -timeout 20m -count=1 ./test/e2e/...

# lint runs golangci-lint with .golangci.yml, installing the pinned version
# into $(BIN) first when it is missing or another version. Parallel runners
# are allowed: two checkouts linting at once on one machine share its cache.
lint:
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -qF 'version $(GOLANGCI_LINT_VERSION) ' || \
		{ echo 'installing golangci-lint v$(GOLANGCI_LINT_VERSION) into $(BIN)'; \
		  GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_LINT_VERSION); }
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

test-unit:
	$(GO) test -race ./internal/... ./pkg/...

# fuzz runs every FuzzXxx target of the repository for FUZZTIME each, one
# after the other (scripts/fuzz.sh); FUZZ=regexp selects targets by name.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh $(FUZZ)

test-e2e: deps
	$(GO) test -timeout 20m -count=1 -v ./test/e2e/...

# demo starts two Prometheus servers as an HA pair plus a third cluster,
# their sidecars and a querier on http://127.0.0.1:10902, until Ctrl-C.
demo: deps
	./scripts/demo.sh

# bench runs the macro benchmark (Prometheus direct vs sidecar + querier).
bench: deps
	$(GO) run ./bench/cmd/querybench

# bench-store runs the store-gateway macro benchmark (store + querier vs Prometheus on the same blocks).
bench-store: deps
	$(GO) run ./bench/cmd/storebench

# bench-compact runs the compactor macro benchmark (compaction and downsampling of a generated bucket).
bench-compact: deps
	$(GO) run ./bench/cmd/compactbench

# bench-receive runs the receiver macro benchmark (strata receive vs Prometheus' remote-write receiver, same load).
bench-receive: deps
	$(GO) run ./bench/cmd/receivebench

# bench-rule runs the ruler macro benchmark (strata rule via query + sidecar vs Prometheus on the same rule file).
bench-rule: deps
	$(GO) run ./bench/cmd/rulebench

clean:
	rm -rf $(BIN)
