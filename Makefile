# DropWave: the verbs. Everything installs what it needs (uv is bootstrapped with pip).
SHELL := /bin/bash
UV_VERSION := 0.13.8
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen
PACKAGES := -p dropwave_contracts -p dropwave_runtime -p dropwave_devstack \
            -p campaigns -p orders -p payments -p notifications

.PHONY: help dev demo test test-fast lint format token contracts bench bench-settlement bench-notifications sync uv clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

uv:
	@test -x "$(UV)" || { echo "bootstrapping uv $(UV_VERSION) into .tools/"; \
	  python3 -m venv .tools && .tools/bin/pip install --quiet "uv==$(UV_VERSION)"; }

sync: uv
	@$(UV) sync --frozen --quiet

dev: sync ## start the whole system (embedded, no Docker) and print its base URL
	$(RUN) python -m dropwave_devstack up

demo: sync ## start the system and play a small drop through the public API
	$(RUN) python -m dropwave_devstack up --demo

test: sync ## run every test (starts its own PostgreSQL and Kafka-protocol broker)
	$(RUN) pytest

test-fast: sync ## tests without the end-to-end ones
	$(RUN) pytest -m "not e2e"

lint: sync ## ruff (lint + format check), mypy --strict, contracts drift
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy $(PACKAGES)
	$(RUN) python -m dropwave_contracts.generate --check

format: sync ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

token: sync ## mint a dev creator token: make token CREATOR=alice [EMAIL=a@b.test]
	@$(RUN) python -m dropwave_devstack token --creator "$(or $(CREATOR),creator-1)"$(if $(EMAIL), --email "$(EMAIL)")

contracts: sync ## regenerate JSON Schema + AsyncAPI from the event models
	$(RUN) python -m dropwave_contracts.generate

bench: sync ## order-intake benchmark (starts its own stack; prints orders/s, p50/p95/p99, the hot-row ceiling)
	$(RUN) python bench/order_intake.py $(BENCH_ARGS)

bench-notifications: sync ## notifications fan-out: 10,000 buyers of one tipped campaign -> messages/s to the SMTP sink
	$(RUN) python bench/notifications_fanout.py $(BENCH_ARGS)

bench-settlement: sync ## settlement: 1,000 captures through injected faults -> captures/s as a ratio of the Stripe rate limit
	$(RUN) python bench/settlement.py $(BENCH_ARGS)

clean: ## remove local state (.dev data, caches)
	rm -rf .dev .pytest_cache .mypy_cache .ruff_cache

# promtool for tests/test_monitoring.py (alert rules): installed into .tools/ if missing.
.PHONY: promtool
promtool:
	@bash deploy/monitoring/install-promtool.sh
test test-fast: promtool
