/*-------------------------------------------------------------------------
 *
 * lease_table.c
 *		Every statement the lease keeper runs on the coordination table
 *		snowflake_state.worker_lease, one named function each, and the
 *		advisory locks beside it.
 *
 * The table has one row per worker ID: its holder (system identifier,
 * host, port, cluster_name, postmaster PID), acquired_at, renewed_at and
 * expires_at on the coordinator's clock, the fencing token, the floor
 * (last_minted_at: what any earlier holder may have minted up to; never
 * lowered), the current holder's cap (minting_until) and released_at, and
 * what the holder reported of itself with its last renewal: its wall clock
 * when it sent it (holder_clock) and the round trip of the renewal before
 * (renew_latency_ms), from which the snowflake_fleet view computes clock
 * skew.  A table made before those two columns existed gets them when the
 * keeper's role may add them; until then renewals leave them out.  The
 * statements run through coordinator.c, in the lease keeper's own session
 * (embedded) or on the coordinator (fleet); every name is
 * schema-qualified and every operator and function is pg_catalog's, and
 * the session runs with search_path = pg_catalog, pg_temp.  Parameters go
 * as text and are cast in the SQL; times travel as Unix milliseconds or
 * microseconds.  No function here raises an error: each returns false (or
 * SNOWFLAKE_TAKE_ERROR, or NULL) and fills "err" (COORD_ERRLEN bytes).
 *
 * The advisory lock (SNOWFLAKE_LEASE_LOCK_CLASS, worker ID) of a lease is
 * held by its holder's session when it can be; see lease.c for what it
 * means and why a lock held by another role's session does not count.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "config.h"
#include "coordinator.h"
#include "lease_table.h"
#include "worker_session.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

/* Whether the table has holder_clock and renew_latency_ms; see above. */
static bool table_has_clock_report = false;

/*
 * Whether snowflake_state.canary_hit is there and readable (canary.c sets
 * it): a worker ID with an uncleared hit is quarantined, never leased.
 */
bool		snowflake_lease_quarantine_table = false;

#define NOT_QUARANTINED(w) \
	" AND NOT EXISTS (SELECT FROM " SNOWFLAKE_STATE_SCHEMA ".canary_hit h" \
	"   WHERE h.worker_id OPERATOR(pg_catalog.=) " w " AND h.cleared_at IS NULL)"

/* First key of the advisory locks that guard leases ('SNOW'). */
#define LEASE_LOCK_CLASS	"1397641047"
#define LEASE_TABLE			SNOWFLAKE_STATE_SCHEMA ".worker_lease"

/* SQL for a timestamptz from Unix milliseconds, and back (rounded up). */
#define MS_TO_TS(x) \
	"pg_catalog.to_timestamp((" x ")::pg_catalog.float8 OPERATOR(pg_catalog./) 1000)"
#define TS_TO_MS(x) \
	"pg_catalog.ceil(EXTRACT(epoch FROM " x ") OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8"
#define TS_TO_US(x) \
	"(EXTRACT(epoch FROM " x ") OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8"

/*
 * The rows of the leases listed by lease_ref_params(): worker IDs $2,
 * fencing tokens $3, the last millisecond each slot minted $4 (Unix ms) and
 * the acquired_at of each acquisition $5 (Unix us), of this server ($6, its
 * system identifier).  A row matches only while it is still this
 * acquisition's: same token, same holder, same acquired_at.  What they
 * report only raises the worker ID's floor.
 */
#define HELD_ROWS \
	" FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int4[]), pg_catalog.unnest($3::pg_catalog.int8[])," \
	"        pg_catalog.unnest($4::pg_catalog.int8[]), pg_catalog.unnest($5::pg_catalog.int8[]))" \
	"        AS v(worker_id, token, last_ms, acquired)" \
	" WHERE l.worker_id OPERATOR(pg_catalog.=) v.worker_id" \
	"   AND l.fencing_token OPERATOR(pg_catalog.=) v.token" \
	"   AND l.holder_system_id OPERATOR(pg_catalog.=) $6" \
	"   AND " TS_TO_US("l.acquired_at") " OPERATOR(pg_catalog.=) v.acquired"
#define REPORT_MINTED \
	"     last_minted_at = GREATEST(l.last_minted_at, " MS_TO_TS("v.last_ms") "),"

static char *
int_text(int64 value)
{
	return psprintf(INT64_FORMAT, value);
}

static int64
int_value(const CoordResult *res, int row, int col)
{
	return strtoi64(COORD_VALUE(res, row, col), NULL, 10);
}

/*
 * Parameters $2 to $6 of HELD_ROWS for the leases "refs": array literals
 * of worker IDs, fencing tokens, last milliseconds minted (NULL for none)
 * and acquired_at, and this server's system identifier.
 */
static void
lease_ref_params(const SnowflakeLeaseRef *refs, int n,
				 const SnowflakeHolder *me, const char **params)
{
	StringInfoData lists[4];
	int			i;
	int			l;

	for (l = 0; l < 4; l++)
	{
		initStringInfo(&lists[l]);
		appendStringInfoChar(&lists[l], '{');
	}
	for (i = 0; i < n; i++)
	{
		const char *sep = i > 0 ? "," : "";

		appendStringInfo(&lists[0], "%s%d", sep, refs[i].worker_id);
		appendStringInfo(&lists[1], "%s" INT64_FORMAT, sep, refs[i].token);
		if (refs[i].last_unix_ms >= 0)
			appendStringInfo(&lists[2], "%s" INT64_FORMAT, sep, refs[i].last_unix_ms);
		else
			appendStringInfo(&lists[2], "%sNULL", sep);
		appendStringInfo(&lists[3], "%s" INT64_FORMAT, sep, refs[i].acquired_us);
	}
	for (l = 0; l < 4; l++)
	{
		appendStringInfoChar(&lists[l], '}');
		params[1 + l] = lists[l].data;
	}
	params[5] = me->system_id;
}

/*
 * The lease history: snowflake_state.lease_history, one row per
 * acquisition of a worker ID (its fencing token, holder, acquired_at, the
 * floor it minted above), closed when the acquisition ends (released,
 * expired and taken over, or taken over early) with the last minting_until
 * acknowledged to it.  Rows are written by a trigger on the coordination
 * table, in the statement that takes, releases or takes over a lease, so
 * the history cannot miss an acquisition; renewals do not fire it.  The
 * trigger function runs as its owner (the history's), so a keeper role
 * that may only write the coordination table records history too; where
 * even that owner may not write the history, the acquisition goes
 * unrecorded rather than refused (the history is a backstop, leases are
 * not).
 *
 * Made when missing by a keeper whose role owns the coordination table
 * (with its trigger function, and the open leases of the moment as its
 * first rows); readable by pg_monitor.  A keeper that may not make it
 * goes on without.  Ended rows older than snowflake.lease_history_retention
 * are deleted when a keeper connects.
 */
#define HISTORY_TABLE		SNOWFLAKE_STATE_SCHEMA ".lease_history"

static bool
lease_history_ensure(char *err)
{
	const char *params[1];
	CoordResult res;

	if (!snowflake_coord_exec("DO $do$ BEGIN"
					" IF pg_catalog.to_regclass('" HISTORY_TABLE "') IS NOT NULL THEN"
					"  RETURN;"
					" END IF;"
					" IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c"
					"      WHERE c.oid OPERATOR(pg_catalog.=) '" LEASE_TABLE "'::pg_catalog.regclass), 'USAGE') THEN"
					"  RETURN;"
					" END IF;"
					" BEGIN"
					" CREATE TABLE " HISTORY_TABLE " ("
					"  worker_id pg_catalog.int4 NOT NULL,"
					"  fencing_token pg_catalog.int8 NOT NULL,"
					"  holder_system_id pg_catalog.text NOT NULL,"
					"  holder_host pg_catalog.text NOT NULL,"
					"  holder_port pg_catalog.int4 NOT NULL,"
					"  holder_cluster_name pg_catalog.text NOT NULL,"
					"  holder_pid pg_catalog.int4 NOT NULL,"
					"  acquired_at pg_catalog.timestamptz NOT NULL,"
					"  floor_at pg_catalog.timestamptz,"
					"  cap_at pg_catalog.timestamptz,"
					"  ended_at pg_catalog.timestamptz,"
					"  ended_how pg_catalog.text CHECK (ended_how OPERATOR(pg_catalog.=) ANY"
					"    ('{released,expired,taken over}'::pg_catalog.text[])),"
					"  PRIMARY KEY (worker_id, acquired_at, fencing_token));"
					" CREATE INDEX lease_history_ended_at ON " HISTORY_TABLE " (ended_at);"
					" COMMENT ON TABLE " HISTORY_TABLE " IS"
					"  'Every acquisition of a worker ID by the snowflake extension and how it ended';"
					" CREATE FUNCTION " SNOWFLAKE_STATE_SCHEMA ".lease_history_record()"
					"  RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
					"  SET search_path = pg_catalog, pg_temp AS $f$"
					"  BEGIN"
					"   IF TG_OP = 'UPDATE' THEN"
					"    IF OLD.fencing_token IS DISTINCT FROM NEW.fencing_token"
					"       OR OLD.acquired_at IS DISTINCT FROM NEW.acquired_at THEN"
					"     UPDATE " HISTORY_TABLE " h"
					"        SET ended_at = coalesce(OLD.released_at, now()),"
					"            ended_how = CASE WHEN OLD.released_at IS NOT NULL THEN 'released'"
					"                             WHEN OLD.expires_at < now() THEN 'expired'"
					"                             ELSE 'taken over' END,"
					"            cap_at = OLD.minting_until"
					"      WHERE h.worker_id = OLD.worker_id AND h.acquired_at = OLD.acquired_at"
					"        AND h.fencing_token = OLD.fencing_token AND h.ended_at IS NULL;"
					"    ELSIF OLD.released_at IS NULL AND NEW.released_at IS NOT NULL THEN"
					"     UPDATE " HISTORY_TABLE " h"
					"        SET ended_at = NEW.released_at, ended_how = 'released',"
					"            cap_at = NEW.minting_until"
					"      WHERE h.worker_id = NEW.worker_id AND h.acquired_at = NEW.acquired_at"
					"        AND h.fencing_token = NEW.fencing_token AND h.ended_at IS NULL;"
					"     RETURN NULL;"
					"    ELSE"
					"     RETURN NULL;"
					"    END IF;"
					"   END IF;"
					"   INSERT INTO " HISTORY_TABLE " (worker_id, fencing_token, holder_system_id,"
					"     holder_host, holder_port, holder_cluster_name, holder_pid, acquired_at, floor_at)"
					"   VALUES (NEW.worker_id, NEW.fencing_token, NEW.holder_system_id, NEW.holder_host,"
					"     NEW.holder_port, NEW.holder_cluster_name, NEW.holder_pid, NEW.acquired_at,"
					"     NEW.last_minted_at)"
					"   ON CONFLICT DO NOTHING;"
					"   RETURN NULL;"
					"  EXCEPTION WHEN insufficient_privilege THEN"
					"   RETURN NULL;"
					"  END $f$;"
					" CREATE TRIGGER lease_history_insert AFTER INSERT ON " LEASE_TABLE
					"  FOR EACH ROW EXECUTE FUNCTION " SNOWFLAKE_STATE_SCHEMA ".lease_history_record();"
					" CREATE TRIGGER lease_history_update AFTER UPDATE ON " LEASE_TABLE
					"  FOR EACH ROW WHEN (OLD.fencing_token IS DISTINCT FROM NEW.fencing_token"
					"   OR OLD.acquired_at IS DISTINCT FROM NEW.acquired_at"
					"   OR (OLD.released_at IS NULL AND NEW.released_at IS NOT NULL))"
					"  EXECUTE FUNCTION " SNOWFLAKE_STATE_SCHEMA ".lease_history_record();"
					" INSERT INTO " HISTORY_TABLE " (worker_id, fencing_token, holder_system_id,"
					"   holder_host, holder_port, holder_cluster_name, holder_pid, acquired_at, floor_at)"
					"  SELECT l.worker_id, l.fencing_token, l.holder_system_id, l.holder_host,"
					"    l.holder_port, l.holder_cluster_name, l.holder_pid, l.acquired_at, l.last_minted_at"
					"  FROM " LEASE_TABLE " l WHERE l.released_at IS NULL;"
					" GRANT SELECT ON " HISTORY_TABLE " TO pg_monitor;"
					" BEGIN"
					"  GRANT USAGE ON SCHEMA " SNOWFLAKE_STATE_SCHEMA " TO pg_monitor;"
					" EXCEPTION WHEN insufficient_privilege THEN NULL;"
					" END;"
					" EXCEPTION WHEN insufficient_privilege THEN NULL;"
					" END;"
					" END $do$",
					0, NULL, NULL, err))
		return false;

	if (snowflake_lease_history_retention == 0)
		return true;
	if (!snowflake_coord_exec("SELECT pg_catalog.to_regclass('" HISTORY_TABLE "') IS NOT NULL"
					"   AND pg_catalog.has_table_privilege('" HISTORY_TABLE "', 'DELETE')",
					0, NULL, &res, err))
		return false;
	if (strcmp(COORD_VALUE(&res, 0, 0), "t") != 0)
		return true;
	params[0] = int_text(snowflake_lease_history_retention);
	return snowflake_coord_exec("DELETE FROM " HISTORY_TABLE " h WHERE h.ended_at OPERATOR(pg_catalog.<)"
					" (pg_catalog.now() OPERATOR(pg_catalog.-)"
					"  pg_catalog.make_interval(secs => $1::pg_catalog.float8))",
					1, params, NULL, err);
}

/*
 * Create the coordination table when missing, and check who owns it and
 * its schema (SNOWFLAKE_OWNER_PROBLEMS_SQL): a superuser, or the role this
 * keeper connects as.
 *
 * Created only when missing, so a coordinator role that owns nothing but
 * schema snowflake_state (or only has rights on the table) is enough.
 * Servers (or, embedded, the guard) creating it at the same moment make
 * all but one fail on a unique violation: those try once more.  No
 * advisory lock serialises this, since any role could hold it.
 */
bool
snowflake_lease_table_ensure(char *err)
{
	const char *params[1] = {"{worker_lease}"};
	CoordResult res;
	int			attempt;

	for (attempt = 0;; attempt++)
	{
		if (snowflake_coord_exec("DO $do$ BEGIN"
					   " IF pg_catalog.to_regnamespace('" SNOWFLAKE_STATE_SCHEMA "') IS NULL THEN"
					   "  CREATE SCHEMA " SNOWFLAKE_STATE_SCHEMA ";"
					   " END IF;"
					   " IF pg_catalog.to_regclass('" LEASE_TABLE "') IS NULL THEN"
					   "  CREATE TABLE " LEASE_TABLE " ("
					   "   worker_id pg_catalog.int4 PRIMARY KEY CHECK (worker_id OPERATOR(pg_catalog.>=) 0),"
					   "   holder_system_id pg_catalog.text NOT NULL,"
					   "   holder_host pg_catalog.text NOT NULL,"
					   "   holder_port pg_catalog.int4 NOT NULL,"
					   "   holder_cluster_name pg_catalog.text NOT NULL,"
					   "   holder_pid pg_catalog.int4 NOT NULL,"
					   "   acquired_at pg_catalog.timestamptz NOT NULL,"
					   "   renewed_at pg_catalog.timestamptz NOT NULL,"
					   "   expires_at pg_catalog.timestamptz NOT NULL,"
					   "   fencing_token pg_catalog.int8 NOT NULL,"
					   "   last_minted_at pg_catalog.timestamptz,"
					   "   minting_until pg_catalog.timestamptz,"
					   "   released_at pg_catalog.timestamptz,"
					   "   holder_clock pg_catalog.timestamptz,"
					   "   renew_latency_ms pg_catalog.float8);"
					   "  COMMENT ON TABLE " LEASE_TABLE " IS"
					   "   'Worker ID leases of the snowflake extension, one row per worker ID';"
					   " END IF;"
					   " END $do$",
					   0, NULL, NULL, err))
			break;
		if (attempt > 0 || !snowflake_coord_connected())
			return false;
	}
	if (!snowflake_coord_exec(SNOWFLAKE_OWNER_PROBLEMS_SQL, 1, params, &res, err))
		return false;
	if (res.nrows > 0)
	{
		snprintf(err, COORD_ERRLEN, "%s; drop or reassign it", COORD_VALUE(&res, 0, 0));
		return false;
	}

	/*
	 * A table from before the clock report: add its columns if this role
	 * may; if it may not, renewals go on without them.
	 */
	if (!snowflake_coord_exec("DO $do$ BEGIN"
					" ALTER TABLE " LEASE_TABLE
					"  ADD COLUMN IF NOT EXISTS holder_clock pg_catalog.timestamptz,"
					"  ADD COLUMN IF NOT EXISTS renew_latency_ms pg_catalog.float8;"
					" EXCEPTION WHEN insufficient_privilege THEN NULL;"
					" END $do$",
					0, NULL, NULL, err) ||
		!snowflake_coord_exec("SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute"
					" WHERE attrelid OPERATOR(pg_catalog.=) '" LEASE_TABLE "'::pg_catalog.regclass"
					"   AND attname OPERATOR(pg_catalog.=) ANY ('{holder_clock,renew_latency_ms}'::pg_catalog.name[])"
					"   AND NOT attisdropped",
					0, NULL, &res, err))
		return false;
	table_has_clock_report = strcmp(COORD_VALUE(&res, 0, 0), "2") == 0;
	return lease_history_ensure(err);
}

/*
 * Try to take the advisory lock of a worker ID in this session.  Sets
 * *got, and *keeper_pid to the PID of a session that holds it and runs as
 * the role of this keeper (another keeper), or 0 when none does: a lock
 * held by a session of any other role says nothing about the lease.
 */
bool
snowflake_lease_lock_try(int32 worker_id, bool *got, int *keeper_pid, char *err)
{
	const char *params[1] = {int_text(worker_id)};
	CoordResult res;

	if (!snowflake_coord_exec("SELECT pg_catalog.pg_try_advisory_lock(" LEASE_LOCK_CLASS ", $1::pg_catalog.int4),"
					" (SELECT k.pid FROM pg_catalog.pg_locks k"
					"    JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) k.pid"
					"   WHERE k.locktype OPERATOR(pg_catalog.=) 'advisory' AND k.granted"
					"     AND k.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d"
					"                          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
					"     AND k.classid OPERATOR(pg_catalog.=) " LEASE_LOCK_CLASS "::pg_catalog.oid"
					"     AND k.objid OPERATOR(pg_catalog.=) $1::pg_catalog.int4::pg_catalog.oid"
					"     AND k.objsubid OPERATOR(pg_catalog.=) 2"
					"     AND k.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
					"     AND a.usesysid OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r"
					"                          WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)"
					"   LIMIT 1)",
					1, params, &res, err))
		return false;
	*got = strcmp(COORD_VALUE(&res, 0, 0), "t") == 0;
	*keeper_pid = COORD_VALUE(&res, 0, 1) ? pg_strtoint32(COORD_VALUE(&res, 0, 1)) : 0;
	return true;
}

/* Give up the advisory lock of a worker ID held by this session. */
bool
snowflake_lease_lock_release(int32 worker_id, char *err)
{
	const char *params[1] = {int_text(worker_id)};

	return snowflake_coord_exec("SELECT pg_catalog.pg_advisory_unlock(" LEASE_LOCK_CLASS ", $1::pg_catalog.int4)",
					  1, params, NULL, err);
}

/* Give up every advisory lock of this session, at a clean shutdown. */
void
snowflake_lease_locks_release_all(void)
{
	char		err[COORD_ERRLEN];

	(void) snowflake_coord_exec("SELECT pg_catalog.pg_advisory_unlock_all()", 0, NULL, NULL, err);
}

/*
 * End the coordinator session keeper_pid if it holds the advisory lock of
 * a worker ID whose lease has expired or was released.  *ended_pid is its
 * PID if it was ended, else 0.  False when the statement failed (for
 * example: not allowed to end that session).
 */
bool
snowflake_lease_end_expired_holder(int32 worker_id, int keeper_pid,
								   int *ended_pid, char *err)
{
	const char *params[2] = {int_text(worker_id), int_text(keeper_pid)};
	CoordResult res;

	*ended_pid = 0;
	if (!snowflake_coord_exec("SELECT k.pid, pg_catalog.pg_terminate_backend(k.pid)"
					" FROM pg_catalog.pg_locks k JOIN " LEASE_TABLE " l"
					"   ON l.worker_id OPERATOR(pg_catalog.=) $1::pg_catalog.int4"
					" WHERE k.pid OPERATOR(pg_catalog.=) $2::pg_catalog.int4"
					"   AND k.locktype OPERATOR(pg_catalog.=) 'advisory' AND k.granted"
					"   AND k.classid OPERATOR(pg_catalog.=) " LEASE_LOCK_CLASS "::pg_catalog.oid"
					"   AND k.objid OPERATOR(pg_catalog.=) $1::pg_catalog.int4::pg_catalog.oid"
					"   AND k.objsubid OPERATOR(pg_catalog.=) 2"
					"   AND (l.released_at IS NOT NULL OR l.expires_at OPERATOR(pg_catalog.<) pg_catalog.now())",
					2, params, &res, err))
		return false;
	if (res.nrows > 0)
		*ended_pid = pg_strtoint32(COORD_VALUE(&res, 0, 0));
	return true;
}

/* End coordinator session "pid" (this keeper's own earlier session). */
bool
snowflake_coordinator_end_session(int pid, char *err)
{
	const char *params[1] = {int_text(pid)};

	return snowflake_coord_exec("SELECT pg_catalog.pg_terminate_backend($1::pg_catalog.int4)",
					  1, params, NULL, err);
}

/* Describe who holds a worker ID, for a refusal. */
void
snowflake_lease_describe_holder(int32 worker_id, char *buf, size_t len)
{
	char		err[COORD_ERRLEN];
	const char *params[1] = {int_text(worker_id)};
	CoordResult res;

	if (snowflake_lease_quarantine_table &&
		snowflake_coord_exec("SELECT pg_catalog.format('quarantined by the duplicate canary since %s (ID %s); see snowflake_state.canary_hit, then run snowflake_state.quarantine_clear(%s) on the coordinator',"
				   " h.detected_at, h.id, h.worker_id)"
				   " FROM " SNOWFLAKE_STATE_SCHEMA ".canary_hit h"
				   " WHERE h.worker_id OPERATOR(pg_catalog.=) $1::pg_catalog.int4 AND h.cleared_at IS NULL"
				   " ORDER BY h.hit LIMIT 1",
				   1, params, &res, err) && res.nrows == 1)
	{
		strlcpy(buf, COORD_VALUE(&res, 0, 0), len);
		return;
	}
	if (snowflake_coord_exec("SELECT pg_catalog.format('%s port %s (cluster_name \"%s\", system identifier %s, postmaster PID %s), lease expires at %s',"
				   " holder_host, holder_port, holder_cluster_name, holder_system_id, holder_pid, expires_at)"
				   " FROM " LEASE_TABLE " WHERE worker_id OPERATOR(pg_catalog.=) $1::pg_catalog.int4",
				   1, params, &res, err) && res.nrows == 1)
		strlcpy(buf, COORD_VALUE(&res, 0, 0), len);
	else
		snprintf(buf, len, "a keeper session on the coordinator that holds advisory lock (%s, %d)",
				 LEASE_LOCK_CLASS, worker_id);
}

/*
 * Take a worker ID over, if its row is free, released or expired, in one
 * statement on the row: the fencing token grows by one, the floor
 * (last_minted_at) becomes the greatest of itself and the previous
 * holder's minting_until, so nothing a previous holder may have minted is
 * forgotten, and minting_until becomes this holder's cap.  A worker ID the
 * duplicate canary quarantined (canary.c) is not taken: SNOWFLAKE_TAKE_HELD.
 */
SnowflakeTakeResult
snowflake_lease_take_over(int32 worker_id, const SnowflakeHolder *me,
						  int64 ttl_ms, int64 cap_unix_ms,
						  SnowflakeTakeover *out, char *err)
{
	const char *params[8];
	CoordResult res;

	params[0] = int_text(worker_id);
	params[1] = me->system_id;
	params[2] = me->host;
	params[3] = me->port;
	params[4] = me->cluster_name;
	params[5] = me->postmaster_pid;
	params[6] = int_text(ttl_ms);
	params[7] = int_text(cap_unix_ms);
	if (!snowflake_coord_exec(psprintf("INSERT INTO " LEASE_TABLE " AS l (worker_id, holder_system_id, holder_host,"
					"   holder_port, holder_cluster_name, holder_pid, acquired_at, renewed_at,"
					"   expires_at, fencing_token, minting_until)"
					" VALUES ($1::pg_catalog.int4, $2, $3, $4::pg_catalog.int4, $5, $6::pg_catalog.int4,"
					"   pg_catalog.now(), pg_catalog.now(),"
					"   pg_catalog.now() OPERATOR(pg_catalog.+)"
					"     pg_catalog.make_interval(secs => $7::pg_catalog.float8 OPERATOR(pg_catalog./) 1000),"
					"   1, " MS_TO_TS("$8") ")"
					" ON CONFLICT (worker_id) DO UPDATE SET"
					"   holder_system_id = excluded.holder_system_id,"
					"   holder_host = excluded.holder_host,"
					"   holder_port = excluded.holder_port,"
					"   holder_cluster_name = excluded.holder_cluster_name,"
					"   holder_pid = excluded.holder_pid,"
					"   acquired_at = excluded.acquired_at,"
					"   renewed_at = excluded.renewed_at,"
					"   expires_at = excluded.expires_at,"
					"   fencing_token = l.fencing_token OPERATOR(pg_catalog.+) 1,"
					"   last_minted_at = GREATEST(l.last_minted_at, l.minting_until),"
					"   minting_until = excluded.minting_until,"
					"   released_at = NULL"
					" WHERE (l.released_at IS NOT NULL OR l.expires_at OPERATOR(pg_catalog.<) pg_catalog.now())"
					"%s"
					" RETURNING l.fencing_token, " TS_TO_US("l.expires_at") ","
					"   " TS_TO_MS("l.last_minted_at") ", " TS_TO_US("l.acquired_at") ","
					"   " TS_TO_MS("l.minting_until"),
					snowflake_lease_quarantine_table ? NOT_QUARANTINED("l.worker_id") : ""),
					8, params, &res, err))
		return SNOWFLAKE_TAKE_ERROR;
	if (res.nrows == 0)
		return SNOWFLAKE_TAKE_HELD;
	out->token = int_value(&res, 0, 0);
	out->expires_us = int_value(&res, 0, 1);
	out->floor_unix_ms = COORD_VALUE(&res, 0, 2) ? int_value(&res, 0, 2) : -1;
	out->acquired_us = int_value(&res, 0, 3);
	out->cap_unix_ms = int_value(&res, 0, 4);
	return SNOWFLAKE_TAKE_OK;
}

/*
 * Renew the leases "refs": expiry moves to the coordinator's clock plus
 * ttl_ms, the floor rises to what each slot minted, and minting_until
 * rises to cap_unix_ms.  *renewed lists the rows still this acquisition's.
 */
#define RENEW_SQL(clock_report) \
	"UPDATE " LEASE_TABLE " AS l" \
	" SET renewed_at = pg_catalog.now()," \
	"     expires_at = pg_catalog.now() OPERATOR(pg_catalog.+)" \
	"        pg_catalog.make_interval(secs => $7::pg_catalog.float8 OPERATOR(pg_catalog./) 1000)," \
	clock_report \
	REPORT_MINTED \
	"     minting_until = GREATEST(l.minting_until, " MS_TO_TS("$1") ")" \
	HELD_ROWS \
	"   AND l.released_at IS NULL" \
	" RETURNING l.worker_id, " TS_TO_US("l.expires_at") "," \
	"   " TS_TO_MS("l.minting_until")

bool
snowflake_leases_renew(const SnowflakeLeaseRef *refs, int n,
					   const SnowflakeHolder *me, int64 cap_unix_ms,
					   int64 ttl_ms, int64 clock_unix_ms,
					   int64 last_latency_us, SnowflakeRenewal **renewed,
					   int *nrenewed, char *err)
{
	const char *params[9];
	CoordResult res;
	bool		ok;
	int			r;

	params[0] = int_text(cap_unix_ms);
	lease_ref_params(refs, n, me, params);
	params[6] = int_text(ttl_ms);
	params[7] = int_text(clock_unix_ms);
	params[8] = last_latency_us < 0 ? NULL : int_text(last_latency_us);
	if (table_has_clock_report)
		ok = snowflake_coord_exec(RENEW_SQL("     holder_clock = " MS_TO_TS("$8") ","
											"     renew_latency_ms = $9::pg_catalog.float8 OPERATOR(pg_catalog./) 1000,"),
								  9, params, &res, err);
	else
		ok = snowflake_coord_exec(RENEW_SQL(""), 7, params, &res, err);
	if (!ok)
		return false;
	*renewed = palloc0(sizeof(SnowflakeRenewal) * Max(1, res.nrows));
	*nrenewed = res.nrows;
	for (r = 0; r < res.nrows; r++)
	{
		(*renewed)[r].worker_id = pg_strtoint32(COORD_VALUE(&res, r, 0));
		(*renewed)[r].expires_us = int_value(&res, r, 1);
		(*renewed)[r].cap_unix_ms = int_value(&res, r, 2);
	}
	return true;
}

/*
 * Release the leases "refs", whose slots have stopped minting: report the
 * last millisecond each minted, which only raises the floor, and lower
 * minting_until, this holder's own cap, to the release time.  Returns the
 * worker IDs released as a list ("" for none), or NULL on failure.
 */
char *
snowflake_leases_release(const SnowflakeLeaseRef *refs, int n,
						 const SnowflakeHolder *me, int64 now_unix_ms,
						 char *err)
{
	const char *params[6];
	CoordResult res;
	StringInfoData list;
	int			r;

	if (n == 0)
		return "";
	params[0] = int_text(now_unix_ms);
	lease_ref_params(refs, n, me, params);
	if (!snowflake_coord_exec("UPDATE " LEASE_TABLE " AS l"
					" SET released_at = pg_catalog.now(), expires_at = pg_catalog.now(),"
					REPORT_MINTED
					"     minting_until = " MS_TO_TS("$1")
					HELD_ROWS
					" RETURNING l.worker_id",
					6, params, &res, err))
		return NULL;
	initStringInfo(&list);
	for (r = 0; r < res.nrows; r++)
		appendStringInfo(&list, "%s%s", r > 0 ? ", " : "", COORD_VALUE(&res, r, 0));
	return list.data;
}

/*
 * Up to "limit" free worker IDs from first to last: this server's own
 * released or expired ones first, then never used ones, lowest first, then
 * the longest expired; leaving out those whose floor is at or past
 * floor_limit_unix_ms (a previous holder's clock ran so far ahead that this
 * server would wait for it).
 */
bool
snowflake_free_worker_ids(int32 first, int32 last, int limit,
						  const SnowflakeHolder *me, int64 floor_limit_unix_ms,
						  int32 **ids, int *nids, char *err)
{
	const char *params[7];
	CoordResult res;
	int			r;

	params[0] = int_text(first);
	params[1] = int_text(last);
	params[2] = int_text(limit);
	params[3] = me->system_id;
	params[4] = me->host;
	params[5] = me->port;
	params[6] = int_text(floor_limit_unix_ms);
	if (!snowflake_coord_exec(psprintf("SELECT g.w FROM pg_catalog.generate_series($1::pg_catalog.int4, $2::pg_catalog.int4) AS g(w)"
					" LEFT JOIN " LEASE_TABLE " l ON l.worker_id OPERATOR(pg_catalog.=) g.w"
					" WHERE (l.worker_id IS NULL OR l.released_at IS NOT NULL"
					"        OR l.expires_at OPERATOR(pg_catalog.<) pg_catalog.now())"
					"   AND (GREATEST(l.last_minted_at, l.minting_until) IS NULL"
					"        OR GREATEST(l.last_minted_at, l.minting_until)"
					"           OPERATOR(pg_catalog.<) " MS_TO_TS("$7") ")"
					"%s"
					" ORDER BY (l.holder_system_id OPERATOR(pg_catalog.=) $4"
					"           AND l.holder_host OPERATOR(pg_catalog.=) $5"
					"           AND l.holder_port OPERATOR(pg_catalog.=) $6::pg_catalog.int4) IS NOT TRUE,"
					"          l.worker_id IS NOT NULL, l.expires_at, g.w"
					" LIMIT $3::pg_catalog.int4",
					snowflake_lease_quarantine_table ? NOT_QUARANTINED("g.w") : ""),
					7, params, &res, err))
		return false;
	*ids = palloc(sizeof(int32) * Max(1, res.nrows));
	*nids = res.nrows;
	for (r = 0; r < res.nrows; r++)
		(*ids)[r] = pg_strtoint32(COORD_VALUE(&res, r, 0));
	return true;
}
