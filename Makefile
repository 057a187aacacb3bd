# The two commands of the contract: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test run test lint bench clean

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

test: install-test
	@echo "==> Lancement de la suite de tests"
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

bench: install
	@$(BIN)/python bench/search.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
