# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/harmony-matrix demo

# The integration tests spend most of their time in Synapse, so they run on up to 4 workers
# (each with its own Synapse); worksteal keeps the long tests from piling up on one worker.
# PYTEST_ARGS narrows the run, e.g.  make test PYTEST_ARGS=tests/unit
PYTEST_PARALLEL := --numprocesses=4 --dist=worksteal
PYTEST_ARGS ?=
# The tests' Synapses and bots keep their SQLite files in pytest's temporary directories: in memory
# (/dev/shm) where the machine has it, as every commit there is an fsync otherwise.
TEST_TMPDIR := $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})

test: $(BIN)/.installed
	TMPDIR=$(TEST_TMPDIR) $(BIN)/pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) demo-data .pytest_cache
