/*-------------------------------------------------------------------------
 *
 * snowflake.c
 *		Loading the extension: PG_MODULE_MAGIC, _PG_init and the shared
 *		memory hooks.
 *
 * _PG_init defines every setting and builds the cluster layout (config.c),
 * and, when loaded through shared_preload_libraries, checks them, asks for
 * shared memory (shmem.c) and registers the background workers
 * (worker.c).  Loaded any other way (CREATE EXTENSION in a server that
 * does not preload it) the decoding functions still work; minting raises
 * an error that names shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "callers.h"
#include "canary_ring.h"
#include "config.h"
#include "shmem.h"
#include "worker.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

/* All the shared memory the extension asks for. */
static Size
snowflake_total_shmem_size(void)
{
	return add_size(add_size(snowflake_shmem_size(),
							 snowflake_callers_shmem_size()),
					snowflake_canary_shmem_size());
}

#if PG_VERSION_NUM >= 150000
static void
snowflake_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(snowflake_total_shmem_size());
	snowflake_callers_shmem_request();
}
#endif

static void
snowflake_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	snowflake_shmem_init();
}

void
_PG_init(void)
{
	snowflake_define_settings();

	if (!process_shared_preload_libraries_in_progress)
		return;

	/* A server that mints must not start with a layout typed wrong. */
	snowflake_require_valid_layout();
	snowflake_check_worker_id_config();

	(void) snowflake_warn_if_time_runs_out();

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = snowflake_shmem_request;
#else
	RequestAddinShmemSpace(snowflake_total_shmem_size());
	snowflake_callers_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = snowflake_shmem_startup;

	/*
	 * pg_upgrade starts both clusters in binary-upgrade mode and needs their
	 * databases to itself (it drops and re-creates them, and assigns OIDs):
	 * no worker runs then, so nothing connects, creates state or leases.
	 * Minting refuses meanwhile; the state tables come across with the data.
	 */
	if (!IsBinaryUpgrade)
		snowflake_register_workers();
}
