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
 * Each runs once per server, started once the server is consistent (so
 * both also run on a hot standby, where the guard only watches the clock
 * and the keeper holds no lease), connected to snowflake.database.  The
 * guard's tick runs the clock watch and keeps the durable high-water mark
 * ahead of the clock; backends that reach the mark set its latch.  The
 * keeper's tick renews and leases; backends whose slots the clock carried
 * past their caps, or whose leases lapsed while the server was idle, set
 * its latch.  Both sleep as long as nothing is due (docs/idle.md).  If either exits, the postmaster starts it
 * again after a second; meanwhile minting goes on up to the mark, or until
 * the fencing deadlines, and then stops.
 *
 * Both pin their session settings first (worker_session.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "config.h"
#include "guard.h"
#include "lease.h"
#include "worker.h"
#include "worker_session.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

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
	register_worker(SNOWFLAKE_GUARD_NAME, "snowflake_worker_main");
	register_worker(SNOWFLAKE_KEEPER_NAME, "snowflake_lease_worker_main");
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

/*
 * The guard.  SIGTERM ends it; at a clean shutdown it first stores the mark
 * at the last minted millisecond (snowflake_guard_shutdown).  The
 * postmaster starts it again after a second unless the server is shutting
 * down.
 */
void
snowflake_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(snowflake_database, NULL, 0);

	snowflake_worker_pin_settings("10s");

	snowflake_guard_start();
	before_shmem_exit(worker_exit, (Datum) 0);

	for (;;)
	{
		int64		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
		{
			/* at a clean shutdown, the mark goes down to the last ID */
			snowflake_guard_shutdown();
			proc_exit(1);
		}
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
	pgstat_report_appname(SNOWFLAKE_KEEPER_NAME);

	snowflake_worker_pin_settings("5s");

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
