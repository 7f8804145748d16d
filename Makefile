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

run: $(STAMP) ## Migrate the SQLite database under var/, load demo data if empty, serve on :5000
	$(BIN)/idp db upgrade
	$(BIN)/idp demo load --if-empty
	$(BIN)/idp run --host 127.0.0.1 --port 5000

serve: $(STAMP) ## Production server (gunicorn), configured by IDP_CONFIG / IDP_*
	$(BIN)/idp serve

test: $(STAMP) ## Run the whole test suite (SQLite; PostgreSQL/Redis too when IDP_TEST_* are set)
	bash scripts/test.sh

lint: $(STAMP) ## ruff
	$(BIN)/ruff check idp tests bench examples

bench: $(STAMP) ## Benchmarks; results written to docs/performance.md
	$(BIN)/python -m bench

.PHONY: help install migrate revision run serve test lint bench
