# groundflare: `make dev` runs the example stack, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SQLITE_STAMP := $(VENV)/.sqlite-apsw
EXAMPLE := examples/controlplane/wrangler.toml

.PHONY: browser-host setup dev test test-clients lint format bench clean vm-host vm-image dist bundle

setup: $(STAMP) $(SQLITE_STAMP)
	@$(BIN)/groundflare tools install >/dev/null

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# apsw over the SQLite D1 runs (workerd's compile options, D1's rows read/written meter), built
# once from Debian's sources and cached in the git-ignored .cache/sqlite/ (docs/d1.md).
$(SQLITE_STAMP): $(STAMP) scripts/sqlite/build-apsw.sh scripts/sqlite/d1-rows-metered.patch
	@sh scripts/sqlite/build-apsw.sh $(BIN)/python
	@touch $@

dev: setup
	$(BIN)/groundflare dev -c $(EXAMPLE) --data-dir .data/dev

# The suite, then the example's own tests through the pytest plugin (docs/testing.md).
test: lint vm-host browser-host test-clients
	$(BIN)/pytest
	$(BIN)/pytest examples/controlplane

# The real clients the v4 API tests drive: wrangler from npm into tests/clients (the
# `cloudflare` SDK and boto3 are dev dependencies). For tests only; never at runtime.
test-clients:
	@test tests/clients/node_modules/.installed -nt tests/clients/package.json || \
		{ npm install --no-audit --no-fund --prefix tests/clients && \
		  touch tests/clients/node_modules/.installed; }

# ruff, the type checker, and the layers (import-linter: contracts <- workerd_config <- shim, vm
# <- groundflare; a wrong arrow fails here).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `make bench BENCH_ARGS="--only kv --only r2"` runs some sections (python -m bench --help).
bench: setup vm-host test-clients
	@test bench/node_modules/.installed -nt bench/package.json || \
		{ npm install --no-audit --no-fund --prefix bench && touch bench/node_modules/.installed; }
	$(BIN)/python -m bench $(BENCH_ARGS)

# Debian's chromium and firefox-esr for the explorer's browser tests (docs/explorer.md);
# idempotent.
browser-host:
	@sh scripts/browser-host.sh

# The microVM's host packages (qemu-system-x86, busybox-static, socat, gcc, ...) via apt, and
# the unprivileged user QEMU runs as under root; idempotent (docs/vm.md).
vm-host:
	@sh scripts/vm-host-packages.sh

# The guest image with the reference sandbox, in the user cache dir (~/.cache/groundflare/vm).
vm-image: setup vm-host
	$(BIN)/groundflare vm build

# The distribution: an sdist and a wheel in dist/ (`pip install dist/groundflare-*.whl`).
dist: setup
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# The sidecar bundle for this OS and architecture (docs/desktop.md); `make bundle
# BUNDLE_ARGS=--with-vm` ships the VM image too.
BUNDLE_OUT ?= dist/bundle
bundle: setup
	rm -rf $(BUNDLE_OUT)
	$(BIN)/groundflare bundle --out $(BUNDLE_OUT) $(BUNDLE_ARGS)

clean:
	rm -rf $(VENV) .workerd .data bench/node_modules tests/clients/node_modules
