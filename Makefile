# safecity: `make demo` runs the platform with a simulated city; `make test` runs every test.
# Both set themselves up: virtual environment, Python packages, front-end assets.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
VENDOR := src/safecity/web/static/vendor
FONT   := $(VENDOR)/noto-sans-sc
ASSETS := $(VENDOR)/maplibre-gl-csp.js $(VENDOR)/maplibre-gl-csp-worker.js $(VENDOR)/maplibre-gl.css $(VENDOR)/htmx.min.js \
          $(FONT)/400.css $(FONT)/700.css
NAME   ?=
# Test workers: one a core, at most four (each holds its own PostgreSQL databases and browser).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: demo serve test lint bench install assets clean format

demo: install assets ## Run the whole platform with a simulated city at http://127.0.0.1:8000
	$(BIN)/safecity demo

serve: install assets ## Run the platform without the simulator
	$(BIN)/safecity serve

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@command -v java >/dev/null || echo 'note: no java on PATH; the Spark tests need Java 17+ (apt-get install openjdk-17-jre-headless)'
	@touch $(STAMP)

assets: $(ASSETS)

$(ASSETS): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cd frontend/node_modules/maplibre-gl/dist && cp maplibre-gl-csp.js maplibre-gl-csp-worker.js maplibre-gl.css LICENSE.txt ../../../../$(VENDOR)/
	cp frontend/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	@# Chinese text on any machine: Noto Sans SC, regular and bold, woff2, and only its numbered
	@# chunks (the Chinese ones: the css is cut to those, so Latin text keeps the system font); the
	@# browser fetches just the unicode-range chunks a page's text needs.
	rm -rf $(FONT) && mkdir -p $(FONT)/files
	cd frontend/node_modules/@fontsource/noto-sans-sc && for w in 400 700; do \
	  awk 'BEGIN { RS = ""; ORS = "\n\n" } /noto-sans-sc-\[[0-9]+\]/' $$w.css \
	    | sed -E "s/, url\([^)]*\.woff\) format\('woff'\)//" > ../../../../$(FONT)/$$w.css && \
	  grep -o "files/[^)]*\.woff2" ../../../../$(FONT)/$$w.css | xargs -I{} cp {} ../../../../$(FONT)/files/ || exit 1; \
	done; cp LICENSE ../../../../$(FONT)/
	@touch $(ASSETS)

# pytest exits 5 when it collects no tests: that is a failure of the suite, said plainly. The
# modules run on TEST_WORKERS processes, one module to a worker (tests/conftest.py groups them).
test: install assets ## Run the whole test suite (integration tests need PostgreSQL, Mosquitto, NATS)
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: install ## ruff, formatting, mypy and the import-layer contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install ## Run every benchmark (or one: make bench NAME=ingest); BENCH_SIZE=small for a quick run
	@if [ -n "$(NAME)" ]; then $(BIN)/python bench/$(NAME).py; \
	else for b in bench/*.py; do case $$b in */_*) continue;; esac; $(BIN)/python $$b || exit 1; done; fi

clean:
	rm -rf $(VENV) frontend/node_modules $(VENDOR) var
