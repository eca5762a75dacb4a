# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint bench clean otelcol chromium stack

# The project's venv has every profile: the client, the collector extra, aden-hive and the test tools
# (`[test]` includes `[collector,hive]`), so demo, test, bench and stack all run from it.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m devtools.demo

# The suite runs the real OpenTelemetry Collector agent (built by `otelcol` below when missing) and
# renders the HTML report in headless Chromium (Debian's package, installed when missing).
test: $(STAMP) otelcol chromium
	$(VENV)/bin/ruff check hive_otel devtools tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report test"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check hive_otel devtools tests bench
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m bench.run_all

# The local agent (collector/agent.yaml) runs a real OpenTelemetry Collector built by ocb from
# collector/builder-config.yaml into a cache outside the repo. Skipped when a binary built from the
# same manifest is already there; the manifest copy is written last, so an interrupted build reruns.
OTELCOL_VERSION := $(shell sed -n 's/^  version: *//p' collector/builder-config.yaml)
HIVE_OTEL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hive-otel
OTELCOL_DIR     := $(HIVE_OTEL_CACHE)/otelcol-$(OTELCOL_VERSION)

otelcol:
	@if [ -x "$(OTELCOL_DIR)/otelcol-hive" ] && \
	    cmp -s collector/builder-config.yaml "$(OTELCOL_DIR)/builder-config.yaml"; then \
	  echo "otelcol-hive $(OTELCOL_VERSION) is built: $(OTELCOL_DIR)/otelcol-hive"; \
	else \
	  set -e; rm -f "$(OTELCOL_DIR)/builder-config.yaml"; mkdir -p "$(OTELCOL_DIR)"; \
	  GOBIN="$(OTELCOL_DIR)/bin" go install go.opentelemetry.io/collector/cmd/builder@v$(OTELCOL_VERSION); \
	  cd "$(OTELCOL_DIR)" && "$(OTELCOL_DIR)/bin/builder" --config "$(CURDIR)/collector/builder-config.yaml"; \
	  mv "$(OTELCOL_DIR)/src/otelcol-hive" "$(OTELCOL_DIR)/otelcol-hive"; \
	  cp "$(CURDIR)/collector/builder-config.yaml" "$(OTELCOL_DIR)/builder-config.yaml"; \
	  echo "built $(OTELCOL_DIR)/otelcol-hive"; \
	fi

# The services of deploy/docker-compose.yml as local processes on 127.0.0.1, no Docker needed: the real
# agent built above, `hive-otel collector` on the embedded store, the demo workload backfilled through
# the agent; prints usage and writes an HTML report, then stops everything (devtools/stack.py).
stack: $(STAMP) otelcol
	$(PY) -m devtools.stack

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
