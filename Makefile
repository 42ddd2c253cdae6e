# Quality gates and developer entry points for the knowledgehub.migration collection.
# GNU make. `make test` is what CI (.ci/run) runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV := .venv
VENV_BIN := $(CURDIR)/$(VENV)/bin
VENV_STAMP := $(VENV)/.requirements.stamp

# The interpreter that creates the venv, looked up on the PATH make was started
# with (i.e. before the venv's bin is put in front of it below).
PYTHON ?= $(shell command -v python3)

# Recipes find ansible-playbook, ansible-test, ansible-lint, pytest, molecule,
# squawk ... in the venv first. (PATH is exported to every recipe; make 4.3's
# $(shell) still sees the original PATH, which is what PYTHON above relies on.)
export PATH := $(VENV_BIN):$(PATH)

# Rows migrated by the demo (tools/demo.sh reads CHUNKS).
CHUNKS ?= 100000
export CHUNKS
# The demo's PostgreSQL port on 127.0.0.1 (tools/demo.sh reads DEMO_PORT; the
# playbook run gets -e login_port). Its files go to DEMO_PG_DIR when that is set
# (make demo DEMO_PG_DIR=...), else to /tmp/knowledgehub-demo-<port>.
DEMO_PORT ?= 5433
export DEMO_PORT

# Relative symlink that makes knowledgehub.migration.* resolve to this checkout
# (ansible.cfg: collections_path = .collections).
COLLECTION_LINK := .collections/ansible_collections/knowledgehub/migration

.PHONY: help venv collections demo test lint ansible-lint yamllint-migrations \
        shell-syntax galaxy-build galaxy-import ee-check ee-context changelog-lint \
        sanity pytest molecule clean

help:
	@echo "Targets:"
	@echo "  venv      create/refresh .venv from requirements.txt + constraints.txt"
	@echo "  demo      run tools/demo.sh (CHUNKS=$(CHUNKS) DEMO_PORT=$(DEMO_PORT), DEMO_PG_DIR=dir)"
	@echo "  test      lint, sanity, pytest, molecule (stops at the first failure)"
	@echo "  lint      ansible-lint (production profile) + yamllint migrations/ +"
	@echo "            bash -n on shell scripts + ansible-galaxy collection build +"
	@echo "            galaxy-importer on the tarball + ansible-builder create + changelog lint"
	@echo "  ee-context  the execution environment's build context in EE_CONTEXT=$(EE_CONTEXT)"
	@echo "  sanity    ansible-test sanity (tools/sanity.sh, offline, no ignore file)"
	@echo "  pytest    pytest tests (needs /usr/lib/postgresql/15/bin)"
	@echo "  molecule  molecule test --all (if molecule/*/molecule.yml exists)"
	@echo "  clean     remove .venv .demo .collections tests/output"

# ---------------------------------------------------------------- environment

venv: $(VENV_STAMP)

# Rebuilt from scratch when the pins change, so the venv holds exactly the pins
# (pip install alone would leave dropped packages behind).
$(VENV_STAMP): requirements.txt constraints.txt
	@test -n "$(PYTHON)" || { echo "python3 not found" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $@

collections:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@if [ "$$(readlink $(COLLECTION_LINK) 2>/dev/null)" != "../../.." ]; then \
	    rm -rf $(COLLECTION_LINK); \
	    ln -s ../../.. $(COLLECTION_LINK); \
	    echo "linked $(COLLECTION_LINK) -> ../../.."; \
	fi

# ---------------------------------------------------------------- demo

demo: venv collections
	bash tools/demo.sh

# ---------------------------------------------------------------- gates

# One sub-make per gate, in order, each with a header and its wall time; the
# first failing gate stops the suite (also under -j or -k).
TEST_STAGES := lint sanity pytest molecule

test:
	@for stage in $(TEST_STAGES); do \
	    echo "===== make $$stage"; start=$$SECONDS; \
	    if ! $(MAKE) --no-print-directory $$stage; then \
	        echo "===== make $$stage FAILED after $$((SECONDS - start))s"; exit 1; \
	    fi; \
	    echo "===== make $$stage passed in $$((SECONDS - start))s"; \
	done

lint: ansible-lint yamllint-migrations shell-syntax galaxy-build galaxy-import ee-check changelog-lint

ansible-lint: venv collections
	ansible-lint

# ansible-lint excludes migrations/ (SQL + expectation data); its YAML still has
# to be well-formed and follow the same yamllint rules (.yamllint).
yamllint-migrations: venv
	@files=$$(git ls-files --cached --others --exclude-standard -- 'migrations/*.yml' 'migrations/*.yaml' | while read -r f; do if [ -f "$$f" ]; then echo "$$f"; fi; done); \
	if [ -n "$$files" ]; then \
	    echo "yamllint --strict (migrations/)"; \
	    yamllint --strict -c .yamllint $$files; \
	else \
	    echo "yamllint: no YAML under migrations/"; \
	fi

# Syntax check of every shell script in the tree (cheap; catches broken edits).
# ansible-test sanity shellchecks the *.sh files; .ci/run has no .sh suffix, so
# it is shellchecked here (when shellcheck is installed; .ci/run installs it).
shell-syntax:
	@files=$$( { git ls-files --cached --others --exclude-standard -- '*.sh'; echo .ci/run; } | sort -u | while read -r f; do if [ -f "$$f" ]; then echo "$$f"; fi; done); \
	for f in $$files; do bash -n "$$f" || { echo "bash -n failed: $$f" >&2; exit 1; }; done; \
	echo "bash -n: $$(echo $$files | wc -w) shell script(s) OK"
	@if command -v shellcheck >/dev/null; then shellcheck .ci/run && echo "shellcheck .ci/run: OK"; \
	else echo "shellcheck not installed: .ci/run not shellchecked"; fi

# The collection must build (galaxy.yml, README, build_ignore ...).
galaxy-build: venv
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	ansible-galaxy collection build --force --output-path "$$out" . >/dev/null; \
	echo "ansible-galaxy collection build: $$(cd "$$out" && ls *.tar.gz)"

# Galaxy's import checks of the built tarball (galaxy-importer, tools/galaxy-importer.cfg: ansible-doc, role
# READMEs, changelog, ansible-lint; no container, so no ansible-test: that is `make sanity`). Any ERROR or
# WARNING fails.
galaxy-import: venv
	python tools/packaging.py galaxy-import

# The execution environment's definition must give ansible-builder a build context with what it promises
# (tools/packaging.py: EE_EXPECTED). No image is built.
ee-check: venv
	python tools/packaging.py ee-context

# The execution environment's build context with the collection of this checkout, to build with podman.
EE_CONTEXT ?= /tmp/knowledgehub-migration-ee-context
ee-context: venv
	python tools/packaging.py ee-context "$(EE_CONTEXT)"

# changelogs/: the fragments and changelog.yaml must be what antsibull-changelog accepts, and galaxy.yml's
# version what they need (a breaking change: a new major version).
changelog-lint: venv
	antsibull-changelog lint
	python tools/packaging.py version

sanity: venv
	bash tools/sanity.sh

pytest: venv collections
	pytest tests -p no:cacheprovider --ignore=tests/output

molecule: venv collections
	@if compgen -G 'molecule/*/molecule.yml' >/dev/null; then \
	    molecule test --all; \
	else \
	    echo "molecule: no molecule/*/molecule.yml scenario, nothing to run"; \
	fi

# ---------------------------------------------------------------- cleanup

clean:
	rm -rf $(VENV) .demo .collections tests/output
