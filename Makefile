# Oak: `make up` runs the system, `make test` builds and passes the tests. Both install what is missing.
BUILD ?= build
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Every Debian package Oak needs to build, test and run.
DEB_PACKAGES := build-essential cmake ccache pkg-config git curl ca-certificates python3 \
  libboost1.81-dev nlohmann-json3-dev libsqlite3-dev sqlite3 libpq-dev libjwt-dev libsodium-dev \
  libspdlog-dev libfmt-dev libcli11-dev libmosquitto-dev libgtest-dev libgmock-dev libbenchmark-dev \
  wrk procps mosquitto mosquitto-clients libssl-dev \
  runc skopeo umoci docker-registry busybox-static nftables iproute2

.PHONY: deps build test up bench clean

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 600

# `make up UP_ARGS="--runtime simulated --nodes 3"` passes flags on. Containers (the runc runtime,
# the default) need root, so the supervisor then runs under sudo.
UP_ARGS ?=
up: build
	$(if $(findstring simulated,$(UP_ARGS)),,$(SUDO)) $(BUILD)/oak up $(UP_ARGS)

bench: build
	bash bench/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)
