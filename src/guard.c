/*-------------------------------------------------------------------------
 *
 * guard.c
 *		The clock guard and the durable high-water mark.
 *
 * Run by the background worker (worker.c), beside the minting path and
 * never in it.
 *
 * Clock guard: on every tick (every Min(100 ms, horizon / 4) while minting
 * goes on, every second while idle) the worker reads the wall clock and the
 * monotonic clock; a difference between how far each moved is a step of the
 * wall clock.  Steps of a millisecond or more are logged with their size and
 * counted, backward and forward, and the clock's state (behind the highest
 * minted millisecond or not) is published for snowflake_status().
 *
 * High-water mark: slots mint only below SnowflakeShared.hwm_ms.  The
 * worker keeps that mark snowflake.high_water_horizon ahead of the clock,
 * and publishes a new mark only after the transaction that stored it in the
 * snowflake_server_state table of snowflake.database has committed with
 * its WAL flushed.  The mark is therefore never behind an ID handed out,
 * on this server or, once replayed, on a standby.  When the worker starts
 * (server start, crash restart, promotion) it loads the stored mark, raises
 * the minting floor to it, so minting resumes only once the wall clock has
 * passed it, and only then publishes a mark.  It does so when the first
 * backend asks to mint (SnowflakeShared.mint_wanted), not before, so that
 * what it records is the layout the server first minted with.  While the
 * server is idle (snowflake.idle_after without a mint) the mark stays where
 * it is, so nothing is written; the first backend that reaches it asks
 * (mint_wanted) and waits for the one commit that stores a new mark
 * (docs/idle.md).  The table
 * (snowflake_state.server_state, created by the worker outside the
 * extension, so that DROP EXTENSION cannot lose it) also records the
 * layout the server first minted with; a different configured layout
 * publishes no mark, and minting refuses with both layouts named.
 *
 * At a clean shutdown (SIGTERM while the postmaster is stopping, which it
 * writes into postmaster.pid before it signals anyone), the worker waits
 * until no other session is left that could mint -- client backends and
 * background workers other than the lease keeper; the postmaster accepts
 * no new ones by then -- and stores the mark one millisecond above max_ms,
 * the highest millisecond minted.  A restart then waits for the clock to
 * pass the last ID minted, not a mark up to the horizon ahead of it.  If
 * some session is still there after SHUTDOWN_WAIT_MS, or the SIGTERM came
 * from anything but a shutdown, the stored mark stays as it is.
 *
 * Before it touches the table, the worker checks that schema
 * snowflake_state and the table belong to a superuser (see
 * SNOWFLAKE_OWNER_PROBLEMS_SQL); anything else refuses minting with the
 * owner named.  It takes no lock any other role could hold against it.
 *
 * Shared state written here: hwm_ms, max_ms (raised only), resume_after_ms,
 * resume_horizon_ms and the clock counters with atomics; clock_state, layout_mismatch, the
 * layout strings, mark_problem and worker_latch under guard_mutex.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "config.h"
#include "guard.h"
#include "shmem.h"
#include "worker_session.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pidfile.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include <time.h>

/* A wall clock step this large (ms) or larger is logged and counted. */
#define STEP_THRESHOLD_MS	1

/*
 * How often the guard looks at the clock while the server is idle (or a
 * standby, or before its first mint), in ms; busy, it ticks every
 * Min(100, snowflake.high_water_horizon / 4) ms.  Steps are measured the
 * same whatever the tick (see snowflake_guard_watch_clock), so a slower
 * tick only sees a step later; backends that mint see a step back
 * themselves at once (mint_wait.c).
 */
#define IDLE_TICK_MS		1000

/*
 * How long, at a clean shutdown, the worker waits for the other sessions
 * to end before it stores the mark at the last minted millisecond.
 */
#define SHUTDOWN_WAIT_MS	5000

static int64 last_wall_ns = -1;
static int64 last_mono_ns = -1;
static bool mark_loaded = false;
static SnowflakeIdleWatch idle_watch = SNOWFLAKE_IDLE_WATCH_INIT;
static uint64 logged_seen = 0;	/* regressions_seen_minting logged */
static uint64 spare_ids_logged = 0; /* ids_on_spares when last logged */
static bool on_spares = false;	/* logged that minting moved onto spares */
#define STATE_TABLE SNOWFLAKE_STATE_SCHEMA ".server_state"

/* A description of the cluster layout that does not depend on formatting. */
void
snowflake_describe_layout(char *buf, size_t len)
{
	const SnowflakeLayout *l = &snowflake_cluster_layout;

	snprintf(buf, len,
			 "epoch " INT64_FORMAT " ms after 1970-01-01 UTC, %d worker bits, %d sequence bits, %d region bits",
			 l->epoch_ms, l->worker_bits, l->sequence_bits, l->region_bits);
}

void
snowflake_guard_start(void)
{
	SnowflakeShared *sh = snowflake_shared;
	SnowflakeClockSync sync;

	SpinLockAcquire(&sh->guard_mutex);
	snowflake_describe_layout(sh->configured_layout,
							  sizeof(sh->configured_layout));
	sh->worker_latch = MyLatch;
	sh->mark_problem[0] = '\0';
	SpinLockRelease(&sh->guard_mutex);
	logged_seen = pg_atomic_read_u64(&sh->regressions_seen_minting);
	spare_ids_logged = pg_atomic_read_u64(&sh->ids_on_spares);
	on_spares = false;

	/* the boot-time sanity check of the clock's synchronisation */
	sync = snowflake_clock_sync();
	if (sync.known && !sync.synchronized)
		ereport(WARNING,
				(errmsg("snowflake: the system clock is not synchronised"),
				 errdetail("The kernel reports the clock unsynchronised; its maximum error is %.0f ms.",
						   sync.max_error_ms),
				 errhint("Run an NTP daemon (chrony, systemd-timesyncd or ntpd).  IDs stay unique either way, but their order across servers follows the servers' clocks.")));
}

/* before_shmem_exit callback of the worker. */
void
snowflake_guard_stop(void)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->guard_mutex);
	sh->worker_latch = NULL;
	SpinLockRelease(&sh->guard_mutex);
}

/*
 * Minting moved onto the spare slots (snowflake.clock_step_policy = spare)
 * since the last tick, or, once the clock is no longer behind, back off
 * them: say so once each way.  Backends only count (ids_on_spares).
 */
static void
log_spares(SnowflakeClockState state)
{
	uint64		ids = pg_atomic_read_u64(&snowflake_shared->ids_on_spares);

	if (!on_spares && ids != spare_ids_logged)
	{
		ereport(LOG,
				(errmsg("snowflake: the clock is behind the highest millisecond minted by more than snowflake.max_clock_wait; minting goes on under spare worker IDs")));
		on_spares = true;
	}
	else if (on_spares && state == SNOWFLAKE_CLOCK_OK)
	{
		ereport(LOG,
				(errmsg("snowflake: the clock has caught up; minting is back on the slots after " UINT64_FORMAT " ID%s on spare worker IDs",
						ids - spare_ids_logged, ids - spare_ids_logged == 1 ? "" : "s")));
		on_spares = false;
		spare_ids_logged = ids;
	}
}

static void
set_problem(const char *problem)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->guard_mutex);
	strlcpy(sh->mark_problem, problem, sizeof(sh->mark_problem));
	SpinLockRelease(&sh->guard_mutex);
}

/* Repeat the start-up warning of a running-out time field once a day. */
static void
warn_daily_if_time_runs_out(int64 mono_ns)
{
	static int64 last_warned_ns = -1;

	if (last_warned_ns >= 0 &&
		mono_ns - last_warned_ns < INT64CONST(86400) * 1000000000)
		return;
	if (snowflake_warn_if_time_runs_out())
		last_warned_ns = mono_ns;
}

/* The guard's tick while minting goes on, in ms. */
static int64
busy_tick_ms(void)
{
	return Max(1, Min(100, snowflake_high_water_horizon / 4));
}

void
snowflake_guard_watch_clock(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		wall = snowflake_clock_ns(CLOCK_REALTIME);
	int64		mono = snowflake_clock_ns(CLOCK_MONOTONIC);
	int64		now_ms;
	SnowflakeClockState state;
	uint64		seen;

	if (last_wall_ns >= 0)
	{
		int64		step_ns = (wall - last_wall_ns) - (mono - last_mono_ns);

		/*
		 * The kernel slews CLOCK_REALTIME and CLOCK_MONOTONIC alike (NTP
		 * frequency, adjtime), so only a step makes them move apart.  The
		 * allowance, a thousandth of the time between ticks, is capped at
		 * that of a busy tick: an idle tick sees every step a busy one sees.
		 */
		int64		threshold_ns = STEP_THRESHOLD_MS * 1000000 +
			Min(mono - last_mono_ns, busy_tick_ms() * 1000000) / 1000;

		if (step_ns <= -threshold_ns)
		{
			uint64		max_ms = pg_atomic_read_u64(&sh->max_ms);
			uint64		counted = pg_atomic_read_u64(&sh->regression_counted_at);

			/*
			 * A step that leaves the clock below the highest minted
			 * millisecond may have been counted already by a backend that
			 * saw it first (mint_wait.c); count it once.
			 */
			if (wall / 1000000 - snowflake_cluster_layout.epoch_ms >= (int64) max_ms ||
				(counted != max_ms &&
				 pg_atomic_compare_exchange_u64(&sh->regression_counted_at,
												&counted, max_ms)))
				pg_atomic_fetch_add_u64(&sh->clock_steps_back, 1);
			snowflake_atomic_raise_u64(&sh->max_regression_ms,
									   (uint64) ((-step_ns) / 1000000));
			ereport(LOG,
					(errmsg("snowflake: the wall clock stepped back by " INT64_FORMAT ".%03d ms",
							(-step_ns) / 1000000, (int) (((-step_ns) / 1000) % 1000))));
		}
		else if (step_ns >= threshold_ns)
		{
			pg_atomic_fetch_add_u64(&sh->clock_steps_forward, 1);
			ereport(LOG,
					(errmsg("snowflake: the wall clock stepped forward by " INT64_FORMAT ".%03d ms",
							step_ns / 1000000, (int) ((step_ns / 1000) % 1000))));
		}
	}
	last_wall_ns = wall;
	last_mono_ns = mono;

	/* steps this worker missed between two ticks, seen by minting sessions */
	seen = pg_atomic_read_u64(&sh->regressions_seen_minting);
	if (seen != logged_seen)
	{
		uint64		behind = pg_atomic_exchange_u64(&sh->unlogged_regression_ms, 0);

		ereport(LOG,
				(errmsg("snowflake: minting sessions saw the wall clock up to " UINT64_FORMAT " ms behind the highest millisecond minted (" UINT64_FORMAT " time%s)",
						behind, seen - logged_seen, seen - logged_seen == 1 ? "" : "s")));
		logged_seen = seen;
	}

	now_ms = wall / 1000000 - snowflake_cluster_layout.epoch_ms;
	warn_daily_if_time_runs_out(mono);
	state = now_ms < (int64) pg_atomic_read_u64(&sh->max_ms) ?
		SNOWFLAKE_CLOCK_BEHIND : SNOWFLAKE_CLOCK_OK;
	SpinLockAcquire(&sh->guard_mutex);
	sh->clock_state = state;
	SpinLockRelease(&sh->guard_mutex);
	log_spares(state);
}

/*
 * Create schema snowflake_state and the state table when missing, and
 * check who owns them (see SNOWFLAKE_OWNER_PROBLEMS_SQL); raise an error
 * that names the owner of anything this worker must not trust.  Caller is
 * in a transaction with SPI connected.
 */
static void
ensure_state_table(void)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		table = CStringGetTextDatum("server_state");
	Datum		args[1];

	/*
	 * The lease keeper may create the schema at the same moment (embedded
	 * leases): the loser of that race fails on a unique violation and the
	 * caller tries again at once.  No lock is taken for it, since any role
	 * can hold an advisory lock against the worker.
	 */
	if (SPI_execute("CREATE SCHEMA IF NOT EXISTS " SNOWFLAKE_STATE_SCHEMA,
					false, 0) != SPI_OK_UTILITY ||
		SPI_execute("CREATE TABLE IF NOT EXISTS " STATE_TABLE " ("
					" only_row pg_catalog.bool PRIMARY KEY DEFAULT true CHECK (only_row),"
					" high_water_mark pg_catalog.timestamptz,"
					" recorded_layout pg_catalog.text NOT NULL,"
					" updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now())",
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create table " STATE_TABLE);

	args[0] = PointerGetDatum(construct_array(&table, 1, TEXTOID, -1, false,
											  TYPALIGN_INT));
	if (SPI_execute_with_args(SNOWFLAKE_OWNER_PROBLEMS_SQL, 1, types, args,
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check the owner of " STATE_TABLE);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Drop or reassign it (as a superuser); the snowflake guard then creates its own.")));
}

/*
 * Load the stored mark, the horizon it was stored with, and the recorded
 * layout; create the state table in snowflake.database when missing.
 * Caller is in a transaction with SPI connected.  Returns false on a
 * layout mismatch.
 */
static bool
load_mark(int64 *mark, int64 *stored_horizon)
{
	SnowflakeShared *sh = snowflake_shared;
	char		configured[sizeof(sh->configured_layout)];
	char	   *recorded = NULL;
	bool		isnull;

	snowflake_describe_layout(configured, sizeof(configured));
	*stored_horizon = 0;

	ensure_state_table();
	if (SPI_execute("SELECT (EXTRACT(epoch FROM high_water_mark) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8,"
					" recorded_layout,"
					" (EXTRACT(epoch FROM high_water_mark OPERATOR(pg_catalog.-) updated_at)"
					"   OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8"
					" FROM " STATE_TABLE " FOR UPDATE", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read " STATE_TABLE);
	if (SPI_processed == 0)
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(configured)};

		if (SPI_execute_with_args("INSERT INTO " STATE_TABLE " (high_water_mark, recorded_layout)"
								  " VALUES (NULL, $1)",
								  1, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not initialise " STATE_TABLE);
		*mark = 0;
		recorded = configured;
	}
	else
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		d = SPI_getbinval(row, desc, 1, &isnull);

		/* Unix ms to cluster ms; NULL: no mark stored yet */
		*mark = isnull ? 0 : Max(0, DatumGetInt64(d) - snowflake_cluster_layout.epoch_ms);
		recorded = SPI_getvalue(row, desc, 2);
		d = SPI_getbinval(row, desc, 3, &isnull);
		if (!isnull)
			*stored_horizon = DatumGetInt64(d);
	}

	SpinLockAcquire(&sh->guard_mutex);
	strlcpy(sh->recorded_layout, recorded, sizeof(sh->recorded_layout));
	sh->layout_mismatch = strcmp(recorded, configured) != 0;
	SpinLockRelease(&sh->guard_mutex);

	if (strcmp(recorded, configured) != 0)
	{
		ereport(WARNING,
				(errmsg("snowflake: the configured layout differs from the one recorded when this server first minted; minting is refused"),
				 errdetail("Recorded: %s. Configured: %s.", recorded, configured)));
		return false;
	}
	return true;
}

/* Store a new mark; caller is in a transaction with SPI connected. */
static void
store_mark(int64 mark)
{
	StringInfoData sql;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1];

	args[0] = TimestampTzGetDatum(snowflake_timestamp_from_units(&snowflake_cluster_layout, mark));
	initStringInfo(&sql);
	appendStringInfoString(&sql, "UPDATE " STATE_TABLE
						   " SET high_water_mark = $1, updated_at = pg_catalog.now()");
	if (SPI_execute_with_args(sql.data, 1, types, args, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not update " STATE_TABLE);
}

/*
 * After a start: load the stored mark, raise the minting floor to it (so
 * minting resumes only once the clock has passed it) and let *new_mark be
 * no lower.  Caller is in a transaction with SPI connected.  False on a
 * layout mismatch.
 */
static bool
resume_from_stored_mark(int64 *new_mark)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		stored = 0;
	int64		stored_horizon = 0;

	if (!load_mark(&stored, &stored_horizon))
		return false;
	/* the horizon first: a backend that sees the floor waits it */
	pg_atomic_write_u64(&sh->resume_horizon_ms,
						(uint64) Max(0, Min(stored_horizon, 60000)));
	pg_atomic_write_u64(&sh->resume_after_ms, (uint64) stored);
	pg_write_barrier();
	snowflake_atomic_raise_u64(&sh->max_ms, (uint64) stored);
	*new_mark = Max(*new_mark, stored);
	if (stored > 0)
		ereport(LOG,
				(errmsg("snowflake: minting resumes above the durable high-water mark %s",
						snowflake_units_text(&snowflake_cluster_layout, stored))));
	return true;
}

/* Whether the configured layout differs from the recorded one. */
static pg_noinline bool
layout_mismatched(void)
{
	bool		mismatch;

	SpinLockAcquire(&snowflake_shared->guard_mutex);
	mismatch = snowflake_shared->layout_mismatch;
	SpinLockRelease(&snowflake_shared->guard_mutex);
	return mismatch;
}

/*
 * Keep the durable mark ahead of the clock.  On a standby, only wait.
 * Returns how many milliseconds the caller may sleep before calling again.
 *
 * While the server is idle (snowflake.idle_after without a mint), the mark
 * stays where it is and nothing is written: backends mint below it as
 * before, and the first one that reaches it waits, with mint_wanted set,
 * for the one commit that stores a new mark (snowflake_await_mark).
 */
int64
snowflake_guard_keep_mark(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		horizon = snowflake_high_water_horizon;
	int64		tick;
	int64		now = snowflake_clock_read();
	int64		mark = (int64) pg_atomic_read_u64(&sh->hwm_ms);
	int64		floor = (int64) pg_atomic_read_u64(&sh->max_ms);
	int64		new_mark;
	bool		idle;
	bool		wanted;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (RecoveryInProgress())
		return IDLE_TICK_MS;

	if (layout_mismatched())
		return 1000;

	/*
	 * After a start, nothing is loaded or recorded until a backend wants to
	 * mint: the layout recorded is the one the server first minted with.
	 */
	if (!mark_loaded && pg_atomic_read_u32(&sh->mint_wanted) == 0)
		return IDLE_TICK_MS;

	idle = snowflake_idle_check(&idle_watch, snowflake_monotonic_ms());
	tick = idle ? IDLE_TICK_MS : busy_tick_ms();

	/* Enough room ahead of the clock and of the floor: nothing to do yet. */
	if (mark_loaded && now + horizon / 2 < mark && floor < mark)
		return Max(1, Min(tick, mark - horizon / 2 - now));

	/* Idle, and no backend waits at the mark: it stays where it is. */
	if (mark_loaded && idle && floor < mark &&
		pg_atomic_read_u32(&sh->mint_wanted) == 0)
		return tick;

	/* taken before the mark is stored: a backend that asks later asks again */
	wanted = pg_atomic_exchange_u32(&sh->mint_wanted, 0) != 0;

	/*
	 * A floor raised above the mark (snowflake_raise_floor, after a restore
	 * into a server whose clock is behind the restored IDs) is made durable
	 * like minted time: the mark goes past it.
	 */
	new_mark = Max(mark, Max(now, floor + 1) + horizon);

	PG_TRY();
	{
		bool		ok = true;

		snowflake_worker_xact_begin("snowflake: advancing the high-water mark");

		if (!mark_loaded)
			ok = resume_from_stored_mark(&new_mark);
		if (ok)
			store_mark(new_mark);

		snowflake_worker_xact_end();

		if (ok)
		{
			/* committed, WAL flushed: now backends may use it */
			if (mark_loaded && idle && wanted)
				pg_atomic_fetch_add_u64(&sh->idle_resumes, 1);
			mark_loaded = true;
			pg_atomic_write_u64(&sh->hwm_ms, (uint64) new_mark);
			set_problem("");
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		race;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		snowflake_worker_xact_abort();
		/* the backend that asked still waits (or has given up): ask again */
		if (wanted)
			pg_atomic_write_u32(&sh->mint_wanted, 1);
		/* the lease keeper created the schema at the same moment: again */
		race = edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION && !mark_loaded;
		if (!race)
		{
			set_problem(edata->message);
			ereport(LOG,
					(errmsg("snowflake: could not advance the high-water mark: %s",
							edata->message)));
		}
		FreeErrorData(edata);
		return race ? 1 : 1000;
	}
	PG_END_TRY();

	/* a backend resumed minting: look again as often as a busy server */
	return wanted ? busy_tick_ms() : tick;
}

/*
 * Whether the postmaster is shutting down: it writes "stopping" into line
 * LOCK_FILE_LINE_PM_STATUS of postmaster.pid before it signals its
 * children, and accepts no new session from then on.
 */
static bool
postmaster_stopping(void)
{
	FILE	   *f;
	char		line[MAXPGPATH];
	int			n = 0;
	bool		stopping = false;

	f = AllocateFile("postmaster.pid", "r");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		if (++n == LOCK_FILE_LINE_PM_STATUS)
		{
			stopping = strncmp(line, PM_STATUS_STOPPING,
							   strlen(PM_STATUS_STOPPING)) == 0;
			break;
		}
	}
	FreeFile(f);
	return stopping;
}

/*
 * Sessions left that could mint: client backends, and background workers
 * other than this one and the lease keeper (known by its bgw_type).  A session leaves the backend
 * status array only on its way out, after its last statement.
 */
static int
sessions_that_could_mint(void)
{
	int			n;
	int			i;
	int			count = 0;

	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_procpid <= 0 || be->st_procpid == MyProcPid)
			continue;
		if (be->st_backendType == B_BACKEND)
			count++;
		else if (be->st_backendType == B_BG_WORKER)
		{
			const char *type = GetBackgroundWorkerTypeByPid(be->st_procpid);

			if (type == NULL || strcmp(type, SNOWFLAKE_KEEPER_NAME) != 0)
				count++;
		}
	}
	pgstat_clear_backend_activity_snapshot();
	return count;
}

/*
 * At a clean shutdown: once no other session can mint, store the mark one
 * millisecond above the highest minted (see the file header).  Called by
 * the worker on SIGTERM, before it exits.
 */
void
snowflake_guard_shutdown(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		deadline;
	int64		mark;
	int64		last;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (!mark_loaded || RecoveryInProgress() || layout_mismatched() ||
		!postmaster_stopping())
		return;

	deadline = snowflake_monotonic_ms() + SHUTDOWN_WAIT_MS;
	while (sessions_that_could_mint() > 0)
	{
		if (snowflake_monotonic_ms() >= deadline)
		{
			ereport(LOG,
					(errmsg("snowflake: sessions still running at shutdown; the high-water mark stays where it is")));
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	pg_memory_barrier();
	mark = (int64) pg_atomic_read_u64(&sh->hwm_ms);
	last = (int64) pg_atomic_read_u64(&sh->max_ms);
	if (last + 1 >= mark)
		return;

	PG_TRY();
	{
		snowflake_worker_xact_begin("snowflake: storing the high-water mark at shutdown");
		store_mark(last + 1);
		snowflake_worker_xact_end();
		ereport(LOG,
				(errmsg("snowflake: stored the high-water mark %s, just above the last millisecond minted, for a quick restart",
						snowflake_units_text(&snowflake_cluster_layout, last + 1))));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		snowflake_worker_xact_abort();
		ereport(LOG,
				(errmsg("snowflake: could not store the high-water mark at shutdown; it stays where it is: %s",
						edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}
