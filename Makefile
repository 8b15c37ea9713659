# UnityKernel: two commands set up a fresh Debian/Ubuntu machine.
#   make run   install what running the kernel needs, then run it (`unity-kernel up`)
#   make test  install that plus the test tools and the LLM test model server, then run the
#              whole test suite
# Both are idempotent: a second run skips what is already installed.
#   make setup       what `make run` installs: Debian packages + .venv (requirements.txt)
#   make setup-dev   + lint/test/build tools (requirements-dev.txt) and the test packages
#   make web         the dashboard's flow editor and live plots (npm ci + esbuild: web/)
#   make setup-llm   + the local LLM model server (requirements-model*.txt; compiles
#                    llama-cpp-python once, about 6 minutes on 2 cores): docs/llm_bridge.md
#   make image       the container image (deploy/Containerfile; IMAGE=, BASE_IMAGE=,
#                    CONTAINER_ENGINE=podman|docker): docs/deploy.md
#   make test-deploy build the image with podman and run the robot's pod (`make test` leaves
#                    these out: a cold image build takes minutes)

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
MODEL_STAMP := $(VENV)/.installed-model
# checkov pins older packaging/python-dateutil than .venv: a venv of its own
CHECKOV_VENV := .cache/checkov-venv
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
SYS_STAMP := .cache/system-deps-run.stamp
SYS_TEST_STAMP := .cache/system-deps-test.stamp
# the dashboard's flow editor and live plots, bundled from web/ (docs/live_view.md)
WEB_OUT := src/unity_kernel_core/live/static/app/flow.js
PYTEST_ARGS ?=
# Environment for every ROS process started from here: the ament index lives in the venv.
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp

.PHONY: setup setup-dev setup-llm system-deps venv web run test test-asan test-deploy image lint \
	fuzz bench clean

setup: system-deps venv

setup-dev: setup $(SYS_TEST_STAMP) $(DEV_STAMP) $(CHECKOV_STAMP)

setup-llm: setup $(SYS_TEST_STAMP) $(MODEL_STAMP)

system-deps: $(SYS_STAMP)

$(SYS_STAMP): scripts/install-system-deps.sh
	@bash scripts/install-system-deps.sh run
	@mkdir -p $(dir $@) && touch $@

$(SYS_TEST_STAMP): scripts/install-system-deps.sh $(SYS_STAMP)
	@bash scripts/install-system-deps.sh test
	@mkdir -p $(dir $@) && touch $@

venv: $(STAMP)

# the native extension (src/unity_kernel_core/native) is built by the editable install: a
# changed C source rebuilds it
NATIVE_SRC := $(wildcard src/unity_kernel_core/native/csrc/*)
$(STAMP): requirements.txt setup.py setup.cfg package.xml $(SYS_STAMP) $(NATIVE_SRC)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -r requirements.txt
	@$(PIP) install --no-deps --no-build-isolation -e .
	@touch $@
	@echo "python environment: ready in $(VENV)"

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	@$(PIP) install -r requirements-dev.txt
	@touch $@
	@echo "lint and test tools: ready in $(VENV)"

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip -q --disable-pip-version-check install -r requirements-checkov.txt
	@touch $@
	@echo "checkov: ready in $(CHECKOV_VENV)"

# The LLM bridge's test model server: llama-cpp-python compiles once, for a portable CPU
# level (see the script), into a wheel kept under ~/.cache/unity_kernel.
$(MODEL_STAMP): requirements-model.txt requirements-model-nodeps.txt scripts/install-model-server.sh $(STAMP) $(SYS_TEST_STAMP)
	@bash scripts/install-model-server.sh $(PY)
	@touch $@
	@echo "model server: ready in $(VENV)"

# npm ci from the lockfile, then one esbuild call (seconds on a warm npm cache)
web: $(WEB_OUT)

$(WEB_OUT): web/package.json web/package-lock.json web/build.mjs $(wildcard web/src/*) $(SYS_STAMP)
	@bash scripts/build-web.sh

run: setup web
	$(VENV)/bin/unity-kernel up $(ARGS)

test: setup-dev setup-llm web
	UNITY_KERNEL_REQUIRE_MODEL=1 $(PY) -m pytest -m "not deploy" $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-asan

# The tests of the native data path once more, its extension built with AddressSanitizer into
# a copy of src/ (.cache/asan), in the test process and every child it starts (the kernel,
# the writer process). ASan is preloaded into the uninstrumented Python (libstdc++ with it:
# the ROS libraries throw C++ exceptions); leaks are not checked (the interpreter keeps what
# it allocated at exit). `make test` runs it last.
ASAN_DIR := .cache/asan
ASAN_TESTS ?= test/unit/native test/fuzz/native test/integration/native \
	test/integration/kernel/test_bus_intake.py \
	test/integration/audit/test_writer_process.py test/integration/audit/test_mirror_no_loss.py
test-asan: setup-dev
	rm -rf $(ASAN_DIR) && mkdir -p $(ASAN_DIR) && cp -r src setup.py $(ASAN_DIR)/
	find $(ASAN_DIR) -name '*.so' -delete
	cd $(ASAN_DIR) && UNITY_KERNEL_NATIVE_SANITIZE=address $(abspath $(PY)) setup.py -q build_ext --inplace
	@ls $(ASAN_DIR)/src/unity_kernel_core/native/_core.*.so $(ASAN_DIR)/src/unity_kernel_core/native/_rcl.*.so >/dev/null
	UNITY_KERNEL_TEST_SRC=$(abspath $(ASAN_DIR))/src \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so.6)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	$(PY) -m pytest -o pythonpath=$(ASAN_DIR)/src -p no:cacheprovider $(ASAN_TESTS)

# the image built by podman from this checkout and the robot's pod under `podman kube play`
# (test/integration/deploy; as root, podman's store under ~/.cache/unity_kernel/podman)
test-deploy: setup-dev
	$(PY) -m pytest -m deploy $(PYTEST_ARGS)

image:
	IMAGE="$(IMAGE)" BASE_IMAGE="$(BASE_IMAGE)" CONTAINER_ENGINE="$(CONTAINER_ENGINE)" bash deploy/build-image.sh

lint: setup-dev
	$(PY) -m pytest -m linter

# the fuzz targets (test/fuzz) with the long Hypothesis budget (no per-test timeout: a target
# takes minutes); `make test` runs them with the short one
fuzz: setup-dev
	UNITY_FUZZ=long $(PY) -m pytest -m fuzz --timeout=0 $(PYTEST_ARGS)

bench: setup-dev
	$(PY) bench/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) .cache build install log web/node_modules src/unity_kernel_core/live/static/app
