# PayHealth's commands. The two that matter (README "The two commands"):
#   make run    install, migrate, load the demo desk, start web + worker + beat + mail sink
#   make test   install, lint, and the whole test suite (DATABASE_URL when set, else embedded)
# Only python3 (3.11 or newer) is needed on the machine; everything else goes into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# Touched after each install: pip runs again only when pyproject.toml is newer than this file.
STAMP = $(VENV)/.payhealth-installed
PORT ?= 8000
PYTEST_ARGS ?=
# The suite runs in this many processes (pytest-xdist; `auto`, the default: one per CPU; 0: this
# process alone). Each has a test database of its own; a test file's tests stay in one process.
TEST_WORKERS ?= auto
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile

export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: run test test-fast lint format install stop clean screenshots messages

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runstack --port $(PORT)

test: lint
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The suite without the tests that start real processes (worker, browser, embedded server):
# for the edit-test loop; `make test` stays the gate.
test-fast: lint
	$(BIN)/pytest -m "not slow" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "PayHealth needs Python 3.11 or newer as '$(PYTHON)'; run e.g. make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; }
	@if [ ! -x $(BIN)/python ]; then \
		echo "Creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
			echo "Could not create $(VENV); on Debian or Ubuntu: apt-get install python3-venv"; exit 1; }; \
	fi
	@echo "Installing PayHealth and its dependencies into $(VENV) (the first time takes a minute or two)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Stops the embedded PostgreSQL of PAYHEALTH_VAR_DIR (default var/); nothing when none runs.
stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m payhealth.embedded stop; fi

clean:
	@if [ -x $(BIN)/python ]; then PAYHEALTH_VAR_DIR="$(CURDIR)/var" $(BIN)/python -m payhealth.embedded stop; fi
	rm -rf var

# Browser journeys, then their screenshots into docs/ for the README.
screenshots: $(STAMP)
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)
	mkdir -p docs/screenshots
	cp test-output/screenshots/*.png docs/screenshots/

# The compiled catalogue is committed, so only translators need gettext.
messages: $(STAMP)
	@command -v msgfmt >/dev/null 2>&1 || { \
		echo "Compiling translations needs gettext's msgfmt: apt-get install gettext (Debian, Ubuntu) or brew install gettext"; \
		exit 1; }
	$(BIN)/python manage.py compilemessages --ignore '$(VENV)' --ignore var
