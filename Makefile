# The two set-up commands are `make demo` and `make test` (see README.md).
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.Version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: all build test test-short demo bench bench-mqtt lint cross cross-check clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# Every test, with the race detector. Tests start their own mosquitto on a
# free port; the gateway's PostgreSQL tests run when RVM_TEST_POSTGRES is set.
test:
	$(GO) test -race -count=1 -timeout 40m ./...

test-short:
	$(GO) test -short -count=1 ./...

# The whole chain on embedded defaults: broker, drs-sim, gateway, rvmd with
# simulated customers. Ctrl-C stops everything. Built, then run directly:
# `go run` exits 1 whenever it sees an interrupt, even after a clean stop.
demo:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/rvm-demo ./cmd/rvm-demo
	$(BIN)/rvm-demo

bench: build
	$(BIN)/rvmd bench -containers 20000

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The controller for the Raspberry Pi (64-bit and 32-bit): cgo for SQLite
# through Debian's cross compilers.
cross:
	CC=aarch64-linux-gnu-gcc GOOS=linux GOARCH=arm64 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/linux-arm64/ ./cmd/rvmd
	CC=arm-linux-gnueabihf-gcc GOOS=linux GOARCH=arm GOARM=7 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/linux-armv7/ ./cmd/rvmd

# The Pi builds under qemu-user give the same bytes as amd64 for every golden scenario.
cross-check: cross
	scripts/cross-check.sh

clean:
	rm -rf $(BIN)
