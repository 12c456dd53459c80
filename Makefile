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
TIS_SYNC := target/debug/tis-sync

.PHONY: help demo test ci lint-template postgres tools down

help:
	@echo "make demo   run the nightly jobs on seeded local data and show what they did"
	@echo "make test   run every test against the real local stack"
	@echo "make ci     fmt check, clippy, template lint, then make test"
	@echo "make down   stop what the make targets started"

postgres:
	@infra/local/postgres.sh

tools:
	@infra/local/tools.sh

demo: export RUST_LOG = warn
demo: postgres tools
	cargo build --quiet -p tis-sync
	$(TIS_SYNC) migrate >/dev/null
	$(TIS_SYNC) seed --persons 5000 --seed 7 >/dev/null
	OPENSEARCH_URL=$$(infra/local/osmem.sh) $(TIS_SYNC) nightly >/dev/null
	$(TIS_SYNC) status >/dev/null
	@echo
	@echo "Look around: DATABASE_URL='$(DATABASE_URL)' $(TIS_SYNC) status"
	@echo "             curl $$(cat .local/osmem.url)/persons/_search?q=surname:Smith*"
	@echo "make down stops what the demo started."

test: postgres tools
	infra/local/sweep-test-databases.sh
	cargo build --workspace --all-targets
	infra/local/with-ministack.sh cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee target/test.log
	@# One closing line for the whole run (cargo prints one per test binary).
	@awk '/^test result:/ { passed += $$4; failed += $$6 } END { printf "%d passed, %d failed\n", passed, failed }' target/test.log

lint-template: tools
	$(TOOLS)/lint/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

ci:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(MAKE) lint-template
	$(MAKE) test

down:
	@infra/local/down.sh
