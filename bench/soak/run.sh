#!/usr/bin/env bash
# bench/soak/run.sh (make soak): the long soak of bench/soak/soak.pl on a
# throwaway fleet, as the postgres user when run as root.  Needs the
# extension installed (make install), libfaketime and DBD::Pg
# (scripts/install-deps.sh), and about 40 bytes of disk per ID in /tmp.
#
# Knobs (environment): SOAK_SEED (default: from the time; printed),
# SOAK_IDS (100000000), SOAK_ROUNDS (3: rounds of every fault class before
# the soak goes on to SOAK_IDS), SOAK_MAX_BATCH (5000), SOAK_TIMESCALE (1:
# lease timings and fault durations), SOAK_HORIZON (the servers'
# snowflake.high_water_horizon; default 1s), SOAK_KEEP=1 (keep the
# servers' logs and the IDs).  The report goes to soak-report.txt in
# the directory make soak ran in (SOAK_REPORT to change it).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
report=${SOAK_REPORT:-$(pwd)/soak-report.txt}
. "$src/scripts/common.sh"

work=$(make_pg_dir)
if [ "${SOAK_KEEP:-0}" = 1 ]; then
	trap 'echo "soak: logs and IDs kept in $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/bench" "$work/test"
cp -r "$src/bench/soak" "$work/bench/"
cp -r "$src/test/t" "$work/test/"
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work"
fi
cd "$work"
pgxs=$(pg_config --pkglibdir)/pgxs
status=0
# TESTDIR: an absolute base for the clusters, so that the path of each
# server's libfaketime offset file still resolves once it is running in
# its data directory.
as_pg env TESTDIR="$work" SOAK_REPORT="$work/report.txt" PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
	SOAK_SEED="${SOAK_SEED:-}" SOAK_IDS="${SOAK_IDS:-100000000}" \
	SOAK_ROUNDS="${SOAK_ROUNDS:-3}" SOAK_MAX_BATCH="${SOAK_MAX_BATCH:-5000}" \
	SOAK_TIMESCALE="${SOAK_TIMESCALE:-1}" SOAK_HORIZON="${SOAK_HORIZON:-}" \
	prove -v -I "$pgxs/src/test/perl" bench/soak/soak.pl || status=$?
cp "$work/report.txt" "$report" && echo "soak: report in $report"
exit $status
