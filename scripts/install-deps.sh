#!/usr/bin/env bash
# Install what building and testing snowflake needs on Debian 12 (run as root).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (or with sudo) to install packages" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential \
	postgresql-15 \
	postgresql-server-dev-15 \
	libpq-dev \
	libipc-run-perl \
	libdbd-pg-perl \
	postgresql-15-pgtap \
	libtap-parser-sourcehandler-pgtap-perl \
	faketime \
	gdb \
	curl \
	debhelper \
	postgresql-server-dev-all \
	lintian \
	zip \
	unzip \
	etcd-server \
	etcd-client \
	patroni \
	pgxnclient \
	prometheus \
	prometheus-postgres-exporter
