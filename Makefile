# The two commands a new analyst needs: `make demo` and `make test`. Both bootstrap .venv on a
# fresh machine (uv when available, pip otherwise) at the exact versions of requirements.lock
# and register the `casework` Jupyter kernel.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lab bench clean env

# Exact versions from requirements.lock first, then the package (editable, with its dev, lab and
# spark extras) on top: the ranges of pyproject.toml are satisfied by the lock, nothing is
# upgraded.
$(STAMP): pyproject.toml requirements.lock
	@if command -v uv >/dev/null 2>&1; then \
	  uv venv --python $(PYTHON) $(VENV) && uv pip install --python $(PY) -r requirements.lock \
	    && uv pip install --python $(PY) -e '.[dev,lab,spark]' ; \
	else \
	  $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip \
	    && $(PY) -m pip install -q -r requirements.lock && $(PY) -m pip install -q -e '.[dev,lab,spark]' ; \
	fi
	$(PY) -m ipykernel install --sys-prefix --name casework --display-name "casework (Python)" >/dev/null
	@touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/casework demo

# Lint first (a ruff error fails the target); pytest exits 5 when it collected nothing: that
# must fail, never pass silently.
test: $(STAMP)
	$(VENV)/bin/ruff check casework tests benchmarks
	@$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
