# Hocba: the two commands are `make run` and `make test`; each installs what is missing first.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: install run up demo smoke stop status token audit-verify test test-unit test-integration test-e2e schemas docs lint bench-signing bench-assessment bench-outbox bench-seal bench-publishing bench-pipeline bench-lookup lookup-rebuild

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

# A token for the local stack's APIs: make -s token ROLE=teacher SCHOOL=079-TH-NBK STAFF=079-TH-NBK-GV1A
# (ROLE=school_system takes SYSTEM=<client id>; operator and auditor need nothing else).
token:
	@$(PY) -m hocba_devstack token --role "$(ROLE)" $(if $(SCHOOL),--school "$(SCHOOL)") $(if $(STAFF),--staff "$(STAFF)") $(if $(SYSTEM),--system "$(SYSTEM)")

# Walk each service's audit trail in the local stack's database: deleted, reordered or edited entries.
audit-verify:
	@$(PY) -m hocba_runtime.audit verify --mongo-uri "mongodb://127.0.0.1:$${HOCBA_PORT_DATABASE:-27017}/?directConnection=true" \
		--database hocba_records --database hocba_assessment --database hocba_signing --database hocba_publishing --database hocba_lookup

# Rebuild the local stack's lookup read model by replaying hocba.publishing.events, with the
# settings the stack runs the lookup with; the lookup may keep running (README, "lookup"). Elsewhere:
# `python -m hocba_lookup rebuild` with the service's HOCBA_LOOKUP_* environment.
lookup-rebuild: install
	@$(PY) -m hocba_devstack lookup-rebuild

# The checks first (make lint): a finding fails the tests, and so CI.
test: lint
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

# The checks CI holds the code to: ruff's rules, ruff's format, mypy strict over libs/*/src and
# services/*/src (the files of [tool.mypy] in pyproject.toml) and the import contracts. One line when
# all pass; otherwise the first check that fails says what it found, and make stops there.
LINT_PATHS := libs services tests scripts bench

lint: install
	@$(PY) -m ruff check --quiet $(LINT_PATHS)
	@$(PY) -m ruff format --check --quiet $(LINT_PATHS)
	@out=$$($(PY) -m mypy 2>&1) || { echo "$$out"; exit 1; }
	@out=$$($(PY) -m mypy libs/*/src services/*/src tests 2>&1) || { echo "$$out"; exit 1; }
	@out=$$(.venv/bin/lint-imports --no-logo 2>&1) || { echo "$$out"; exit 1; }
	@echo "lint: ruff, ruff format, mypy and the import contracts pass"

# Benchmarks (figures in bench/results/); stop the local stack first so it does not share the CPUs.
bench-signing: install
	@$(PY) bench/signing_cohort.py

bench-assessment: install
	@$(PY) bench/assessment_ingest.py

bench-outbox: install
	@$(PY) bench/outbox_relay.py

bench-seal: install
	@$(PY) bench/pdf_seal.py

bench-publishing: install
	@$(PY) bench/publishing_cohort.py

# The whole path from closed years to the lookup (signing, publishing, lookup as processes): long
# at the default 132,000 records; `.venv/bin/python bench/pipeline_cohort.py --records 2000` for a look.
bench-pipeline: install
	@$(PY) bench/pipeline_cohort.py

# The lookup under load (verifications, parents' lookups) against a bare FastAPI endpoint served the
# same way; `.venv/bin/python bench/lookup_load.py --quick` for a short check.
bench-lookup: install
	@$(PY) bench/lookup_load.py
