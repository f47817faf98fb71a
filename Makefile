# groundflare: `make dev` runs the example stack, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := examples/controlplane/wrangler.toml

.PHONY: setup dev test lint format bench clean

setup: $(STAMP)
	@$(BIN)/groundflare tools install >/dev/null

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

dev: setup
	$(BIN)/groundflare dev -c $(EXAMPLE) --data-dir .data/dev

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	@test bench/node_modules/.installed -nt bench/package.json || \
		{ npm install --no-audit --no-fund --prefix bench && touch bench/node_modules/.installed; }
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .workerd .data bench/node_modules
