# otap.street: run `make help` for the targets. Every target that needs tools runs `tools` (Python,
# no Docker) or `setup` (the street's too) first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTION_LINK := .street/collections/ansible_collections/otap/street
# The built collection (`make collection`), and where `make sanity` unpacks it: ansible-test wants
# a path .../ansible_collections/otap/street and tests exactly what a user installs.
BUILD := .street/build
SANITY_ROOT := .street/sanity/ansible_collections/otap/street
# ansible-test's pip bootstrap, in its cache under the name it looks for (pip's version is the one
# ansible-core pins for its virtual environments): tools/get_pip_bundled.py, no download.
ANSIBLE_TEST_GET_PIP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
# CHANGELOG.md is written in a copy, where the pending fragments become galaxy.yml's version
# (a real release runs `antsibull-changelog release` in the checkout, which consumes them).
VERSION := $(shell sed -n 's/^version: //p' galaxy.yml)
CHANGELOG_ROOT := .street/changelog/ansible_collections/otap/street
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Also set here, not only in ansible.cfg: Molecule rewrites the collections path from the environment.
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.street/collections
# Molecule's scenarios, one per capability, in the order `make molecule` runs them on one street
# (molecule/; what they share is .config/molecule/config.yml). access reads every run's output.
SCENARIOS := street release failover sync operations access
RUN_SCENARIOS = for scenario in $(SCENARIOS); do molecule test -s "$$scenario"; done
# Where the tests keep the output of every playbook they run, for access's scan for secrets.
export OTAP_TEST_RUNS := $(CURDIR)/.street/runs
export ANSIBLE_FORCE_COLOR ?= $(if $(CI),0,1)
# The simulated street's vault has a documented demo password (README, Secrets).
export ANSIBLE_VAULT_PASSWORD_FILE ?= $(CURDIR)/street/vault-password

.PHONY: help tools setup street-up street-down site demo test lint changelog collection sanity ee unit molecule bench clean \
	street-fresh lint-sanity-ee-unit

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	@echo "setup: virtualenv with the pinned packages of requirements.txt"
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(COLLECTION_LINK):
	@echo "setup: otap.street resolvable in place ($(COLLECTION_LINK) -> this checkout)"
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

tools: $(VENV)/.installed $(COLLECTION_LINK) ## Python tools and the collection link only (lint, unit)

setup: tools ## Install what the street needs too: Docker, base image (idempotent)
	@street/controller.sh
	@echo "setup: base image $$(street/base-image.sh)"

street-up: setup ## Start the simulated street (containers dev, test, acc, prod1, prod2, store, and the hospital's server)
	ansible-playbook street/up.yml

street-down: setup ## Remove the simulated street's containers and network
	ansible-playbook street/down.yml

site: street-up ## Provision every environment of the street (playbooks/site.yml)
	ansible-playbook playbooks/site.yml

demo: site ## The street end to end: releases travel Test, Acceptance, approval, Production
	@python3 street/demo.py

lint: tools changelog ## ansible-lint (production profile); CHANGELOG.md is what changelogs/ makes
	ansible-lint
	@git diff --quiet -- CHANGELOG.md || { echo "CHANGELOG.md differs from changelogs/: commit what make changelog wrote"; exit 1; }

changelog: tools ## CHANGELOG.md from changelogs/ (antsibull-changelog): releases, and the fragments pending
	rm -rf .street/changelog
	mkdir -p $(CHANGELOG_ROOT)
	cp -r changelogs galaxy.yml meta plugins $(CHANGELOG_ROOT)
	cd $(CHANGELOG_ROOT) && export ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.street/changelog && \
	  if ls changelogs/fragments/*.yml >/dev/null 2>&1; then antsibull-changelog release --version $(VERSION); \
	  else antsibull-changelog generate; fi
	cp $(CHANGELOG_ROOT)/CHANGELOG.md CHANGELOG.md

collection: tools ## Build the collection's artifact into .street/build
	rm -rf $(BUILD)
	ansible-galaxy collection build --output-path $(BUILD) .

sanity: collection ## ansible-test sanity on the built collection, Python 3.11 (no Docker)
	rm -rf $(SANITY_ROOT)
	mkdir -p $(SANITY_ROOT)
	tar -xzf $(BUILD)/otap-street-*.tar.gz -C $(SANITY_ROOT)
	install -D -m 0644 tools/get_pip_bundled.py $(ANSIBLE_TEST_GET_PIP)
	# The content root named: ansible-test would otherwise take the checkout's git for its files.
	cd $(SANITY_ROOT) && ANSIBLE_TEST_CONTENT_ROOT=$(CURDIR)/$(SANITY_ROOT) ansible-test sanity --python 3.11 --color no

ee: collection ## The execution environment's build context in .street/ee (ansible-builder create; no image)
	rm -rf .street/ee
	ansible-builder create -f awx/execution-environment.yml --context .street/ee --output-filename Containerfile

unit: tools ## pytest for the plugins (no Docker; the release SQL's tests start a MariaDB of their own)
	@street/controller.sh unit
	pytest -q tests/unit

molecule: setup ## Molecule against one street: every scenario, from bare containers (or SCENARIO=name alone)
ifeq ($(SCENARIO),)
	$(MAKE) --no-print-directory street-fresh
	$(RUN_SCENARIOS)
else
	@street/controller.sh molecule
	molecule test -s $(SCENARIO)
endif

# Not for users (no ##): the street Molecule's scenarios share, from bare containers: `create`
# makes the containers and provisions them (scenario default's create and prepare), which every
# scenario's own run then skips.
street-fresh: setup
	@street/controller.sh molecule
	rm -rf $(OTAP_TEST_RUNS)
	molecule destroy -s default
	molecule create -s street

# The Debian packages of every layer first, one apt at a time; then the fast layers run while the
# street is built beside them (its output follows when it is done), and the scenarios run once
# both are: a lint or unit failure is known within minutes, and the street costs no extra time.
test: tools ## Everything CI runs: lint, sanity, ee, unit (the street built meanwhile), molecule
	@street/controller.sh unit
	@street/controller.sh molecule
	@echo "test: lint, sanity, ee and unit now; the street is built meanwhile (base image, containers, site.yml)"
	$(MAKE) --no-print-directory -j2 --output-sync=target lint-sanity-ee-unit street-fresh
	$(RUN_SCENARIOS)

# The fast layers one after the other, as one job of `make test`'s two (GNU make 4.3 has no
# per-target .NOTPARALLEL).
lint-sanity-ee-unit: tools
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory ee
	$(MAKE) --no-print-directory unit

bench: site ## Timings, as ratios against a baseline measured in the same run
	python3 bench/release_rollout.py
	python3 bench/failover.py
	python3 bench/sync.py
	python3 bench/package_verify.py

clean: street-down ## Remove the street and the virtualenv
	rm -rf $(VENV) .street
