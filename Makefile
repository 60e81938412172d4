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

test: setup-dev
	$(PY) -m pytest -q $(ARGS)

eval: setup
	$(PY) scripts/evaluate.py ../shared/eval/dev --mode live
	$(PY) scripts/evaluate.py ../shared/eval/dev --mode final

clean:
	rm -rf $(VENV) build *.egg-info
