#!/usr/bin/env bash
# The release artefacts, built and used as a user would:
#
#  1. the Debian package: dpkg-buildpackage -us -uc -b builds
#     postgresql-15-snowflake with pg_buildext; lintian must report no
#     error; the .deb is installed with dpkg, the regression, isolation and
#     update tests run against the installed files, and the package is
#     purged (its files must be gone);
#  2. the PGXN release: "make dist" zips the committed tree, pgxnclient
#     builds and installs from that zip, and the regression tests run
#     against what it installed.
#
# Run as root on Debian 12 (scripts/install-deps.sh installs what it needs).
# It replaces the installed extension: when it ends, the extension installed
# is the one pgxnclient built from the zip (a plain build of HEAD).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/.." && pwd)
. "$src/scripts/common.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "package.sh: run as root (it installs and removes a package)" >&2
	exit 2
fi
for cmd in dpkg-buildpackage lintian pg_buildext pgxn git; do
	command -v "$cmd" >/dev/null || {
		echo "package.sh: $cmd not found (scripts/install-deps.sh installs it)" >&2
		exit 2
	}
done

tmp=$(make_pg_dir)
cleanup() {
	local rc=$?
	set +e
	if dpkg -s postgresql-15-snowflake >/dev/null 2>&1; then
		dpkg --purge postgresql-15-snowflake >/dev/null
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

version=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{version}' "$src/META.json")
pkg=postgresql-15-snowflake
pkglib=$(pg_config --pkglibdir)
sharedir=$(pg_config --sharedir)

# The tree as git sees it (tracked files and new ones not ignored), so that
# no build output of the caller's tree gets into the package.
mkdir -p "$tmp/build/snowflake"
git -C "$src" ls-files -co --exclude-standard -z |
	(cd "$src" && tar --null -T - -cf -) | tar -xf - -C "$tmp/build/snowflake"

# run_tests TITLE MAKE-ARGS...: make installcheck in a copy of the tree the
# postgres user owns, against the installed extension.
run_tests() {
	local title=$1
	shift
	local t=$tmp/check.$RANDOM
	mkdir -p "$t"
	cp -r "$tmp/build/snowflake/." "$t/tree"
	chown -R postgres: "$t"
	echo "--- $title"
	if ! as_pg make -s -C "$t/tree" installcheck "$@"; then
		for f in "$t/tree/regression.diffs" "$t/tree/output_iso/regression.diffs"; do
			[ -s "$f" ] && cat "$f"
		done
		for f in "$t"/tree/tmp_check/log/regress_log_*; do
			[ -f "$f" ] && tail -n 40 "$f"
		done
		echo "package.sh: $title failed" >&2
		return 1
	fi
	rm -rf "$t"
}

echo "=== Debian package"
(cd "$tmp/build/snowflake" &&
	DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1) || {
	tail -n 40 "$tmp/build.log"
	echo "package.sh: dpkg-buildpackage failed" >&2
	exit 1
}
deb=$tmp/build/${pkg}_${version}_amd64.deb
[ -f "$deb" ] || { ls "$tmp/build"; echo "package.sh: $deb was not built" >&2; exit 1; }
echo "built $(basename "$deb")"

echo "--- lintian"
lintian --fail-on error "$tmp/build/snowflake_${version}_amd64.changes" || {
	echo "package.sh: lintian reports errors" >&2
	exit 1
}
echo "lintian: no errors"

dpkg -i "$deb" >/dev/null
for f in "$pkglib/snowflake.so" "$sharedir/extension/snowflake.control" \
	"$sharedir/extension/snowflake--1.0.sql" "$sharedir/extension/snowflake--1.0--1.1.sql"; do
	dpkg -S "$f" | grep -q "^$pkg:" || {
		echo "package.sh: $f is not installed by $pkg" >&2
		exit 1
	}
done
# What is installed is what the package holds, byte for byte.
(cd / && md5sum --quiet -c "/var/lib/dpkg/info/$pkg.md5sums") || {
	echo "package.sh: installed files differ from the package" >&2
	exit 1
}
echo "installed $pkg $(dpkg-query -W -f '${Version}' "$pkg")"

run_tests "regression and isolation tests, update test, against the package" \
	PROVE_TESTS='test/t/001_preload.pl test/t/004_upgrade.pl'

dpkg --purge "$pkg" >/dev/null
if [ -e "$pkglib/snowflake.so" ] || [ -e "$sharedir/extension/snowflake.control" ]; then
	echo "package.sh: purging $pkg left its files behind" >&2
	exit 1
fi
echo "purged $pkg: its files are gone"

echo "=== PGXN release"
git -C "$tmp/build/snowflake" init -q
git -C "$tmp/build/snowflake" add -A
git -C "$tmp/build/snowflake" -c user.name=release -c user.email=release@example.org \
	commit -q -m release
make -s -C "$tmp/build/snowflake" dist >/dev/null
zip=$tmp/build/snowflake/snowflake-$version.zip
[ -f "$zip" ] || { echo "package.sh: make dist made no $zip" >&2; exit 1; }
unzip -Z1 "$zip" >"$tmp/zip.list"
grep -qx "snowflake-$version/META.json" "$tmp/zip.list" || {
	echo "package.sh: $zip has no snowflake-$version/META.json" >&2
	exit 1
}
echo "made $(basename "$zip")"
(cd "$tmp" && pgxn install --yes --make make "$zip" >"$tmp/pgxn.log" 2>&1) || {
	tail -n 40 "$tmp/pgxn.log"
	echo "package.sh: pgxn install failed" >&2
	exit 1
}
[ -f "$pkglib/snowflake.so" ] && [ -f "$sharedir/extension/snowflake--$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$src/snowflake.control").sql" ] || {
	echo "package.sh: pgxn install did not install the extension" >&2
	exit 1
}
echo "pgxn install $(basename "$zip"): installed"
run_tests "regression tests, against the PGXN install" ISOLATION= TAP_TESTS=

echo "package.sh: the Debian package and the PGXN release pass"
