# The two commands a newcomer needs: `make up` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR):$(CURDIR)/gen
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: up test test-slow test-long screenshots install gen check-gen lint fmt typecheck breaking unit image k8s-smoke clean

## up: install what is missing (the Qwen 1.5B chat model where memory allows: tools/local_model.py),
## then start NATS, every service and Envoy on 127.0.0.1:8080
up: install
	$(PY) -m tools.local_model install
	$(PY) -m tools.mesh up

## test: install what is missing, then generated-code drift, buf, ruff, mypy and pytest
test: install check-gen lint typecheck breaking
	$(PY) -m pytest $(PYTEST_ARGS)

## test-slow: the slow tier, not part of `make test`: the Qwen 1.5B model `make up` installs
## (installed here too where memory allows; else the tests skip) translating and summarising
SLOW_TESTS := tests/services/translate/test_llm_qwen.py tests/services/meetings/test_summary_qwen.py
test-slow: install
	$(PY) -m tools.local_model install
	VOKA_SLOW_TESTS=1 $(PY) -m pytest -rs --timeout 600 $(SLOW_TESTS)

## test-long: the long tier, not part of `make test` (15-25 min on two cores): an hour-long
## meeting recording of Piper speech through the whole mesh (upload through Envoy, tiny.en,
## a map-reduce summary by SmolLM2), printing its figures
test-long: install
	VOKA_LONG_TESTS=1 $(PY) -m pytest -rs -s --timeout 3600 tests/long

## screenshots: the browser tests, saving each page into docs/screenshots (committed); in
## `make test` they go to var/screenshots, so a test run leaves the checkout as it was
screenshots: install
	VOKA_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -m browser tests/browser

install:
	@scripts/bootstrap.sh

## gen: regenerate gen/ (stubs, descriptor set, OpenAPI document) from protos/
gen: install
	$(PY) tools/protogen.py
	$(PY) -m tools.settings_doc
	@scripts/bootstrap.sh  # rebuilds the web console on the new contracts, which k8s ships
	$(PY) -m tools.k8s_gateway
	$(PY) -m tools.k8s_monitoring

check-gen: install
	$(PY) tools/protogen.py --check

lint: install
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code protos
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/buf format -w protos
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

## breaking: buf breaking against the previous main (see scripts/breaking.sh)
breaking: install
	@scripts/breaking.sh

## image: build every service's image (voka-<domain>:dev) and the kit's (voka:dev) with podman
image:
	@scripts/bootstrap.sh scripts/image-tools.txt
	$(PY) -m tools.image $(IMAGE_ARGS)

## k8s-smoke: the dev overlay of k8s/ on the built images with podman kube play, then the REST tour
k8s-smoke: image
	$(PY) -m tools.k8s_smoke

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
