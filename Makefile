# The two commands of the contract: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# A second environment with whoosh-reloaded instead of whoosh3, for the conformance suite.
WR_VENV := .venv-whoosh-reloaded
WR_STAMP := $(WR_VENV)/.installed
CONFORMANCE := tests/search/test_whoosh_conformance.py

.PHONY: install install-test run test test-whoosh-reloaded lint audit bench demo-attachments clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { echo "==> Création de l'environnement virtuel $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> Installation du projet et de ses dépendances épinglées"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	@touch $(STAMP)

install-test: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP)
	@echo "==> Installation des dépendances de test"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@if command -v npm >/dev/null 2>&1; then \
		echo "==> Installation d'axe-core (tests d'accessibilité)"; \
		npm ci --silent --no-audit --no-fund || echo "   npm indisponible : les tests d'accessibilité seront ignorés"; \
	fi
	@touch $(TEST_STAMP)

run: install
	@$(BIN)/resource-centre bootstrap
	@$(BIN)/resource-centre serve

# Coverage of the package, printed and floored (measured at 82.7 % without the slow and
# browser tests). `make test COVERAGE=` runs without it (e.g. with PYTEST_ARGS=one/file.py).
COVERAGE ?= --cov=resource_centre --cov-report=term:skip-covered --cov-fail-under=80

# Static checks first: they take seconds, the suite a quarter of an hour, so a lint, format
# or type error fails at once instead of after the tests.
test: install-test
	@echo "==> Ruff (lint et format)"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@echo "==> Mypy (types de resource_centre/)"
	@$(BIN)/mypy
	@echo "==> Lancement de la suite de tests"
	@$(BIN)/python -m pytest $(COVERAGE) $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-whoosh-reloaded

# The Whoosh conformance suite against the fallback distribution (see docs/architecture.md).
$(WR_STAMP): pyproject.toml constraints.txt constraints-whoosh-reloaded.txt
	@test -x $(WR_VENV)/bin/python || $(PYTHON) -m venv $(WR_VENV)
	@echo "==> Environnement de secours avec whoosh-reloaded"
	@$(WR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@$(WR_VENV)/bin/python -m pip uninstall --quiet --yes whoosh3
	@$(WR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-whoosh-reloaded.txt whoosh-reloaded
	@touch $(WR_STAMP)

test-whoosh-reloaded: $(WR_STAMP)
	@echo "==> Conformité de Whoosh avec whoosh-reloaded"
	@RESOURCE_CENTRE_EXPECT_WHOOSH=whoosh-reloaded $(WR_VENV)/bin/python -m pytest -q -p no:cacheprovider $(CONFORMANCE)

lint: install-test
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

# Known vulnerabilities of every pin (PyPI's advisory data, through pip-audit), exactly as
# pinned (--no-deps: constraints.txt is the whole closure). --strict: a pin that could not be
# checked (service unreachable, unknown release) fails the audit instead of passing unseen.
audit: install-test
	@echo "==> Audit des vulnérabilités connues des dépendances épinglées (pip-audit)"
	@$(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off --requirement constraints.txt

bench: install
	@$(BIN)/python bench/search.py

# The demo fiches' attachments (ODT, PDF), rebuilt from tools/demo_attachments/ (standard
# library only; the same sources always give the same bytes).
demo-attachments:
	@$(PYTHON) tools/demo_attachments.py

clean:
	rm -rf $(VENV) $(WR_VENV) node_modules .pytest_cache .ruff_cache .mypy_cache .coverage
