# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format setup migrate static clean browser axe bench-web bench-queue bench-purge bench-scale

setup: $(STAMP)

# insightface declares the CPU `onnxruntime`; the product uses `onnxruntime-gpu`
# (which also runs on the CPU), and the two must never be installed side by side,
# so insightface goes in without its declared dependencies (the worker extra lists
# the ones it really needs).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[worker,dev]'
	$(PY) -m pip install --quiet --no-deps insightface==2.1
	$(PY) -c "import importlib.metadata as m, sys; m.distribution('onnxruntime')" 2>/dev/null \
		&& { echo "both onnxruntime and onnxruntime-gpu are installed; remove onnxruntime" >&2; exit 1; } || true
	touch $(STAMP)

# var/ holds the development database, private media and the model sets.
migrate: $(STAMP)
	mkdir -p var/media var/models
	$(PY) manage.py migrate --noinput

static: $(STAMP)
	$(PY) manage.py collectstatic --noinput --verbosity 0

run: migrate static
	HOST=$(HOST) PORT=$(PORT) bin/run-studio

test: $(STAMP) browser axe
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser tests (tests/e2e, marker `browser`) drive Debian's chromium; Playwright's
# own browser download cannot work offline. Installed when missing and we are root;
# tolerant of failure: without it those tests skip.
browser:
	@test -x /usr/bin/chromium || { test "$$(id -u)" = 0 && \
		{ apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
		echo "chromium is not installed: the browser tests will be skipped" >&2

# axe-core, which the browser walks run in each page (tests/e2e/a11y.py), from npm into
# the git-ignored var/axe; tolerant of failure like chromium: without it they skip.
AXE_VERSION = 4.14.1
axe:
	@test -f var/axe/node_modules/axe-core/axe.min.js || \
		npm install --prefix var/axe --no-save --no-audit --no-fund axe-core@$(AXE_VERSION) >/dev/null 2>&1 || \
		echo "axe-core is not installed: the accessibility checks will be skipped" >&2

# The web tier under load (gunicorn on PostgreSQL, wrk from apt as the load generator).
bench-web: $(STAMP)
	@command -v wrk >/dev/null || { test "$$(id -u)" = 0 && \
		{ apt-get install -y -q wrk >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1; }; }; } || true
	$(PY) -m bench.web $(BENCH_ARGS)

# Queue latency (order placed -> GPU worker start), ORM broker and Redis broker.
bench-queue: $(STAMP)
	$(PY) -m bench.queue $(BENCH_ARGS)

# One purge run over 100,000 expired selfies on PostgreSQL: local files, then a moto S3 server.
bench-purge: $(STAMP)
	$(PY) -m bench.purge $(BENCH_ARGS)

# GPU workers scaling out (1, 2, 4, 8 processes, simulated GPU) on PostgreSQL and Redis.
bench-scale: $(STAMP)
	$(PY) -m bench.scale $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
