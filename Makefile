# `make run`: install into .venv, migrate, serve at http://127.0.0.1:5000. `make test`: every test.
# `make widget`: rebuild the chat widget into static/aichat/ and copy the console's Chart.js into static/admin/vendor/
# (Node 20 + npm; the built and copied files are committed).
PYTHON ?= python3
BIN := .venv/bin

.PHONY: install run test bench widget

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv .venv
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: install
	scripts/services.sh
	scripts/browser.sh
	scripts/widget.sh
	scripts/nginx.sh
	scripts/systemd.sh
	scripts/test.sh

widget:
	npm ci --no-audit --no-fund
	npm run build

bench: install
	$(BIN)/python bench/bench.py
