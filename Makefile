# StarScope: `make demo` serves a real index of this machine's Python code; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := var/demo
HOST   ?= 127.0.0.1
PORT   ?= 8000
DEMO_MB ?= 200

.PHONY: setup demo demo-index test test-fast test-es bench scale-corpus clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The demo corpus: this venv's standard library and installed distributions as Stack-format shards.
$(DEMO)/shards/.complete: $(VENV)/.installed
	rm -rf $(DEMO)/shards
	$(BIN)/starscope ingest --python-env --max-total-mb $(DEMO_MB) --out $(DEMO)/shards
	touch $@

demo-index: $(DEMO)/shards/.complete
	$(BIN)/starscope index $(DEMO)/shards --out $(DEMO)/index --progress

# The demo model: trained once on the demo corpus (DEMO_TRAIN_S seconds), kept in var/demo/model.
DEMO_TRAIN_S ?= 180
$(DEMO)/model/config.json: | demo-index
	$(BIN)/starscope train-demo $(DEMO)/index --out $(DEMO)/model --budget-s $(DEMO_TRAIN_S)

demo: demo-index $(DEMO)/model/config.json
	$(BIN)/starscope serve $(DEMO)/index --model $(DEMO)/model --host $(HOST) --port $(PORT)

# The browser tests need Chromium: scripts/browser.sh installs Debian's when it is missing (in
# CI a missing browser then fails those tests; elsewhere they are skipped, saying why).
# lint-imports checks the import contracts of pyproject.toml (imports point down) first.
test: setup
	-scripts/browser.sh >/dev/null
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not es"

# The edit-test loop: `make test` less the tests marked slow (2 s or more, or the demo model's;
# see tests/conftest.py). `make test` and CI still run them.
test-fast: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not es and not slow"

# The same store, build, attribution and API tests on a real Elasticsearch server (started and
# stopped here unless ELASTICSEARCH_URL names one).
test-es: setup
	scripts/test-es.sh

bench: demo-index
	$(BIN)/python bench/build_throughput.py --shards $(DEMO)/shards
	$(BIN)/python bench/search_latency.py --index $(DEMO)/index --shards $(DEMO)/shards

# The scale corpus (issue 18): 2+ GB of real code as shards in var/scale/shards, from Debian
# packages pinned in the script (downloaded once into var/scale/cache) and the JDK's src.zip;
# a second run does nothing. For the attribution-at-scale benchmark only: no test depends on it.
scale-corpus: setup
	STARSCOPE=$(BIN)/starscope PYTHON=$(BIN)/python scripts/scale-corpus.sh

clean:
	rm -rf var

# A real single-node Elasticsearch on 127.0.0.1 (ES_PORT, default 9200) for development and CI.
.PHONY: es-up es-down
es-up:
	scripts/elasticsearch.sh up

es-down:
	scripts/elasticsearch.sh down
