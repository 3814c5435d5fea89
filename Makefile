# Everything runs from the project's own .venv, the same one `pulumi up` uses (Pulumi.yaml).
# A fresh clone needs only Python 3.11+, make and git: the first target that needs the venv makes it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: plan test clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

plan: $(VENV)/.installed ## Offline plan of STACK (default dev): no Pulumi CLI, no credentials, no network
	$(PY) -m shoestring plan --stack $(STACK)

test: $(VENV)/.installed ## The whole suite: components, every stack, config errors
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
