# The two commands a user needs: `make test` and `make studio`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The stamp changes whenever the dependency list does, so a second run reuses the venv.
STAMP := $(VENV)/.installed

.PHONY: test studio bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

studio: $(STAMP)
	$(VENV)/bin/burststudio

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
