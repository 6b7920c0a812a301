# Strata — build, test, demo. `make test` is the one test command (CI runs it).
GO        ?= go
BIN       := $(CURDIR)/.bin
PROTO_SRC := pkg/storepb/types.proto pkg/storepb/rpc.proto pkg/infopb/rpc.proto pkg/metadatapb/rpc.proto

.PHONY: all build proto test test-unit test-e2e deps demo bench lint clean

all: build

build:
	$(GO) build -o $(BIN)/strata ./cmd/strata

# proto regenerates the committed StoreAPI code (needs protoc: apt-get install protobuf-compiler).
proto:
	$(GO) build -o $(BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o $(BIN)/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
	PATH=$(BIN):$$PATH protoc -I . \
		--go_out=. --go_opt=module=github.com/strata-io/strata \
		--go-grpc_out=. --go-grpc_opt=module=github.com/strata-io/strata \
		$(PROTO_SRC)
