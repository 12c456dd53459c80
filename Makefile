# The two commands of the README: `make demo` and `make test`. Both start what they need.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PGPORT ?= 5432
export PGPORT
# Local-only credentials for the local Postgres that infra/local/postgres.sh prepares.
LOCAL_DATABASE_URL := postgres://tis_sync:tis_sync@127.0.0.1:$(PGPORT)/tis_sync?sslmode=disable
export DATABASE_URL ?= $(LOCAL_DATABASE_URL)
export TIS_SYNC_TEST_DATABASE_URL ?= $(DATABASE_URL)
TOOLS := $(or $(TIS_SYNC_TOOLS_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tis-sync/tools)
# The local CA that infra/local/postgres.sh makes: the functions verify the server against it.
export PGSSLROOTCERT ?= $(or $(TIS_SYNC_PKI_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tis-sync/pki)/ca.pem
TIS_SYNC := target/debug/tis-sync

.PHONY: help demo test ci lint-template postgres tools down bench package soak

help:
	@echo "make demo     run the nightly jobs on seeded local data and show what they did"
	@echo "make test     run every test against the real local stack"
	@echo "make ci       fmt check, clippy, template lint, make test, then make package"
	@echo "make down     stop what the make targets started"
	@echo "make package  sam validate --lint and sam build: every function's arm64 artifact"
	@echo "make bench    the TIS-scale benchmark (target/bench/report.md)"
	@echo "make soak     the night and the exports under random faults (ITERATIONS=60, SEED=...)"

postgres:
	@infra/local/postgres.sh

tools:
	@infra/local/tools.sh

demo: export RUST_LOG = warn
demo:
	infra/local/cloud.sh up demo >/dev/null
	. .local/demo/cloud.env && $(TIS_SYNC) seed --persons 5000 --seed 7 >/dev/null
	. .local/demo/cloud.env && $(TOOLS)/deploy/bin/python infra/local/demo.py

test: postgres tools
	infra/local/test.sh

# checkov's skips, each with its reason, are in infra/checkov.yaml.
lint-template: tools
	$(TOOLS)/lint/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(TOOLS)/checkov/bin/checkov --quiet --compact --skip-download --config-file infra/checkov.yaml --framework cloudformation -f template.yaml

package:
	infra/local/package.sh

bench:
	infra/local/bench.sh tis

soak: postgres tools
	infra/local/soak.sh

ci:
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(MAKE) lint-template
	$(MAKE) test
	$(MAKE) package

down:
	@infra/local/down.sh
