# The user's entry point: `make demo` runs the stack, `make test` runs every test, `make bench` measures.
SHELL := /bin/bash
.DEFAULT_GOAL := build

GATEWAYS ?= 1
WORKERS ?= 1
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
VENV := $(BUILD_DIR)/venv
JOBS ?= $(shell nproc)

APT_PACKAGES := build-essential cmake pkg-config librdkafka-dev libmicrohttpd-dev libjansson-dev \
	libhiredis-dev libcmocka-dev libcurl4-openssl-dev libssl-dev libjwt-dev libgnutls28-dev redis-server python3-venv
# iproute2 and procps (ip, sysctl): the network-fault tests' namespaces and veth links;
# redis-sentinel: the Sentinel failover tests; prometheus: promtool (the alert rules' checks and every
# component's /actuator/prometheus) and the server make dashboard-snapshot scrapes with; clang and
# libclang-rt-14-dev (libFuzzer and the sanitizers' runtimes for -fsanitize=fuzzer, which clang only
# recommends): the fuzz suite.
FUZZ_APT_PACKAGES := clang libclang-rt-14-dev
APT_TEST_PACKAGES := chromium default-jre-headless maven nodejs npm iproute2 procps redis-sentinel \
	prometheus openssl $(FUZZ_APT_PACKAGES)

# Installs the system packages that are missing (needs root, as on a fresh Debian 12). The check
# runs again only when the package list changes or the stamp is gone (make clean).
DEPS_STAMP := $(BUILD_DIR)/.packages-ok
.PHONY: deps deps-test
deps: $(DEPS_STAMP)

$(DEPS_STAMP): Makefile scripts/ensure-packages.sh
	@scripts/ensure-packages.sh $(APT_PACKAGES)
	@mkdir -p $(dir $@) && touch $@

deps-test: deps tools
	@scripts/ensure-packages.sh --test $(APT_TEST_PACKAGES)
	@test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	@cmp -s tests/requirements.txt $(VENV)/.requirements || \
	  ($(VENV)/bin/pip install -q -r tests/requirements.txt && cp tests/requirements.txt $(VENV)/.requirements)
	@test -d tests/kafka/libs || mvn -q -B -f tests/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/tests/kafka/libs
	@test -d web/node_modules/playwright-core || (cd web && npm install --no-audit --no-fund --silent)
	@test -x helm/tools/node_modules/.bin/readme-generator || (cd helm/tools && npm ci --no-audit --no-fund --silent)

# Regenerates the parameter table of helm/aggregator/README.md from the @param comments of values.yaml.
.PHONY: chart-readme
chart-readme: deps-test
	@cd helm/tools && npx readme-generator --values ../aggregator/values.yaml --readme ../aggregator/README.md

# Tools of the deployment tests, in $(TOOLS_DIR) (absolute: GOBIN needs it). Go comes with the
# machine (go1.26, GOTOOLCHAIN=local); Debian 12's golang-go is too old for these modules.
TOOLS_DIR := $(abspath $(BUILD_DIR))/tools
HELM_VERSION := v3.22.0
# Toxiproxy's server (the network-fault tests: latency, stalls, resets), installed as
# $(TOOLS_DIR)/toxiproxy/server; its -version prints "git", so the module version is checked.
TOXIPROXY_VERSION := v2.12.0
# What helm's own release build sets (its Makefile): the version, and the Kubernetes version that helm template and
# lint assume, from its client-go (v0.37 for helm v3.22.0); without them helm assumes Kubernetes 1.20.
HELM_KUBE_MINOR := 37
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach pkg,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(pkg).k8sVersionMajor=1 -X helm.sh/helm/v3/$(pkg).k8sVersionMinor=$(HELM_KUBE_MINOR))
MANIFESTCHECK_SOURCES := $(wildcard tools/manifestcheck/*.go tools/manifestcheck/crds/*.yaml) \
	tools/manifestcheck/go.mod tools/manifestcheck/go.sum

.PHONY: tools
tools: $(TOOLS_DIR)/manifestcheck
	@test "$$($(TOOLS_DIR)/helm version --template '{{.Version}}' 2>/dev/null)" = $(HELM_VERSION) \
		|| GOBIN=$(TOOLS_DIR) go install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@go version -m $(TOOLS_DIR)/toxiproxy/server 2>/dev/null | grep -q 'mod.*toxiproxy/v2.*$(TOXIPROXY_VERSION)' \
		|| GOBIN=$(TOOLS_DIR)/toxiproxy go install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION)

$(TOOLS_DIR)/manifestcheck: $(MANIFESTCHECK_SOURCES)
	@command -v go >/dev/null || { echo "make: go (1.26 or newer) is needed to build $@" >&2; exit 1; }
	cd tools/manifestcheck && go build -o $@ .

.PHONY: build build-asan build-fuzz
build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGG_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_DIR) -j$(JOBS)

# The libFuzzer harnesses (tests/fuzz/fuzz_<name>.c), built by clang with coverage, ASan and UBSan.
build-fuzz: deps
	@scripts/ensure-packages.sh --test $(FUZZ_APT_PACKAGES)
	CC=clang cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGG_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_DIR) --target fuzz -j$(JOBS)

# Runs the whole stack in the foreground; Ctrl-C stops everything it started.
.PHONY: demo
demo: build
	python3 demo/stack.py --build-dir $(BUILD_DIR) --kafka $(if $(KAFKA_BROKERS),$(KAFKA_BROKERS),mock) \
		--gateways $(GATEWAYS) --workers $(WORKERS) --web

.PHONY: test test-unit test-fuzz test-deploy test-observability test-images test-integration test-chaos test-e2e
test: deps-test build-asan build-fuzz
	@AGG_TOOLS_DIR=$(TOOLS_DIR) AGG_IMAGES_BUILD_DIR=$(BUILD_DIR) AGG_FUZZ_BUILD_DIR=$(FUZZ_DIR) \
		scripts/run-tests.sh $(ASAN_DIR) $(VENV)

test-unit: build-asan
	@scripts/run-tests.sh --only unit $(ASAN_DIR) $(VENV)

# What make test runs of the fuzzers: every seed replayed, then FUZZ_TEST_SECONDS (8) per harness.
test-fuzz: build-fuzz
	@AGG_FUZZ_BUILD_DIR=$(FUZZ_DIR) scripts/run-tests.sh --only fuzz $(ASAN_DIR) $(VENV)

test-deploy: deps-test build-asan
	@AGG_TOOLS_DIR=$(TOOLS_DIR) scripts/run-tests.sh --only deploy $(ASAN_DIR) $(VENV)

test-observability: deps-test build-asan
	@scripts/run-tests.sh --only observability $(ASAN_DIR) $(VENV)

# make images, make images-check and make images-smoke in one: what make test runs of them.
test-images: deps-test
	@AGG_IMAGES_BUILD_DIR=$(BUILD_DIR) scripts/run-tests.sh --only images $(ASAN_DIR) $(VENV)

test-integration: deps-test build-asan
	@AGG_TOOLS_DIR=$(TOOLS_DIR) scripts/run-tests.sh --only integration $(ASAN_DIR) $(VENV)

test-chaos: deps-test build-asan
	@scripts/run-tests.sh --only chaos $(ASAN_DIR) $(VENV)

test-e2e: deps-test build-asan
	@scripts/run-tests.sh --only e2e $(ASAN_DIR) $(VENV)

# The chaos test's long form (make test runs 60 s at 10 sessions/s): 10 minutes at 50 sessions/s,
# on the sanitized build (a kill -9 and a restart exercise the reconnect and recovery paths, where
# a memory error would hide). CHAOS_SEED=<n> replays a schedule.
CHAOS_DURATION_S ?= 600
CHAOS_RATE ?= 50
.PHONY: chaos
chaos: deps-test build-asan
	@CHAOS_DURATION_S=$(CHAOS_DURATION_S) CHAOS_RATE=$(CHAOS_RATE) scripts/run-tests.sh --only chaos $(ASAN_DIR) $(VENV)

# Each fuzz harness for FUZZ_SECONDS (60) on its own copy of its seed corpus (kept and grown in
# $(FUZZ_DIR)/fuzz-run/); executions and crashes per harness, non-zero on any crash, leak or timeout,
# whose input stays in $(FUZZ_DIR)/fuzz-crashes/<name>/. FUZZ_TARGETS=jscan,answer picks some.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: build-fuzz
	@scripts/fuzz.sh --seconds $(FUZZ_SECONDS) $(if $(FUZZ_TARGETS),--only $(FUZZ_TARGETS)) $(FUZZ_DIR)

# Builds the container images with buildah from a base made by mmdebstrap (no Docker daemon, no
# registry) and prints their sizes (also in $(BUILD_DIR)/images/sizes.txt).
.PHONY: images images-check images-smoke
images:
	@scripts/images.sh $(BUILD_DIR)

# After make images: each image's user, entrypoint, libraries, health check and version; then
# the checker's own test (it must reject wrong images).
images-check:
	@python3 tests/images/check_images.py
	@python3 tests/images/check_images.py --negative

# After make images: the scenario table against gateways, workers and resources run from the images.
images-smoke: deps-test
	@tests/images/smoke.sh $(BUILD_DIR) $(VENV)

.PHONY: clean
clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)

# docs/images/dashboard.png: the stack under a known workload for about 60 s, scraped by a private
# Prometheus, the dashboard's panels drawn headless in Chromium (not part of make test).
.PHONY: dashboard-snapshot
dashboard-snapshot: deps-test build
	@scripts/dashboard-snapshot.sh $(BUILD_DIR)

# Builds the load generator, starts the stack (real Kafka, Redis) and runs the standard profile.
.PHONY: bench
bench: deps-test build
	@scripts/bench.sh $(BUILD_DIR)
