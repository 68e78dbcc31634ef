# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm ci writes this file; it is newer than package-lock.json once the packages are in.
NODE_STAMP := node_modules/.package-lock.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint format migrate seed clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Front-end packages (hls.js) from the npm registry, exactly as package-lock.json pins them;
# settings.STATICFILES_DIRS serves them from node_modules (no CDN, no copied files).
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

## Bring up the portal with demo data on the embedded SQLite database, with the receiver
## emulator (127.0.0.1:9100-9102, where the demo receivers point), one signal dispatcher, the
## task engine, the demo's simulated bridges and its camera relay. Ctrl-C stops them all.
run: export DJANGO_DEBUG ?= true
# Deep links in alarm packages and the printed addresses point where this demo serves.
run: export PORTAL_BASE_URL ?= http://$(HOST):$(PORT)
run: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py run_all --addr $(HOST):$(PORT)

## Run the whole suite (DATABASE_URL picks the database; SQLite when unset).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules var staticfiles .pytest_cache .ruff_cache
