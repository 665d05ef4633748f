#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster, its URL in
# OTS_TEST_POSTGRES_URL; the cluster is removed when the command ends.
#
#   ./scripts/with-postgres.sh sh -c '.build/release/ots bench queue --database "$OTS_TEST_POSTGRES_URL"'
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
trap stop_postgres EXIT
start_postgres
"$@"
