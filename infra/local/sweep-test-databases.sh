#!/usr/bin/env bash
# Drops test databases (and the roles the tests create) left behind by test processes that were
# killed before cleaning up.
set -euo pipefail
psql "${TIS_SYNC_TEST_DATABASE_URL:?}" -XAtq -v ON_ERROR_STOP=1 <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname)
FROM pg_database WHERE datname LIKE 'tis\_sync\_test\_%' \gexec
SELECT format('DROP ROLE IF EXISTS %I', rolname)
FROM pg_roles WHERE rolname LIKE 'rotated\_%' OR rolname LIKE 'tis\_sync\_%\_probe\_%' \gexec
SQL
