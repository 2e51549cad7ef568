/*-------------------------------------------------------------------------
 *
 * snowflake.h
 *		Declarations shared by every part of the snowflake extension:
 *		configuration (GUC variables), SQLSTATEs of refusals, and the
 *		cluster layout.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_H
#define SNOWFLAKE_H

#include "layout.h"

/*
 * SQLSTATEs of the extension's own refusals (class SF).  Bad input uses the
 * standard codes (22003, 22008, 22023, 42704); not being preloaded is 55000.
 */
#define ERRCODE_SNOWFLAKE_CLOCK_REGRESSION	MAKE_SQLSTATE('S','F','0','0','1')
#define ERRCODE_SNOWFLAKE_NO_WORKER_ID		MAKE_SQLSTATE('S','F','0','0','2')
#define ERRCODE_SNOWFLAKE_FENCED			MAKE_SQLSTATE('S','F','0','0','3')
#define ERRCODE_SNOWFLAKE_STANDBY			MAKE_SQLSTATE('S','F','0','0','4')
#define ERRCODE_SNOWFLAKE_TIME_EXHAUSTED	MAKE_SQLSTATE('S','F','0','0','5')
#define ERRCODE_SNOWFLAKE_LAYOUT_CHANGED	MAKE_SQLSTATE('S','F','0','0','6')
#define ERRCODE_SNOWFLAKE_HIGH_WATER		MAKE_SQLSTATE('S','F','0','0','7')
#define ERRCODE_SNOWFLAKE_HELD_ELSEWHERE	MAKE_SQLSTATE('S','F','0','0','8')

/*
 * The schema where the background workers keep their state and the
 * embedded coordination table, created by the workers outside the
 * extension so that DROP EXTENSION cannot lose it.
 */
#define SNOWFLAKE_STATE_SCHEMA "snowflake_state"

/*
 * Before the workers use schema snowflake_state and its tables $1 (a text
 * array of table names), they check who owns them: only a superuser or the
 * role the workers run as (on a coordinator, the fleet's role) may, since
 * the owner decides what runs when the workers touch them (triggers, rules,
 * the table itself).  Each row names one object that fails the check.
 */
#define SNOWFLAKE_OWNER_PROBLEMS_SQL \
	"SELECT pg_catalog.format(CASE WHEN o.is_table" \
	"         THEN '%s %s is owned by role %I, which is neither a superuser nor the role %I that the snowflake workers use'" \
	"         ELSE '%s %s is not a table (it is owned by role %I; the snowflake workers use role %I)' END," \
	"       o.kind, o.name, r.rolname, CURRENT_USER)" \
	"  FROM (SELECT 'schema' AS kind, pg_catalog.quote_ident(n.nspname) AS name," \
	"               n.nspowner AS owner, true AS is_table" \
	"          FROM pg_catalog.pg_namespace n WHERE n.nspname = '" SNOWFLAKE_STATE_SCHEMA "'" \
	"        UNION ALL" \
	"        SELECT 'table', pg_catalog.format('%I.%I', n.nspname, c.relname)," \
	"               c.relowner, c.relkind OPERATOR(pg_catalog.=) 'r'" \
	"          FROM pg_catalog.pg_class c" \
	"          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace" \
	"         WHERE n.nspname = '" SNOWFLAKE_STATE_SCHEMA "'" \
	"           AND c.relname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])) o" \
	"  JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner" \
	" WHERE NOT o.is_table OR NOT (r.rolsuper OR r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)"

/* Configuration, see snowflake.c for meaning, units and limits. */
extern int	snowflake_worker_slots;
extern int	snowflake_first_worker_id;
extern char *snowflake_epoch;
extern int	snowflake_worker_bits;
extern int	snowflake_sequence_bits;
extern int	snowflake_region_bits;
extern int	snowflake_region;
extern int	snowflake_max_clock_wait;
extern int	snowflake_max_batch;
extern bool snowflake_clock_borrow;
extern int	snowflake_high_water_horizon;
extern char *snowflake_database;
extern char *snowflake_coordinator;
extern int	snowflake_lease_ttl;
extern int	snowflake_lease_renew_interval;
extern int	snowflake_fencing_margin;

/* The layout this cluster mints with; set once in _PG_init. */
extern SnowflakeLayout snowflake_cluster_layout;

/* True when loaded through shared_preload_libraries. */
extern bool snowflake_preloaded;

extern void snowflake_require_preload(void);
extern void snowflake_require_valid_layout(void);
extern void snowflake_register_workers(void);
extern bool snowflake_warn_if_time_runs_out(void);

#endif							/* SNOWFLAKE_H */
