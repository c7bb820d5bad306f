# Atlas: `make demo` and `make test` are all a fresh clone needs.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PACKAGES := atlas_core atlas_engine atlas_resources atlas_assets atlas_cli atlas_api atlas_bot
MYPY_TARGETS := $(PACKAGES) tools

.PHONY: install chromium demo test lint up lock samples clean audit audit-offline

GAZETTEERS := $(VENV)/share/atlas/gazetteers.json

# `install` also writes the bytecode of the project's own packages (installed editable, so pip does not):
# where PYTHONDONTWRITEBYTECODE is set, as in this CI and many images, every `atlas` process would
# otherwise compile them again (0.2-0.5 s per start). compileall skips files that are up to date.

install: $(STAMP) $(GAZETTEERS)
	@$(BIN)/python -m compileall -q $(PACKAGES)

# Headless Chromium for the dashboard browser test (Debian package; Playwright drives it, never downloads one).
chromium:
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

# The free-text detectors' place and name lists, built once per environment (atlas_resources/gazetteer_cache.py).
$(GAZETTEERS): $(STAMP) atlas_core/pii/gazetteers.py
	$(BIN)/python -m atlas_resources.gazetteer_cache

demo: install
	$(BIN)/atlas demo

test: install chromium lint
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_TARGETS)
	$(BIN)/lint-imports

up: install
	$(BIN)/atlas up

# Known vulnerabilities of the locked dependencies (needs PyPI's JSON API; --strict: a package that could
# not be audited is a failure, never a silent pass). Findings and decisions: docs/security-audit.md.
audit: install
	$(BIN)/pip-audit -r requirements.lock --no-deps --disable-pip -s pypi --strict

# Without those services: the lock against a checkout of github.com/pypa/advisory-database.
audit-offline: install
	@test -n "$(ADVISORY_DB)" || { echo "error: set ADVISORY_DB to a checkout of pypa/advisory-database" >&2; exit 2; }
	$(BIN)/python tools/audit_advisories.py --db "$(ADVISORY_DB)" --lock requirements.lock

# Regenerate the lock file from the current environment after changing a pin in pyproject.toml.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock

# Regenerate the bundled sample data (deterministic: the files do not change).
samples: install
	$(BIN)/atlas generate --dataset customers --out data/samples/customers.csv
	$(BIN)/atlas generate --dataset products --out data/samples/products.csv
	$(BIN)/atlas generate --dataset orders --out data/samples/orders.csv

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
