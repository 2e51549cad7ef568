#!/usr/bin/env bash
# Run the whole test suite: pg_regress, isolation and TAP tests through
# "make installcheck", then the pgTAP suite through pg_prove, then the
# release artefacts (test/package.sh: the Debian package and the PGXN zip,
# built, installed and tested).  Run as root on
# Debian 12: it installs what it needs, builds with -Werror, installs the
# extension, and runs the servers as the postgres user in a copy of the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

if [ "$(id -u)" -eq 0 ]; then
	bash scripts/install-deps.sh
fi
. scripts/common.sh

make -s clean
make -s with_llvm=no COPT="-Werror -DSNOWFLAKE_TEST_POINTS"
make -s with_llvm=no install

work=$(make_pg_dir)
trap 'rm -rf "$work"' EXIT
cp -r "$src/." "$work/tree"
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work/tree"
fi

passed=0
failed=0
run_suite() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "=== $name FAILED"
	fi
}

show_failures() {
	local t=$work/tree f
	for f in "$t/regression.diffs" "$t/output_iso/regression.diffs"; do
		[ -s "$f" ] && { echo "--- $f"; cat "$f"; }
	done
	for f in "$t"/tmp_check/log/*; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 60 "$f"; }
	done
	return 0
}

run_suite "pg_regress, isolation and TAP (make installcheck)" \
	as_pg make -C "$work/tree" with_llvm=no installcheck || true
[ "$failed" -eq 0 ] || show_failures
run_suite "pgTAP (pg_prove)" bash "$work/tree/test/pgtap.sh"
# Last, since it replaces the installed extension with the packaged one.
if [ "$(id -u)" -eq 0 ]; then
	run_suite "Debian package and PGXN release (test/package.sh)" bash test/package.sh
else
	echo "=== Debian package and PGXN release: skipped (needs root to install a package)"
fi

echo
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
