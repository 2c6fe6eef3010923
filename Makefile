# DropWave: the verbs. Everything installs what it needs (uv is bootstrapped with pip).
SHELL := /bin/bash
UV_VERSION := 0.13.8
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen
PACKAGES := -p dropwave_contracts -p dropwave_runtime -p dropwave_devstack \
            -p campaigns -p orders -p payments -p notifications -p storefront

LIGHTHOUSE := .tools/lighthouse/node_modules/.bin/lighthouse

.PHONY: help dev demo test test-fast lint format token contracts bench bench-authorize bench-settlement bench-notifications bench-storefront bench-drop lighthouse browser backup restore-drill sync uv clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

uv:
	@test -x "$(UV)" || { echo "bootstrapping uv $(UV_VERSION) into .tools/"; \
	  python3 -m venv .tools && .tools/bin/pip install --quiet "uv==$(UV_VERSION)"; }

# --compile-bytecode: the packages' .pyc written once, at install (uv compiles only what it
# installs or changes). Without them, where PYTHONDONTWRITEBYTECODE is set (as on CI images),
# every Python process compiles fastapi, sqlalchemy, stripe... again: 9 s of CPU to start a
# service, 4 s with them; an embedded stack starts ten.
sync: uv
	@$(UV) sync --frozen --quiet --compile-bytecode

browser: ## Debian's chromium for the browser tests (apt-get, once; skipped if chromium or CHROME_PATH is there)
	@test -n "$$CHROME_PATH" || command -v chromium >/dev/null || { echo "installing Debian's chromium (browser tests)"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Lighthouse from the npm registry (tools/lighthouse's lock file), installed into .tools/.
$(LIGHTHOUSE): tools/lighthouse/package.json tools/lighthouse/package-lock.json
	@echo "installing Lighthouse into .tools/lighthouse"
	@mkdir -p .tools/lighthouse && cp tools/lighthouse/package.json tools/lighthouse/package-lock.json .tools/lighthouse/
	@npm ci --prefix .tools/lighthouse --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

dev: sync ## start the whole system (embedded, no Docker) and print its base URL; SCALE=payments=3,notifications=2 runs several instances
	$(RUN) python -m dropwave_devstack up$(if $(SCALE), --scale "$(SCALE)")

demo: sync ## start the system and play a small drop through the public API
	$(RUN) python -m dropwave_devstack up --demo$(if $(SCALE), --scale "$(SCALE)")

# Two workers: the e2e tests in order on one (one scope: see conftest.py's scheduler),
# every other module on the other, beside them. The e2e tests mostly wait on their timelines.
test: sync browser ## run every test (starts its own PostgreSQL and Kafka-protocol broker)
	$(RUN) pytest -n 2 --dist loadscope

test-fast: sync browser ## tests without the end-to-end ones
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

bench-authorize: sync ## authorizations: Stripe requests per order, authorizations/s / (rate limit / requests per order), order-to-confirmed p99 at half that rate
	$(RUN) python bench/authorize.py $(BENCH_ARGS)

bench-notifications: sync ## notifications fan-out: 10,000 buyers of one tipped campaign -> messages/s to the SMTP sink
	$(RUN) python bench/notifications_fanout.py $(BENCH_ARGS)

bench-storefront: sync ## campaign-page views/s and p99 on one drop while orders are counted (goal: 2,000/s, p99 < 50 ms)
	$(RUN) python bench/storefront_views.py $(BENCH_ARGS)

bench-settlement: sync ## settlement: 1,000 captures through injected faults -> captures/s as a ratio of the Stripe rate limit
	$(RUN) python bench/settlement.py $(BENCH_ARGS)

bench-drop: sync ## one viral drop end to end on the whole stack: each stage's throughput against its limit (quick: BENCH_ARGS="--orders 1000 --seconds 10")
	$(RUN) python bench/viral_drop.py $(BENCH_ARGS)

lighthouse: sync browser $(LIGHTHOUSE) ## Lighthouse scores of a page: make lighthouse [URL=http://127.0.0.1:...] [THRESHOLD=95]
	$(RUN) python bench/lighthouse.py $(or $(URL),--sample) $(if $(THRESHOLD),--threshold $(THRESHOLD))

backup: sync ## dump every service's database: make backup DATABASE_URL_TEMPLATE='postgresql+asyncpg://u:p@host:5432/{db}' [OUT=dir]
	$(RUN) python -m dropwave_devstack.backup dump --out $(or $(OUT),backups/$(shell date -u +%Y%m%dT%H%M%SZ))

restore-drill: sync browser ## the restore drill: a drop dumped, restored into a new server, the system started on it, the drop read back
	$(RUN) pytest tests/e2e/test_restore_drill.py -p no:cacheprovider

clean: ## remove local state (.dev data, caches)
	rm -rf .dev .pytest_cache .mypy_cache .ruff_cache

# promtool and amtool for tests/test_monitoring.py (alert rules, Alertmanager routing):
# installed into .tools/ if missing.
.PHONY: promtool
promtool:
	@bash deploy/monitoring/install-tool.sh promtool
	@bash deploy/monitoring/install-tool.sh amtool
test test-fast: promtool
