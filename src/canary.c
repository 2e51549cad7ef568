/*-------------------------------------------------------------------------
 *
 * canary.c
 *		The duplicate canary on the lease keeper's side: its tables on the
 *		coordinator, sending the samples, parking this server when a
 *		sampled ID turns out minted twice, the boot probe of a newly leased
 *		worker ID, and snowflake_canary_inject() to test all of it.
 *
 * The tables, next to the coordination table (in snowflake.database when
 * embedded), made by the first keeper whose role owns the coordination
 * table, readable by pg_monitor:
 *
 *	 snowflake_state.canary			one row per sampled ID (its primary key),
 *									with its worker ID and time and the
 *									holder that minted it (system identifier,
 *									host, port, fencing token).
 *	 snowflake_state.canary_hit		one row per duplicate found: the ID, its
 *									worker ID, both holders, when; cleared_at
 *									once an operator cleared it with
 *									snowflake_state.quarantine_clear(worker
 *									ID).  An uncleared row quarantines its
 *									worker ID: no keeper leases it.
 *
 * Each round of the lease keeper (lease.c), after the coordinator session
 * is ready and before renewals:
 *
 *	 1. Park or unpark: an uncleared hit naming this server (either holder
 *		of a duplicate, or the holder of a sample the boot probe found above
 *		a floor) parks it: every slot is unpublished and none is published
 *		(lease_keeper.c), and every mint refuses with SF012 (mint_wait.c).
 *		When the operator has cleared every such hit, it unparks, and the
 *		leases, renewed all along, are published again.
 *	 2. Send the samples the minting path left in the ring (canary_ring.c),
 *		in one INSERT ... ON CONFLICT DO NOTHING.  The IDs it did not insert
 *		are looked up in a second statement, with a fresh snapshot, so that
 *		a row another keeper committed meanwhile is seen: a row from another
 *		holder (another server, or this one under another fencing token) is
 *		a duplicate.  It is recorded as a hit and this server parks at once;
 *		the other holder parks at its next round.  A row of this very holder
 *		and token is this keeper's own, sent before and not acknowledged.
 *		Samples that could not be sent are kept for the next round.
 *	 3. About once a minute, delete samples older than
 *		snowflake.canary_retention.
 *
 * Nothing here fails a round or a lease: a statement that fails is logged
 * (once a minute) and tried again; samples the ring had no room for are
 * counted as dropped.  Nothing here runs on the minting path.
 *
 * Locking: parked and park_reason are in shared memory (shmem.h), written
 * here by the lease keeper only, park_reason under lease_mutex.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "canary.h"
#include "canary_ring.h"
#include "clock.h"
#include "config.h"
#include "coordinator.h"
#include "lease_keeper.h"
#include "lease_slots.h"
#include "lease_table.h"
#include "shmem.h"
#include "worker_session.h"

#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(snowflake_canary_inject);
PG_FUNCTION_INFO_V1(snowflake_canary_stats);

#define CANARY_TABLE	SNOWFLAKE_STATE_SCHEMA ".canary"
#define HIT_TABLE		SNOWFLAKE_STATE_SCHEMA ".canary_hit"

/* SQL for a timestamptz from Unix milliseconds. */
#define MS_TO_TS(x) \
	"pg_catalog.to_timestamp((" x ")::pg_catalog.float8 OPERATOR(pg_catalog./) 1000)"

/* How a holder is described in a hit, from columns prefixed "p". */
#define HOLDER_TEXT(p) \
	"pg_catalog.format('%s port %s (cluster_name \"%s\", system identifier %s, fencing token %s)'," \
	" " p "holder_host, " p "holder_port, " p "holder_cluster_name, " p "holder_system_id, " p "fencing_token)"

/* Whether the tables are there for this keeper to use, and to prune. */
static bool tables_ready = false;
static bool may_prune = false;

/* Samples taken out of the ring and not yet acknowledged by the coordinator. */
typedef struct PendingSample
{
	int64		id;
	int32		worker_id;
	int64		unix_ms;		/* its time field, in Unix milliseconds */
	int64		token;			/* fencing token of the lease it was minted
								 * under, 0 if none is held now */
} PendingSample;

static PendingSample *pending = NULL;
static int	npending = 0;

/*
 * Hits found by this keeper that the coordinator has not recorded yet (the
 * statement failed): the server stays parked, whatever the hit table says,
 * until each is recorded.  Kept in TopMemoryContext.
 */
#define MAX_UNRECORDED	64
typedef struct UnrecordedHit
{
	char	   *v[7];			/* kind, id, worker_id, a_system_id, a_host, a_port, a_holder */
	int64		my_token;
} UnrecordedHit;

static UnrecordedHit unrecorded[MAX_UNRECORDED];
static int	nunrecorded = 0;

static int64 last_prune = 0;
static char logged_err[COORD_ERRLEN];
static int64 logged_at = 0;

/* Log a canary statement that failed, once a minute per message. */
static void
log_problem(const char *what, const char *err)
{
	int64		now = snowflake_deadline_clock_ms();

	if (strcmp(err, logged_err) == 0 && now - logged_at < 60000)
		return;
	ereport(LOG,
			(errmsg("snowflake: duplicate canary: could not %s: %s", what, err)));
	strlcpy(logged_err, err, sizeof(logged_err));
	logged_at = now;
}

/*
 * Make the tables when missing (a keeper whose role owns the coordination
 * table), and see whether this keeper may use them.  Called whenever the
 * coordinator session is new.
 */
void
snowflake_canary_ensure(void)
{
	char		err[COORD_ERRLEN];
	CoordResult res;

	tables_ready = false;
	snowflake_lease_quarantine_table = false;
	if (!snowflake_coord_exec("DO $do$ BEGIN"
					" IF pg_catalog.to_regclass('" HIT_TABLE "') IS NOT NULL THEN"
					"  RETURN;"
					" END IF;"
					" IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c"
					"      WHERE c.oid OPERATOR(pg_catalog.=) '" SNOWFLAKE_STATE_SCHEMA ".worker_lease'::pg_catalog.regclass), 'USAGE') THEN"
					"  RETURN;"
					" END IF;"
					" CREATE TABLE " CANARY_TABLE " ("
					"  id pg_catalog.int8 PRIMARY KEY,"
					"  worker_id pg_catalog.int4 NOT NULL,"
					"  minted_at pg_catalog.timestamptz NOT NULL,"
					"  holder_system_id pg_catalog.text NOT NULL,"
					"  holder_host pg_catalog.text NOT NULL,"
					"  holder_port pg_catalog.int4 NOT NULL,"
					"  holder_cluster_name pg_catalog.text NOT NULL,"
					"  fencing_token pg_catalog.int8 NOT NULL,"
					"  recorded_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now());"
					" CREATE INDEX canary_worker_minted ON " CANARY_TABLE " (worker_id, minted_at);"
					" CREATE INDEX canary_recorded ON " CANARY_TABLE " (recorded_at);"
					" COMMENT ON TABLE " CANARY_TABLE " IS"
					"  'IDs sampled by the snowflake duplicate canary; an ID sampled twice is a duplicate';"
					" CREATE TABLE " HIT_TABLE " ("
					"  hit pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
					"  kind pg_catalog.text NOT NULL CHECK (kind OPERATOR(pg_catalog.=) ANY ('{duplicate,probe}'::pg_catalog.text[])),"
					"  id pg_catalog.int8 NOT NULL,"
					"  worker_id pg_catalog.int4 NOT NULL,"
					"  a_system_id pg_catalog.text NOT NULL, a_host pg_catalog.text NOT NULL,"
					"  a_port pg_catalog.int4 NOT NULL, a_holder pg_catalog.text NOT NULL,"
					"  b_system_id pg_catalog.text NOT NULL, b_host pg_catalog.text NOT NULL,"
					"  b_port pg_catalog.int4 NOT NULL, b_holder pg_catalog.text NOT NULL,"
					"  detected_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
					"  cleared_at pg_catalog.timestamptz,"
					"  cleared_by pg_catalog.name);"
					" CREATE INDEX canary_hit_open ON " HIT_TABLE " (worker_id) WHERE cleared_at IS NULL;"
					" COMMENT ON TABLE " HIT_TABLE " IS"
					"  'Duplicates found by the snowflake duplicate canary; an uncleared row quarantines its worker ID';"
					" CREATE FUNCTION " SNOWFLAKE_STATE_SCHEMA ".quarantine_clear(worker pg_catalog.int4)"
					"  RETURNS pg_catalog.int8 LANGUAGE sql"
					"  SET search_path = pg_catalog, pg_temp AS $f$"
					"   WITH cleared AS ("
					"    UPDATE " HIT_TABLE " h SET cleared_at = pg_catalog.now(), cleared_by = CURRENT_USER"
					"     WHERE h.worker_id OPERATOR(pg_catalog.=) worker AND h.cleared_at IS NULL"
					"     RETURNING h.hit),"
					"   forgotten AS ("
					"    DELETE FROM " CANARY_TABLE " c WHERE c.worker_id OPERATOR(pg_catalog.=) worker"
					"     AND EXISTS (SELECT FROM cleared))"
					"   SELECT pg_catalog.count(*) FROM cleared"
					"  $f$;"
					" COMMENT ON FUNCTION " SNOWFLAKE_STATE_SCHEMA ".quarantine_clear(pg_catalog.int4) IS"
					"  'Clear the duplicate canary''s quarantine of a worker ID (and forget its samples); returns the hits cleared';"
					" REVOKE ALL ON FUNCTION " SNOWFLAKE_STATE_SCHEMA ".quarantine_clear(pg_catalog.int4) FROM PUBLIC;"
					" GRANT SELECT ON " CANARY_TABLE ", " HIT_TABLE " TO pg_monitor;"
					" BEGIN"
					"  GRANT USAGE ON SCHEMA " SNOWFLAKE_STATE_SCHEMA " TO pg_monitor;"
					" EXCEPTION WHEN insufficient_privilege THEN NULL;"
					" END;"
					" END $do$",
					0, NULL, NULL, err))
	{
		log_problem("create its tables", err);
		return;
	}
	if (!snowflake_coord_exec("SELECT pg_catalog.to_regclass('" HIT_TABLE "') IS NOT NULL"
					"   AND pg_catalog.has_table_privilege('" HIT_TABLE "', 'SELECT, INSERT')"
					"   AND pg_catalog.has_table_privilege('" CANARY_TABLE "', 'SELECT, INSERT'),"
					" pg_catalog.to_regclass('" CANARY_TABLE "') IS NOT NULL"
					"   AND pg_catalog.has_table_privilege('" CANARY_TABLE "', 'DELETE')",
					0, NULL, &res, err))
	{
		log_problem("look for its tables", err);
		return;
	}
	tables_ready = strcmp(COORD_VALUE(&res, 0, 0), "t") == 0;
	may_prune = strcmp(COORD_VALUE(&res, 0, 1), "t") == 0;
	snowflake_lease_quarantine_table = tables_ready;
	if (!tables_ready)
		ereport(LOG,
				(errmsg("snowflake: the duplicate canary is off: its tables on the coordinator are missing or this keeper's role may not read and write them"),
				 errhint("Let the role that owns snowflake_state.worker_lease run a lease keeper once, or grant SELECT and INSERT on snowflake_state.canary and snowflake_state.canary_hit.")));
}

/* Stop minting at once: no slot is published while parked. */
static void
park(const char *reason)
{
	SnowflakeShared *sh = snowflake_shared;
	bool		was = pg_atomic_read_u32(&sh->parked) != 0;
	int			i;

	SpinLockAcquire(&sh->lease_mutex);
	strlcpy(sh->park_reason, reason, sizeof(sh->park_reason));
	SpinLockRelease(&sh->lease_mutex);
	pg_atomic_write_u32(&sh->parked, 1);
	pg_memory_barrier();
	for (i = 0; i < sh->nslots; i++)
	{
		if (snowflake_keeper_leases[i].worker_id < 0)
			continue;
		snowflake_keeper_unpublish(i);
		snowflake_lease_info_set_state(i, SNOWFLAKE_LEASE_PARKED,
									   snowflake_keeper_leases[i].worker_id);
	}
	if (!was)
		ereport(WARNING,
				(errmsg("snowflake: minting is parked: the duplicate canary found %s", reason),
				 errhint("Every mint on this server refuses (SQLSTATE SF012) until the quarantine is cleared on the coordinator with snowflake_state.quarantine_clear(worker_id).")));
}

static void
unpark(void)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->lease_mutex);
	sh->park_reason[0] = '\0';
	SpinLockRelease(&sh->lease_mutex);
	pg_atomic_write_u32(&sh->parked, 0);
	ereport(LOG,
			(errmsg("snowflake: the duplicate canary's quarantine was cleared; minting resumes")));
}

static bool record_hit(const char *kind, const char *id, const char *worker_id,
					   const char *a_system_id, const char *a_host, const char *a_port,
					   const char *a_holder, int64 my_token, char *err);

/* Keep a hit the coordinator did not take, to record it at the next round. */
static void
remember_hit(const char *kind, const char *id, const char *worker_id,
			 const char *a_system_id, const char *a_host, const char *a_port,
			 const char *a_holder, int64 my_token)
{
	UnrecordedHit *h;
	const char *v[7] = {kind, id, worker_id, a_system_id, a_host, a_port, a_holder};
	int			i;

	if (nunrecorded == MAX_UNRECORDED)
		return;					/* parked anyway; the rest are found again */
	h = &unrecorded[nunrecorded++];
	for (i = 0; i < 7; i++)
		h->v[i] = MemoryContextStrdup(TopMemoryContext, v[i] ? v[i] : "");
	h->my_token = my_token;
}

/* Record the hits kept by remember_hit(); false if one still fails. */
static bool
record_unrecorded(char *err)
{
	while (nunrecorded > 0)
	{
		UnrecordedHit *h = &unrecorded[nunrecorded - 1];
		int			i;

		if (!record_hit(h->v[0], h->v[1], h->v[2], h->v[3], h->v[4], h->v[5],
						h->v[6], h->my_token, err))
			return false;
		for (i = 0; i < 7; i++)
			pfree(h->v[i]);
		nunrecorded--;
	}
	return true;
}

/*
 * Step 1: park while an uncleared hit names this server (or one found here
 * is not recorded yet), unpark after.
 */
static bool
follow_hits(char *err)
{
	const SnowflakeHolder *me = &snowflake_keeper_server;
	const char *params[3] = {me->system_id, me->host, me->port};
	CoordResult res;

	if (!record_unrecorded(err))
		return false;
	if (!snowflake_coord_exec("SELECT pg_catalog.format('ID %s under worker ID %s, minted by %s and by %s',"
					"   h.id, h.worker_id, h.a_holder, h.b_holder), h.kind"
					" FROM " HIT_TABLE " h"
					" WHERE h.cleared_at IS NULL"
					"   AND ((h.a_system_id OPERATOR(pg_catalog.=) $1 AND h.a_host OPERATOR(pg_catalog.=) $2"
					"         AND h.a_port OPERATOR(pg_catalog.=) $3::pg_catalog.int4)"
					"     OR (h.kind OPERATOR(pg_catalog.=) 'duplicate'"
					"         AND h.b_system_id OPERATOR(pg_catalog.=) $1 AND h.b_host OPERATOR(pg_catalog.=) $2"
					"         AND h.b_port OPERATOR(pg_catalog.=) $3::pg_catalog.int4))"
					" ORDER BY h.hit LIMIT 1",
					3, params, &res, err))
		return false;
	if (res.nrows > 0)
	{
		char	   *reason;

		if (strcmp(COORD_VALUE(&res, 0, 1), "probe") == 0)
			reason = psprintf("a sample above a worker ID's floor: %s", COORD_VALUE(&res, 0, 0));
		else
			reason = psprintf("a duplicate: %s", COORD_VALUE(&res, 0, 0));
		park(reason);
	}
	else if (pg_atomic_read_u32(&snowflake_shared->parked) != 0)
		unpark();
	return true;
}

/* Record a hit (kind "duplicate" or "probe"); "a" is the other holder. */
static bool
record_hit(const char *kind, const char *id, const char *worker_id,
		   const char *a_system_id, const char *a_host, const char *a_port,
		   const char *a_holder, int64 my_token, char *err)
{
	const SnowflakeHolder *me = &snowflake_keeper_server;
	const char *params[12];

	params[0] = kind;
	params[1] = id;
	params[2] = worker_id;
	params[3] = a_system_id;
	params[4] = a_host;
	params[5] = a_port;
	params[6] = a_holder;
	params[7] = me->system_id;
	params[8] = me->host;
	params[9] = me->port;
	params[10] = me->cluster_name;
	params[11] = psprintf(INT64_FORMAT, my_token);
	return snowflake_coord_exec("INSERT INTO " HIT_TABLE " (kind, id, worker_id, a_system_id, a_host, a_port,"
					"   a_holder, b_system_id, b_host, b_port, b_holder)"
					" VALUES ($1, $2::pg_catalog.int8, $3::pg_catalog.int4, $4, $5, $6::pg_catalog.int4, $7,"
					"   $8, $9, $10::pg_catalog.int4,"
					"   pg_catalog.format('%s port %s (cluster_name \"%s\", system identifier %s, fencing token %s)',"
					"     $9::pg_catalog.text, $10::pg_catalog.text, $11::pg_catalog.text,"
					"     $8::pg_catalog.text, $12::pg_catalog.text))",
					12, params, NULL, err);
}

/* Step 2: send the samples; a conflict with another holder is a hit. */
static bool
send_samples(char *err)
{
	const SnowflakeHolder *me = &snowflake_keeper_server;
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	StringInfoData ids,
				workers,
				times,
				tokens;
	const char *params[8];
	CoordResult res;
	int64	   *taken;
	int			ntaken;
	int			i;
	int			r;

	if (pending == NULL)
		pending = MemoryContextAlloc(TopMemoryContext,
									 sizeof(PendingSample) * SNOWFLAKE_CANARY_RING_SIZE);
	taken = palloc(sizeof(int64) * SNOWFLAKE_CANARY_RING_SIZE);
	ntaken = snowflake_canary_take(taken, SNOWFLAKE_CANARY_RING_SIZE - npending);
	for (i = 0; i < ntaken; i++)
	{
		SnowflakeFields f;
		int			slot;

		snowflake_decode_id(layout, taken[i], &f);
		slot = snowflake_keeper_slot_of(f.worker_id);
		pending[npending].id = taken[i];
		pending[npending].worker_id = f.worker_id;
		pending[npending].unix_ms = snowflake_cluster_ms_to_unix(f.units);
		pending[npending].token = slot >= 0 ? snowflake_keeper_leases[slot].token : 0;
		npending++;
	}
	if (npending == 0)
		return true;

	initStringInfo(&ids);
	initStringInfo(&workers);
	initStringInfo(&times);
	initStringInfo(&tokens);
	for (i = 0; i < npending; i++)
	{
		const char *sep = i > 0 ? "," : "{";

		appendStringInfo(&ids, "%s" INT64_FORMAT, sep, pending[i].id);
		appendStringInfo(&workers, "%s%d", sep, pending[i].worker_id);
		appendStringInfo(&times, "%s" INT64_FORMAT, sep, pending[i].unix_ms);
		appendStringInfo(&tokens, "%s" INT64_FORMAT, sep, pending[i].token);
	}
	appendStringInfoChar(&ids, '}');
	appendStringInfoChar(&workers, '}');
	appendStringInfoChar(&times, '}');
	appendStringInfoChar(&tokens, '}');
	params[0] = ids.data;
	params[1] = workers.data;
	params[2] = times.data;
	params[3] = tokens.data;
	params[4] = me->system_id;
	params[5] = me->host;
	params[6] = me->port;
	params[7] = me->cluster_name;
	if (!snowflake_coord_exec("INSERT INTO " CANARY_TABLE " AS c (id, worker_id, minted_at, holder_system_id,"
					"   holder_host, holder_port, holder_cluster_name, fencing_token)"
					" SELECT v.id, v.w, " MS_TO_TS("v.ms") ", $5, $6, $7::pg_catalog.int4, $8, v.t"
					" FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int4[]),"
					"   pg_catalog.unnest($3::pg_catalog.int8[]), pg_catalog.unnest($4::pg_catalog.int8[])) AS v(id, w, ms, t)"
					" ON CONFLICT (id) DO NOTHING",
					8, params, &res, err))
		return false;

	/*
	 * A fresh snapshot: every row of another holder for these IDs, whether
	 * it was there before or committed while the insert waited on it.
	 */
	params[0] = ids.data;
	params[1] = tokens.data;
	params[2] = me->system_id;
	params[3] = me->host;
	params[4] = me->port;
	if (!snowflake_coord_exec("SELECT c.id, c.worker_id, c.holder_system_id, c.holder_host, c.holder_port,"
					"   " HOLDER_TEXT("c.") ", v.t"
					" FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int8[])) AS v(id, t)"
					" JOIN " CANARY_TABLE " c ON c.id OPERATOR(pg_catalog.=) v.id"
					" WHERE NOT (c.holder_system_id OPERATOR(pg_catalog.=) $3"
					"   AND c.holder_host OPERATOR(pg_catalog.=) $4"
					"   AND c.holder_port OPERATOR(pg_catalog.=) $5::pg_catalog.int4"
					"   AND c.fencing_token OPERATOR(pg_catalog.=) v.t)",
					5, params, &res, err))
		return false;
	pg_atomic_fetch_add_u64(&snowflake_canary_ring->sent, npending);
	npending = 0;

	for (r = 0; r < res.nrows; r++)
	{
		char	   *reason;

		if (!record_hit("duplicate", COORD_VALUE(&res, r, 0), COORD_VALUE(&res, r, 1),
						COORD_VALUE(&res, r, 2), COORD_VALUE(&res, r, 3),
						COORD_VALUE(&res, r, 4), COORD_VALUE(&res, r, 5),
						strtoi64(COORD_VALUE(&res, r, 6), NULL, 10), err))
		{
			log_problem("record a duplicate", err);
			remember_hit("duplicate", COORD_VALUE(&res, r, 0), COORD_VALUE(&res, r, 1),
						 COORD_VALUE(&res, r, 2), COORD_VALUE(&res, r, 3),
						 COORD_VALUE(&res, r, 4), COORD_VALUE(&res, r, 5),
						 strtoi64(COORD_VALUE(&res, r, 6), NULL, 10));
		}
		reason = psprintf("a duplicate: ID %s under worker ID %s, minted by %s and by %s port %s (cluster_name \"%s\", system identifier %s, fencing token %s)",
						  COORD_VALUE(&res, r, 0), COORD_VALUE(&res, r, 1),
						  COORD_VALUE(&res, r, 5), me->host, me->port,
						  me->cluster_name, me->system_id, COORD_VALUE(&res, r, 6));
		park(reason);
	}
	return true;
}

/* Step 3: forget samples older than snowflake.canary_retention. */
static void
prune(void)
{
	char		err[COORD_ERRLEN];
	const char *params[1];
	int64		now = snowflake_deadline_clock_ms();

	if (snowflake_canary_retention == 0 || (last_prune != 0 && now - last_prune < 60000))
		return;
	last_prune = now;
	params[0] = psprintf("%d", snowflake_canary_retention);
	if (may_prune &&
		!snowflake_coord_exec("DELETE FROM " CANARY_TABLE " c WHERE c.recorded_at OPERATOR(pg_catalog.<)"
					" (pg_catalog.now() OPERATOR(pg_catalog.-)"
					"  pg_catalog.make_interval(secs => $1::pg_catalog.float8))",
					1, params, NULL, err))
		log_problem("delete old samples", err);
}

/*
 * One round of the canary, from the lease keeper's round once the
 * coordinator session is ready.  Never fails the round.
 */
void
snowflake_canary_round(void)
{
	char		err[COORD_ERRLEN];

	if (!tables_ready)
		return;
	err[0] = '\0';
	if (!follow_hits(err))
	{
		log_problem("look for duplicates naming this server", err);
		return;
	}
	if (!send_samples(err))
	{
		log_problem("send its samples", err);
		return;
	}
	prune();
}

/*
 * The boot probe: before a newly leased worker ID mints, look for samples
 * under it above its floor (floor_unix_ms, -1 for a worker ID never
 * leased).  There should be none: the floor is at or above everything its
 * earlier holders could mint.  If there is one, record it as a hit, which
 * quarantines the worker ID and parks the sample's holder, and say why in
 * "why".
 */
SnowflakeProbeResult
snowflake_canary_probe(int32 worker_id, int64 floor_unix_ms, char *why,
					   size_t whylen, char *err)
{
	const char *params[2];
	CoordResult res;

	if (!tables_ready)
		return SNOWFLAKE_PROBE_CLEAR;
	params[0] = psprintf("%d", worker_id);
	params[1] = floor_unix_ms >= 0 ? psprintf(INT64_FORMAT, floor_unix_ms) : NULL;
	if (!snowflake_coord_exec("SELECT c.id, c.holder_system_id, c.holder_host, c.holder_port,"
					"   " HOLDER_TEXT("c.") ", c.minted_at"
					" FROM " CANARY_TABLE " c"
					" WHERE c.worker_id OPERATOR(pg_catalog.=) $1::pg_catalog.int4"
					"   AND ($2::pg_catalog.int8 IS NULL OR c.minted_at OPERATOR(pg_catalog.>) " MS_TO_TS("$2") ")"
					" ORDER BY c.minted_at LIMIT 1",
					2, params, &res, err))
		return SNOWFLAKE_PROBE_ERROR;
	if (res.nrows == 0)
		return SNOWFLAKE_PROBE_CLEAR;
	snprintf(why, whylen, "quarantined by the duplicate canary's boot probe: sample ID %s (minted at %s by %s) is above the worker ID's floor",
			 COORD_VALUE(&res, 0, 0), COORD_VALUE(&res, 0, 5), COORD_VALUE(&res, 0, 4));
	if (!record_hit("probe", COORD_VALUE(&res, 0, 0), params[0],
					COORD_VALUE(&res, 0, 1), COORD_VALUE(&res, 0, 2),
					COORD_VALUE(&res, 0, 3), COORD_VALUE(&res, 0, 4), 0, err))
		return SNOWFLAKE_PROBE_ERROR;
	ereport(WARNING,
			(errmsg("snowflake: refused to mint under worker ID %d: %s", worker_id, why),
			 errhint("The worker ID is quarantined until snowflake_state.quarantine_clear(%d) is run on the coordinator.",
					 worker_id)));
	return SNOWFLAKE_PROBE_REFUSED;
}

/*
 * snowflake_canary_inject(id bigint): leave an ID in the canary's ring as
 * if this server had minted it, so a test can make two servers' samples
 * collide.  Superusers only (and revoked from PUBLIC).
 */
Datum
snowflake_canary_inject(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	SnowflakeShared *sh;
	Latch	   *latch;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function snowflake_canary_inject"),
				 errdetail("Only superusers may inject samples into the duplicate canary.")));
	snowflake_require_preload();
	if (id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake ID " INT64_FORMAT " is negative", id)));
	snowflake_canary_push(id);
	ereport(LOG,
			(errmsg("snowflake: injected ID " INT64_FORMAT " into the duplicate canary's sample", id)));

	/* the keeper sends it at its next round: have that round now */
	sh = snowflake_shared;
	SpinLockAcquire(&sh->lease_mutex);
	latch = sh->keeper_latch;
	SpinLockRelease(&sh->lease_mutex);
	if (latch)
		SetLatch(latch);
	PG_RETURN_VOID();
}

/*
 * snowflake_canary_stats(): the canary's counters on this server and
 * whether it is parked, and why.
 */
Datum
snowflake_canary_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	char		reason[sizeof(((SnowflakeShared *) NULL)->park_reason)];
	bool		parked;

	snowflake_require_preload();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	parked = snowflake_parked(reason, sizeof(reason));
	values[0] = Int32GetDatum(snowflake_canary_every);
	values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&snowflake_canary_ring->sampled));
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&snowflake_canary_ring->sent));
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&snowflake_canary_ring->dropped));
	values[4] = BoolGetDatum(parked);
	if (parked)
		values[5] = CStringGetTextDatum(reason);
	else
		nulls[5] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
