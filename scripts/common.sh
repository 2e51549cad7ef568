# Shared by the scripts: PostgreSQL binaries and running things as the
# cluster owner (initdb refuses to run as root).
PG_BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
export PATH="$PG_BIN:$PATH"

# as_pg CMD...: run CMD as the postgres user when we are root.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env PATH="$PATH" "$@"
	else
		"$@"
	fi
}

# make_pg_dir: a fresh temporary directory the cluster owner can write.
make_pg_dir() {
	local dir
	dir=$(mktemp -d /tmp/snowflake.XXXXXX)
	chmod 755 "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
	fi
	echo "$dir"
}
