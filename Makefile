# The two set-up commands are `make demo` and `make test` (see README.md).
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Debian versions must start with a digit: 0.1.<commits>.
DEBVERSION ?= 0.1.$(shell git rev-list --count HEAD 2>/dev/null || echo 0)
LDFLAGS := -X main.Version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: all build test test-short demo bench bench-mqtt lint cross cross-check deb clean

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
# Needs Debian's gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf,
# libc6-dev-arm64-cross and libc6-dev-armhf-cross (.ci/run installs them).
PI_CMDS := ./cmd/rvmd ./cmd/rvmctl
cross:
	CC=aarch64-linux-gnu-gcc GOOS=linux GOARCH=arm64 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/linux-arm64/ $(PI_CMDS)
	CC=arm-linux-gnueabihf-gcc GOOS=linux GOARCH=arm GOARM=7 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/linux-armv7/ $(PI_CMDS)

# The Pi builds under qemu-user give the same bytes as amd64 for every golden scenario.
cross-check: cross
	scripts/cross-check.sh

# Debian packages for the Pi: dist/rvmd_VERSION_ARCH.deb for arm64 and armhf,
# built by nfpm run as a Go tool (go.mod's tool directive).
deb: cross
	mkdir -p dist
	rm -rf $(BIN)/pkg && cp -r $(BIN)/linux-arm64 $(BIN)/pkg
	ARCH=arm64 VERSION=$(DEBVERSION) $(GO) tool nfpm package -f deploy/deb/nfpm.yaml -p deb -t dist/rvmd_$(DEBVERSION)_arm64.deb
	rm -rf $(BIN)/pkg && cp -r $(BIN)/linux-armv7 $(BIN)/pkg
	ARCH=armhf VERSION=$(DEBVERSION) $(GO) tool nfpm package -f deploy/deb/nfpm.yaml -p deb -t dist/rvmd_$(DEBVERSION)_armhf.deb

clean:
	rm -rf $(BIN) dist
