/*-------------------------------------------------------------------------
 *
 * functions.c
 *		The SQL-callable functions that mint, decode and encode IDs.
 *
 * Minting goes through generator.c; decoding and encoding are layout.c's
 * math over the layout an argument names (layout_catalog.c).  Defining
 * layouts is in layout_catalog.c, status in status.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "callers.h"
#include "config.h"
#include "generator.h"
#include "layout.h"
#include "layout_catalog.h"
#include "shmem.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(snowflake_nextval);
PG_FUNCTION_INFO_V1(snowflake_batch);
PG_FUNCTION_INFO_V1(snowflake_decode);
PG_FUNCTION_INFO_V1(snowflake_timestamp);
PG_FUNCTION_INFO_V1(snowflake_worker_id);
PG_FUNCTION_INFO_V1(snowflake_sequence);
PG_FUNCTION_INFO_V1(snowflake_encode);
PG_FUNCTION_INFO_V1(snowflake_from_timestamp);

/*
 * The last ID this session got from snowflake_nextval() or snowflake_batch().
 * Each mint is above every ID the session minted before, but a batch hands
 * out its runs one row at a time, and other minting may come between two of
 * its rows (a cursor, another function in the same target list): the rest
 * of its run is then below what the session already got.
 */
static int64 session_last_id = -1;

Datum
snowflake_nextval(PG_FUNCTION_ARGS)
{
	int64		id;

	snowflake_mint(1, &id);
	session_last_id = id;
	PG_RETURN_INT64(id);
}

/* Between calls of snowflake_batch: IDs left to return, and the current run. */
typedef struct BatchState
{
	int64		left;			/* IDs still to mint */
	int64		next_id;		/* next ID of the current run */
	int			run_left;		/* IDs left in the current run */
} BatchState;

/*
 * snowflake_batch(count): count IDs, strictly increasing.  Value-per-call,
 * like generate_series: the IDs are minted in runs (up to the rest of a
 * slot's millisecond at once) and returned one by one.  A run overtaken by
 * other minting in this session is dropped and the rest minted anew, so the
 * IDs the session gets, in the order it gets them, keep increasing.  (A plan
 * that collects the rows first, as a function in FROM does, mints them all
 * before returning any.)
 */
Datum
snowflake_batch(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	BatchState *state;

	if (SRF_IS_FIRSTCALL())
	{
		int32		count = PG_GETARG_INT32(0);
		MemoryContext oldcontext;

		if (count < 1 || count > snowflake_max_batch)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("snowflake_batch count %d is out of range", count),
					 errdetail("The count must be between 1 and snowflake.max_batch = %d.",
							   snowflake_max_batch),
					 errhint("Ask for several smaller batches.")));
		snowflake_require_preload();
		snowflake_caller_count(SNOWFLAKE_CALLER_BATCHES, 1);

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		state = palloc0(sizeof(BatchState));
		state->left = count;
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (BatchState *) funcctx->user_fctx;

	/* the session got a later ID since this run was minted: drop the run */
	if (unlikely(state->run_left > 0 && state->next_id <= session_last_id))
	{
		state->left += state->run_left;
		state->run_left = 0;
	}
	if (state->run_left == 0)
	{
		if (state->left == 0)
			SRF_RETURN_DONE(funcctx);
		state->run_left = snowflake_mint((int) Min(state->left, PG_INT32_MAX),
										 &state->next_id);
		state->left -= state->run_left;
	}
	state->run_left--;
	session_last_id = state->next_id++;
	SRF_RETURN_NEXT(funcctx, Int64GetDatum(session_last_id));
}

Datum
snowflake_decode(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int32		region;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	layout = snowflake_layout_arg(fcinfo, 1);
	snowflake_decode_id(layout, PG_GETARG_INT64(0), &f);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	values[0] = TimestampTzGetDatum(snowflake_timestamp_from_units(layout, f.units));
	values[1] = Int32GetDatum(f.worker_id);
	values[2] = Int32GetDatum(f.sequence);
	region = snowflake_region_of(layout, f.worker_id);
	if (region < 0)
		nulls[3] = true;
	else
		values[3] = Int32GetDatum(region);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Decode argument 0 with the layout of argument 1; false if the ID is NULL. */
static bool
decode_arg(FunctionCallInfo fcinfo, const SnowflakeLayout **layout,
		   SnowflakeFields *f)
{
	if (PG_ARGISNULL(0))
		return false;
	*layout = snowflake_layout_arg(fcinfo, 1);
	snowflake_decode_id(*layout, PG_GETARG_INT64(0), f);
	return true;
}

Datum
snowflake_timestamp(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (!decode_arg(fcinfo, &layout, &f))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(snowflake_timestamp_from_units(layout, f.units));
}

Datum
snowflake_worker_id(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (!decode_arg(fcinfo, &layout, &f))
		PG_RETURN_NULL();
	PG_RETURN_INT32(f.worker_id);
}

Datum
snowflake_sequence(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (!decode_arg(fcinfo, &layout, &f))
		PG_RETURN_NULL();
	PG_RETURN_INT32(f.sequence);
}

Datum
snowflake_encode(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	layout = snowflake_layout_arg(fcinfo, 3);
	f.units = snowflake_units_from_timestamp(layout, PG_GETARG_TIMESTAMPTZ(0));
	f.worker_id = PG_GETARG_INT32(1);
	f.sequence = PG_GETARG_INT32(2);
	PG_RETURN_INT64(snowflake_encode_fields(layout, &f));
}

Datum
snowflake_from_timestamp(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	layout = snowflake_layout_arg(fcinfo, 1);
	f.units = snowflake_units_from_timestamp(layout, PG_GETARG_TIMESTAMPTZ(0));
	f.worker_id = 0;
	f.sequence = 0;
	PG_RETURN_INT64(snowflake_encode_fields(layout, &f));
}

