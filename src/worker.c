/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background workers: registration and main loops.
 *
 * "snowflake guard" watches the clock and keeps the durable high-water
 * mark (guard.c); "snowflake lease keeper" keeps the worker ID leases
 * (lease.c).  They are separate so that a slow or absent coordinator never
 * holds up the high-water mark.
 *
 * One worker per server, started once the server is consistent (so it also
 * runs on a hot standby, where it only watches the clock).  It connects to
 * snowflake.database and, on every tick, runs the clock guard and keeps the
 * durable high-water mark ahead of the clock (guard.c).  Backends that reach
 * the mark set its latch.  If it exits, the postmaster starts it again after
 * a second; meanwhile minting goes on up to the mark and then stops.
 *
 * Both workers run as the bootstrap superuser in a database ordinary roles
 * may use, so nothing those roles can set or create may change what the
 * workers execute: every session setting that could (search_path first of
 * all, then the defaults a database or role setting can change) is pinned
 * here with PGC_S_OVERRIDE, which no ALTER DATABASE/ROLE ... SET outranks,
 * and every SQL statement the workers run names its objects with their
 * schema.  Each worker transaction goes through snowflake_worker_xact_begin()
 * and _end(), which also enforce statement_timeout: PostgreSQL arms it only
 * for statements from a client, never for SPI in a background worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "generator.h"
#include "guard.h"
#include "lease.h"
#include "snowflake.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

PGDLLEXPORT void snowflake_worker_main(Datum main_arg);

PGDLLEXPORT void snowflake_lease_worker_main(Datum main_arg);

static void
register_worker(const char *name, const char *function)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, "snowflake", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, name, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

void
snowflake_register_workers(void)
{
	register_worker("snowflake guard", "snowflake_worker_main");
	register_worker("snowflake lease keeper", "snowflake_lease_worker_main");
}

/*
 * Pin every setting of this worker's session that a database or role
 * setting could otherwise change under it (see the file header).
 */
static void
pin_session_settings(const char *statement_timeout)
{
	static const char *const pinned[][2] = {
		{"search_path", "pg_catalog, pg_temp"},
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"default_transaction_deferrable", "off"},
		{"idle_in_transaction_session_timeout", "0"},
		{"default_tablespace", ""},
		{"default_table_access_method", "heap"},
		{"check_function_bodies", "on"},
		{"DateStyle", "ISO, YMD"},
		{"IntervalStyle", "postgres"},
		{"TimeZone", "UTC"},
		{"extra_float_digits", "1"},
		{"client_min_messages", "warning"},
		/* the mark and embedded lease rows must be on disk before use */
		{"synchronous_commit", "local"},
		/* a lock held on a state table is a problem to report, not a hang */
		{"lock_timeout", "1s"},
	};
	int			i;

	for (i = 0; i < lengthof(pinned); i++)
		SetConfigOption(pinned[i][0], pinned[i][1], PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", statement_timeout, PGC_SUSET,
					PGC_S_OVERRIDE);
}

/*
 * Start a worker transaction with SPI connected, a snapshot, and
 * statement_timeout armed.  End it with snowflake_worker_xact_end(), or on
 * error with snowflake_worker_xact_abort().
 */
void
snowflake_worker_xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
}

void
snowflake_worker_xact_end(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
snowflake_worker_xact_abort(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
}

static void
worker_exit(int code, Datum arg)
{
	snowflake_guard_stop();
}

static void
keeper_exit(int code, Datum arg)
{
	snowflake_lease_keeper_stop();
}

void
snowflake_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(snowflake_database, NULL, 0);

	pin_session_settings("10s");

	snowflake_guard_start();
	before_shmem_exit(worker_exit, (Datum) 0);

	for (;;)
	{
		int64		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		snowflake_guard_watch_clock();
		sleep_ms = snowflake_guard_keep_mark();

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) sleep_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * The lease keeper.  SIGTERM (shutdown, or pg_terminate_backend) releases
 * the leases before the worker exits; the postmaster starts it again after
 * a second unless the server is shutting down.
 */
void
snowflake_lease_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(snowflake_database, NULL, 0);
	pgstat_report_appname("snowflake lease keeper");

	pin_session_settings("5s");

	snowflake_lease_keeper_start();
	before_shmem_exit(keeper_exit, (Datum) 0);

	for (;;)
	{
		int64		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
		{
			snowflake_lease_keeper_release();
			proc_exit(1);
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		sleep_ms = snowflake_lease_keeper_tick();

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) sleep_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
