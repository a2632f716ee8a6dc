# Two commands matter: `make run` and `make test`. Both build .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
comma := ,
WEB_PORT ?= 8000
SANDBOX_PORT ?= 8090

# mysqlclient compiles against the MySQL/MariaDB client library. Install it when the
# headers are there, or when DATABASE_URL asks for MySQL (then a missing header is an error).
HAVE_MYSQL_HEADERS := $(shell pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null && echo yes)
WANT_MYSQL := $(if $(filter mysql%,$(DATABASE_URL)),yes,)
EXTRAS := dev$(if $(or $(HAVE_MYSQL_HEADERS),$(WANT_MYSQL)),$(comma)mysql,)
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: install run test lint format migrate demo lock clean bench bench-recovery bench-sandbox bench-overload bench-relay bench-reconcile check-deploy screenshot

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/requirements.py
	@if [ -n "$(WANT_MYSQL)" ] && [ -z "$(HAVE_MYSQL_HEADERS)" ]; then \
	  echo "DATABASE_URL is MySQL but the client headers are missing:"; \
	  echo "  apt-get install -y default-libmysqlclient-dev pkg-config"; exit 1; fi
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed (python3.11 not found)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
	  -r <($(BIN)/python scripts/requirements.py $(EXTRAS))
	@rm -f $(VENV)/.installed-*
	@touch $@

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo_data

# The embedded default: SQLite, a filesystem broker, web + worker + beat + the PG sandbox.
run: demo
	@echo
	@echo "  Demo shop    http://127.0.0.1:$(WEB_PORT)/shop/   (buyer login above)"
	@echo "  Shop API     http://127.0.0.1:$(WEB_PORT)/api/v1/products"
	@echo "  Admin        http://127.0.0.1:$(WEB_PORT)/admin/   (operator login above)"
	@echo "  Health       http://127.0.0.1:$(WEB_PORT)/healthz  http://127.0.0.1:$(WEB_PORT)/readyz"
	@echo "  Metrics      http://127.0.0.1:$(WEB_PORT)/metrics"
	@echo "  PG sandbox   http://127.0.0.1:$(SANDBOX_PORT)/toss  (control: /sandbox/faults, /sandbox/requests)"
	@echo "  Ctrl-C stops everything."
	@echo
	@rm -rf var/prometheus && mkdir -p var/prometheus  # web's /metrics sums every process's files
	PATH="$(abspath $(BIN)):$$PATH" WEB_PORT=$(WEB_PORT) SANDBOX_PORT=$(SANDBOX_PORT) \
	  PROMETHEUS_MULTIPROC_DIR=$(abspath var/prometheus) \
	  PG_SANDBOX_URL=http://127.0.0.1:$(SANDBOX_PORT) $(BIN)/honcho start -f Procfile

# Uses DATABASE_URL / REDIS_URL when set (CI: MariaDB + Redis), else SQLite + filesystem broker.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The Prometheus configuration and the alert rules' unit tests (promtool: Debian's
# `prometheus` package).
check-deploy:
	@command -v promtool >/dev/null || { echo "promtool is missing: apt-get install prometheus"; exit 1; }
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts_test.yml

# docs/payment-detail.png: a payment's admin page in headless Chromium (Debian packages:
# chromium, chromium-driver, and fonts-nanum for the Korean text).
screenshot: install
	$(BIN)/python scripts/screenshot_admin.py docs/payment-detail.png

# Checkout + confirm under PG latency, sync and async, on MariaDB and Redis with gunicorn
# and a Celery worker (bench/results/confirm.md; BENCH_ARGS="--rate 150" etc.), then
# recovery at scale (bench/results/recovery.md).
bench: bench-services
	$(BIN)/python bench/confirm_load.py $(BENCH_ARGS)
	$(BIN)/python bench/recovery_load.py

bench-recovery: bench-services
	$(BIN)/python bench/recovery_load.py $(BENCH_ARGS)

# A sale bigger than the machine: 2x and 4x its capacity, with and without admission
# control, then the invariants against the sandbox (bench/results/overload.md).
bench-overload: bench-services
	$(BIN)/python bench/overload.py --nginx --compare --refusal-cost $(BENCH_ARGS)

# The outbox relay: 10,000 bookings with 1 and 2 workers, and checkout + confirm with the
# relay running against without it (bench/results/relay.md).
bench-relay: bench-services
	$(BIN)/python bench/relay.py $(BENCH_ARGS)

# Reconciling a generated day of 100,000 NicePay records against 10,000: records per
# second, peak memory, queries per record (bench/results/reconcile.md).
bench-reconcile: bench-services
	$(BIN)/python bench/reconcile.py $(BENCH_ARGS)

.PHONY: bench-services
bench-services:
	@bash scripts/ensure_services.sh
	DATABASE_URL=mysql://root@127.0.0.1:3306/bench $(MAKE) install

# Load on the PG sandbox: throughput and held slow requests (bench/results/sandbox.md).
bench-sandbox: install
	$(BIN)/python bench/sandbox_load.py

# Re-resolve the newest versions pyproject.toml allows and pin them in constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r <($(PYTHON) scripts/requirements.py dev,mysql)
	{ head -2 constraints.txt; .lock-venv/bin/pip freeze | sort -f; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .lock-venv

clean:
	rm -rf $(VENV) var
