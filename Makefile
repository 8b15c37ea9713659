# UnityKernel: two commands set up a fresh Debian/Ubuntu machine.
#   make run   install what is missing, then run the main job (`unity-kernel up`)
#   make test  install what is missing, then run the whole test suite
# Both are idempotent: a second run skips what is already installed.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
SYS_STAMP := .cache/system-deps.stamp
MODEL_STAMP := $(VENV)/.installed-model
PYTEST_ARGS ?=
# Environment for every ROS process started from here: the ament index lives in the venv.
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp

.PHONY: setup system-deps venv run test lint bench clean

setup: system-deps venv

system-deps: $(SYS_STAMP)

$(SYS_STAMP): scripts/install-system-deps.sh
	@bash scripts/install-system-deps.sh
	@mkdir -p $(dir $@) && touch $@

venv: $(STAMP)

$(STAMP): requirements.txt setup.py setup.cfg package.xml $(SYS_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --disable-pip-version-check -r requirements.txt
	@$(PIP) install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@
	@echo "python environment: ready in $(VENV)"

# The LLM bridge's test model server: llama-cpp-python compiles once, for a portable CPU
# level (see the script), into a wheel kept under ~/.cache/unity_kernel.
venv: $(MODEL_STAMP)

$(MODEL_STAMP): requirements-model.txt requirements-model-nodeps.txt scripts/install-model-server.sh $(STAMP)
	@bash scripts/install-model-server.sh $(PY)
	@touch $@
	@echo "model server: ready in $(VENV)"

run: setup
	$(VENV)/bin/unity-kernel up $(ARGS)

test: setup
	UNITY_KERNEL_REQUIRE_MODEL=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m pytest -m linter

bench: setup
	$(PY) bench/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) .cache build install log
