# The two commands of the Quick start. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint venv clean system-deps

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,lab]'
	touch $@

venv: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/curfew demo

lint: $(BIN)/.installed
	$(BIN)/ruff check controller drivers policies api lab tests
	$(BIN)/lint-imports

# Debian packages the tests need: the real-packet lab (network namespaces, nftables, ping), a
# PostgreSQL server (the tests start their own on a loopback port; Debian keeps its binaries
# off PATH), and for the console Pango (WeasyPrint's PDF), fonts with Latin and Chinese glyphs,
# Chromium (its browser tests, driven by Playwright: never `playwright install`), and FreeRADIUS
# (the lab's RADIUS server for subscriber lines; the tests start their own). Installed
# only where we are root and they are missing; tests that need them skip, saying why, elsewhere.
SYSTEM_TOOLS := nft:nftables ip:iproute2 ping:iputils-ping chromium:chromium freeradius:freeradius
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-wqy-microhei
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	for package in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	elif [ -n "$$missing" ]; then echo "not installing$$missing (not root or no apt-get)"; fi

test: lint system-deps
	$(BIN)/python -m pytest -q -n 2 --durations=20

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
