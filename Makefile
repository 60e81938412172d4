# The two commands a newcomer needs (see README):
#   make run    start the live tracker (dashboard on http://<this machine>:8000)
#   make test   run the test suite
.PHONY: run test setup setup-dev eval bench clean

VENV ?= .venv
PY = $(VENV)/bin/python
ARGS ?=

setup:
	bash scripts/bootstrap.sh

setup-dev:
	bash scripts/bootstrap.sh --dev

run: setup
	$(VENV)/bin/talktime run $(ARGS)

# Three test processes (pytest-xdist): most of the suite's time is real-time audio, subprocesses
# and a browser waiting, so even 2 cores keep three busy. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3

test: setup-dev
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(ARGS)

eval: setup
	$(PY) scripts/evaluate.py ../shared/eval/dev --mode live
	$(PY) scripts/evaluate.py ../shared/eval/dev --mode final

clean:
	rm -rf $(VENV) build *.egg-info
