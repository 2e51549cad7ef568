/*-------------------------------------------------------------------------
 *
 * adoption.c
 *		What bringing existing data under snowflake IDs needs from C:
 *		snowflake_backfill_id(), IDs for historical rows from their own
 *		timestamps under a worker ID reserved for backfilling; and
 *		snowflake_raise_floor(), which makes a server mint above IDs it did
 *		not mint itself (restored from another cluster's dump).
 *
 * Backfill:
 * Live minting never uses a worker ID listed in
 * snowflake.reserved_worker_ids (the lease keeper passes over them, and a
 * pinned one stops the server at start: config.c), so an ID composed here
 * under a reserved worker ID can never equal one minted live, whatever its
 * timestamp.  Uniqueness among backfilled IDs is the caller's: one
 * statement numbers the rows of each millisecond 0, 1, 2, ... (the
 * recipe in docs/adoption.md), and a millisecond with more rows than the
 * sequence field holds is refused here, never wrapped.
 *
 * Pure computation over the cluster layout and the settings: no shared
 * memory, no lock, so it works in a backend that is not preloaded too.
 *
 * Raising the floor: max_ms (the highest millisecond any slot has minted;
 * slots mint at or above it) is raised past the given time by CAS, as a
 * backend does after minting, so no slot mints in or below that
 * millisecond; then the guard is woken and stores a durable high-water
 * mark past it (guard.c keeps the mark above max_ms), and the function
 * returns only once that mark is published, so the floor survives a
 * restart.  Shared state touched: max_ms (raise only), mint_wanted, and
 * worker_latch read under guard_mutex.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "config.h"
#include "layout.h"
#include "mint_wait.h"
#include "shmem.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

/*
 * SQLSTATEs of backfilling's refusals (class SF, beside mint_wait.h's):
 * a worker ID that live minting may use, and a millisecond with more rows
 * than the sequence field holds.
 */
#define ERRCODE_SNOWFLAKE_NOT_RESERVED	MAKE_SQLSTATE('S','F','0','0','9')
#define ERRCODE_SNOWFLAKE_MS_FULL		MAKE_SQLSTATE('S','F','0','1','0')

PG_FUNCTION_INFO_V1(snowflake_backfill_id);
PG_FUNCTION_INFO_V1(snowflake_raise_floor);

/*
 * snowflake_backfill_id(ts timestamptz, worker_id integer, seq bigint)
 * returns bigint: the ID of the seq'th row (from 0) of ts's millisecond
 * under reserved worker ID worker_id, in the cluster layout.  NULL in,
 * NULL out.
 */
Datum
snowflake_backfill_id(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	TimestampTz ts;
	int32		worker_id;
	int64		seq;
	int64		seq_limit;
	SnowflakeFields f;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	ts = PG_GETARG_TIMESTAMPTZ(0);
	worker_id = PG_GETARG_INT32(1);
	seq = PG_GETARG_INT64(2);

	snowflake_require_valid_layout();
	if (!snowflake_worker_id_reserved(worker_id))
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_NOT_RESERVED),
				 errmsg("worker ID %d is not reserved for backfilling", worker_id),
				 errdetail("Only worker IDs in snowflake.reserved_worker_ids are never used for live minting; under any other, a backfilled ID could equal a minted one."),
				 errhint("Reserve worker IDs in snowflake.reserved_worker_ids (as superuser, then restart) and backfill under one of them.")));

	seq_limit = INT64CONST(1) << layout->sequence_bits;
	if (seq < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("backfill sequence number " INT64_FORMAT " is negative", seq),
				 errhint("Number the rows of each millisecond from 0: row_number() OVER (...) - 1.")));
	if (seq >= seq_limit)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_MS_FULL),
				 errmsg("millisecond %s has more rows than the sequence field holds",
						snowflake_ts_text(ts)),
				 errdetail("Row " INT64_FORMAT " of that millisecond needs a sequence number above %d sequence bits allow (" INT64_FORMAT " per millisecond per worker ID).",
						   seq + 1, layout->sequence_bits, seq_limit),
				 errhint("Spread that millisecond's rows over several reserved worker IDs, or give them distinct timestamps.")));

	f.units = snowflake_units_from_timestamp(layout, ts);
	f.worker_id = worker_id;
	f.sequence = (int32) seq;
	PG_RETURN_INT64(snowflake_encode_fields(layout, &f));
}

/* How long snowflake_raise_floor waits for the guard to store the mark. */
#define RAISE_FLOOR_WAIT_MS 10000

/*
 * snowflake_raise_floor(ts timestamptz) returns timestamptz: from now on,
 * and after any restart, this server mints no ID in or below ts's
 * millisecond.  Returns the durable high-water mark stored past it.
 * Superuser only: a floor far ahead stops minting until the clock gets
 * there.
 */
Datum
snowflake_raise_floor(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	SnowflakeShared *sh;
	int64		floor_ms;
	int64		waited = 0;

	snowflake_require_preload();
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to raise the snowflake minting floor"),
				 errdetail("A floor ahead of the clock stops minting on the whole server until the clock gets there."),
				 errhint("Ask a superuser to run it.")));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_STANDBY),
				 errmsg("cannot raise the snowflake minting floor on a hot standby"),
				 errhint("Raise it on the primary; a standby honours the primary's mark as far as it has replayed.")));
	snowflake_require_valid_layout();

	/* 22008 for a time outside the layout */
	floor_ms = snowflake_units_from_timestamp(layout, PG_GETARG_TIMESTAMPTZ(0)) + 1;
	sh = snowflake_shared;
	snowflake_atomic_raise_u64(&sh->max_ms, (uint64) floor_ms);

	/* the guard stores a mark only once minting has been asked for */
	if (pg_atomic_read_u32(&sh->mint_wanted) == 0)
		pg_atomic_write_u32(&sh->mint_wanted, 1);

	while ((int64) pg_atomic_read_u64(&sh->hwm_ms) <= floor_ms)
	{
		Latch	   *latch;

		if (waited >= RAISE_FLOOR_WAIT_MS)
			ereport(ERROR,
					(errcode(ERRCODE_SNOWFLAKE_HIGH_WATER),
					 errmsg("the durable high-water mark did not move past the raised floor %s",
							snowflake_units_text(layout, floor_ms - 1)),
					 errdetail("This server mints above the floor until it restarts, but the guard worker has not stored a mark past it within %d ms.",
							   RAISE_FLOOR_WAIT_MS),
					 errhint("Check the server log for the \"snowflake guard\" background worker, then run this again.")));
		SpinLockAcquire(&sh->guard_mutex);
		latch = sh->worker_latch;
		SpinLockRelease(&sh->guard_mutex);
		if (latch)
			SetLatch(latch);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited += 10;
	}
	PG_RETURN_TIMESTAMPTZ(snowflake_timestamp_from_units(layout,
														 (int64) pg_atomic_read_u64(&sh->hwm_ms)));
}
