# Two commands do everything on a fresh machine:  `make run`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: setup run test test-fast bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

# the main job; pass overrides with ARGS="objective=rosenbrock optimizer=adam"
run: setup
	$(PY) -m runner $(ARGS)

# the whole suite, slow end-to-end tests included, on TEST_WORKERS processes (pytest-xdist;
# a test file stays on one worker: its module fixtures are built once, Ray's tests never
# overlap). Most tests wait on a CLI subprocess, so 2 workers halve the time on 2 cores.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -ra -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(PY) bench/bench_gradients.py
	$(PY) bench/bench_optimizers.py
	$(PY) bench/bench_runner.py
	$(PY) bench/bench_sweep.py
	$(PY) bench/bench_learning.py
	$(PY) bench/bench_report.py
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_startup.py

clean:
	rm -rf $(VENV) outputs multirun mlruns mlflow.db .pytest_cache
