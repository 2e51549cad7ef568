/*-------------------------------------------------------------------------
 *
 * backfill.c
 *		snowflake_backfill_id(): IDs for historical rows, from their own
 *		timestamps, under a worker ID reserved for backfilling.
 *
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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "config.h"
#include "layout.h"

#include "fmgr.h"
#include "utils/timestamp.h"

/*
 * SQLSTATEs of backfilling's refusals (class SF, beside mint_wait.h's):
 * a worker ID that live minting may use, and a millisecond with more rows
 * than the sequence field holds.
 */
#define ERRCODE_SNOWFLAKE_NOT_RESERVED	MAKE_SQLSTATE('S','F','0','0','9')
#define ERRCODE_SNOWFLAKE_MS_FULL		MAKE_SQLSTATE('S','F','0','1','0')

PG_FUNCTION_INFO_V1(snowflake_backfill_id);

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
