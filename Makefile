# EduConnect-style identity provider. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export IDP_VAR_DIR ?= var

.DEFAULT_GOAL := help

##@ Usage
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the provider with its dev tools

migrate: $(STAMP) ## Apply the database migrations
	$(BIN)/idp db upgrade

revision: $(STAMP) ## New migration from model changes: make revision m="what changed"
	FLASK_APP=idp.app:create_app $(BIN)/flask db revision --autogenerate -m "$(m)"

run: $(STAMP) ## Migrate var/, load demo data if empty, serve the provider on :5000 and the demo client on :5001
	VENV=$(VENV) bash scripts/run-demo.sh

serve: $(STAMP) ## Production server (gunicorn), configured by IDP_CONFIG / IDP_*
	$(BIN)/idp serve

test: $(STAMP) ## Run the whole test suite (SQLite; PostgreSQL/Redis too when IDP_TEST_* are set)
	bash scripts/test.sh

screenshots: $(STAMP) ## PNGs of every hosted page at 375 and 1280 px under docs/screenshots/ (needs Chromium)
	$(BIN)/python scripts/screenshots.py

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .

bench: $(STAMP) ## Benchmarks (docs/performance.md); `make loadtest` for the load test
	$(BIN)/python -m bench

loadtest: $(STAMP) ## Load test against gunicorn + PostgreSQL + Redis (docs/loadtest.md)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.loadtest

.PHONY: help install migrate revision run serve test lint bench loadtest screenshots
