# approxhil: `make demo` runs the pipeline end to end, `make test` runs the test suite.
PYTHON ?= python3
PYTEST_WORKERS ?= auto
STAMP := .make/installed

.PHONY: install demo test lint bench experiments report bitstream clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) scripts/install.sh
	@mkdir -p $(dir $@) && touch $@

demo: install
	$(PYTHON) -m approxhil demo

test: install lint
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup tests

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

bench: install
	$(PYTHON) -m bench

experiments: install
	$(PYTHON) -m approxhil experiments

report: install
	$(PYTHON) -m approxhil report

bitstream:
	$(MAKE) -C hw bitstream

clean:
	rm -rf .make build sim_build .pytest_cache
