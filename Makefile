# Hocba: the two commands are `make run` and `make test`; each installs what is missing first.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: install run up demo smoke stop status test test-unit test-integration test-e2e schemas docs lint bench-signing bench-assessment

install:
	@scripts/bootstrap.sh

run: install
	@$(PY) -m hocba_devstack run

up: install
	@$(PY) -m hocba_devstack up

demo: install
	@$(PY) -m hocba_devstack demo

smoke: install
	@$(PY) -m hocba_devstack smoke

stop:
	@if [ -x $(PY) ]; then $(PY) -m hocba_devstack stop; else echo "nothing was started here"; fi

status:
	@$(PY) -m hocba_devstack status

test: install
	@$(PY) -m pytest

test-unit: install
	@$(PY) -m pytest -m unit

test-integration: install
	@$(PY) -m pytest -m integration

test-e2e: install
	@$(PY) -m pytest -m e2e

# Regenerate committed artefacts after a deliberate contract change.
schemas: install
	@$(PY) scripts/gen_schemas.py

docs: install
	@$(PY) scripts/gen_asyncapi.py
	@$(PY) -m hocba_runtime.admin topics-spec > deploy/topics.yaml

lint: install
	@$(PY) -m ruff check libs services tests scripts

# Benchmarks (figures in bench/results/); stop the local stack first so it does not share the CPUs.
bench-signing: install
	@$(PY) bench/signing_cohort.py

bench-assessment: install
	@$(PY) bench/assessment_ingest.py
