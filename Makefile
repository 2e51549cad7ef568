# snowflake: Snowflake-style 64-bit IDs minted inside PostgreSQL

MODULE_big = snowflake
OBJS = \
	src/adoption.o \
	src/callers.o \
	src/canary.o \
	src/canary_ring.o \
	src/clock.o \
	src/config.o \
	src/coordinator.o \
	src/functions.o \
	src/generator.o \
	src/guard.o \
	src/id_type.o \
	src/layout.o \
	src/layout_catalog.o \
	src/lease.o \
	src/lease_acquire.o \
	src/lease_keeper.o \
	src/lease_slots.o \
	src/lease_table.o \
	src/mint_wait.o \
	src/shmem.o \
	src/snowflake.o \
	src/status.o \
	src/worker.o \
	src/worker_session.o
PGFILEDESC = "snowflake - Snowflake-style 64-bit IDs"

EXTENSION = snowflake
DATA = sql/snowflake--1.0.sql sql/snowflake--1.1.sql \
	sql/snowflake--1.0--1.1.sql

PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
# libpq, for a coordinator on another server (snowflake.coordinator)
SHLIB_LINK_INTERNAL = $(libpq)
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers

# Regression and isolation tests run on temporary servers that preload the
# library; TAP tests (test/t) build their own clusters.
REGRESS = layouts decode encode define_layout layout_unit mint batch \
	batch_cursor status id_type observability
REGRESS_OPTS = --inputdir=$(srcdir)/test \
	--temp-instance=$(CURDIR)/tmp_check \
	--temp-config=$(srcdir)/test/snowflake.conf
ISOLATION = concurrent_mint
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation \
	--temp-instance=$(CURDIR)/tmp_check_iso \
	--temp-config=$(srcdir)/test/snowflake.conf
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = tmp_check tmp_check_iso results output_iso log snowflake-*.zip

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track header dependencies.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# pgTAP suite (test/pgtap), on a throwaway server: see test/pgtap.sh
.PHONY: pgtap bench bench-restart soak mutate dist package
pgtap:
	bash $(srcdir)/test/pgtap.sh

bench:
	bash $(srcdir)/bench/bench.sh

# Time to the first ID after clean and immediate restarts (needs make
# install first; RESTART_EXTRA_CONF sets the horizon).
bench-restart:
	bash $(srcdir)/bench/restart.sh

# The long soak (bench/soak, docs/reliability.md): a fleet minting under
# seeded faults, every ID checked; needs make install first.  A short seed
# runs in installcheck (test/t/055_soak.pl).
soak:
	bash $(srcdir)/bench/soak/run.sh

# Mutation testing (test/mutate): as root; not part of installcheck.
mutate:
	perl $(srcdir)/test/mutate/run.pl

# PGXN release: snowflake-<version>.zip of the committed tree, the version
# taken from META.json (test/t/005_release_metadata.pl keeps it in step with
# snowflake.control and debian/changelog).
DIST_VERSION = $(shell perl -MJSON::PP -e 'local $$/; open my $$f, "<", "$(srcdir)/META.json" or die; print decode_json(<$$f>)->{version}')
dist:
	git -C $(srcdir) archive --format=zip --prefix=snowflake-$(DIST_VERSION)/ \
		-o $(CURDIR)/snowflake-$(DIST_VERSION).zip HEAD
	@echo "snowflake-$(DIST_VERSION).zip"

# Debian package, checked with lintian, installed and tested: see
# test/package.sh (run as root; it leaves the extension installed from this
# tree, as "make install" would).
package:
	bash $(srcdir)/test/package.sh

# The HA coordinator test on the real stack (etcd, Patroni; docs/fleet.md) at
# full length: three crashes of the leader and three switchovers.
# installcheck runs its short version (one of each).
.PHONY: ha-test
ha-test:
	SNOWFLAKE_HA_FULL=1 $(MAKE) installcheck REGRESS= ISOLATION= \
		PROVE_TESTS=test/t/060_ha_patroni.pl
