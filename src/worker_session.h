/*-------------------------------------------------------------------------
 *
 * worker_session.h
 *		The database session of a background worker (worker_session.c),
 *		and the schema the workers keep their state in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_WORKER_SESSION_H
#define SNOWFLAKE_WORKER_SESSION_H

/*
 * The schema where the background workers keep their state and the
 * embedded coordination table, created by the workers outside the
 * extension so that DROP EXTENSION cannot lose it.
 */
#define SNOWFLAKE_STATE_SCHEMA "snowflake_state"

/*
 * The two background workers' names (worker.c): their bgw_type, which
 * pg_stat_activity shows as backend_type.
 */
#define SNOWFLAKE_GUARD_NAME "snowflake guard"
#define SNOWFLAKE_KEEPER_NAME "snowflake lease keeper"

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

extern void snowflake_worker_pin_settings(const char *statement_timeout);
extern void snowflake_worker_xact_begin(const char *activity);
extern void snowflake_worker_xact_end(void);
extern void snowflake_worker_xact_abort(void);

#endif							/* SNOWFLAKE_WORKER_SESSION_H */
