/*-------------------------------------------------------------------------
 *
 * status.c
 *		snowflake_status(): one row per sequence slot, read from shared
 *		memory without locks but the spinlocks of shmem.h, held to copy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "config.h"
#include "layout.h"
#include "shmem.h"

#include "fmgr.h"
#include "funcapi.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(snowflake_status);
PG_FUNCTION_INFO_V1(snowflake_status_1_1);

/* Columns of snowflake_status() as version 1.0 and 1.1 of the SQL define it. */
#define STATUS_COLS_1_0 22
#define STATUS_COLS_1_1 23

static Datum
timestamp_of_ms(int64 ms)
{
	return TimestampTzGetDatum(snowflake_timestamp_from_units(&snowflake_cluster_layout, ms));
}

static const char *
clock_state_name(SnowflakeClockState state)
{
	switch (state)
	{
		case SNOWFLAKE_CLOCK_OK:
			return "ok";
		case SNOWFLAKE_CLOCK_BEHIND:
			return "behind";
		case SNOWFLAKE_CLOCK_UNKNOWN:
			break;
	}
	return "unknown";
}

static uint64
sum_counters(pg_atomic_uint64 *counters)
{
	uint64		total = 0;
	int			i;

	for (i = 0; i < SNOWFLAKE_N_CAUSES; i++)
		total += pg_atomic_read_u64(&counters[i]);
	return total;
}

#define Uint64Datum(v) Int64GetDatum((int64) (v))

/*
 * One row per slot; one line per column, in the order of the view.  "ncols"
 * is the number of columns of the SQL function that called: a database
 * that has not run ALTER EXTENSION snowflake UPDATE yet still has the 1.0
 * definition, which calls snowflake_status (as pg_stat_statements does).
 */
static void
status_rows(FunctionCallInfo fcinfo, int ncols)
{
#define STATUS_COLS STATUS_COLS_1_1
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SnowflakeShared *sh;
	int64		mark;
	SnowflakeClockState clock_state;
	TimestampTz wall_now;
	int64		mono_now;
	int			i;

	snowflake_require_preload();
	sh = snowflake_shared;
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != ncols)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("snowflake_status() is defined with %d columns, not the %d of its C function",
						rsinfo->setDesc->natts, ncols),
				 errhint("Run ALTER EXTENSION snowflake UPDATE.")));
	wall_now = GetCurrentTimestamp();
	mono_now = snowflake_deadline_clock_ms();

	mark = (int64) pg_atomic_read_u64(&sh->hwm_ms);
	SpinLockAcquire(&sh->guard_mutex);
	clock_state = sh->clock_state;
	SpinLockRelease(&sh->guard_mutex);

	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeSlotData *s = &sh->slots[i].d;
		Datum		values[STATUS_COLS];
		bool		nulls[STATUS_COLS];
		uint64		state = pg_atomic_read_u64(&s->state);
		uint64		issued = pg_atomic_read_u64(&s->ids_before);
		SnowflakeLeaseInfo lease;
		uint64		deadline;
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		issued += snowflake_word_ids(state);

		lease = snowflake_lease_info_copy(i);
		deadline = pg_atomic_read_u64(&s->deadline_ms);

		values[c++] = Int32GetDatum(i);
		if (lease.worker_id < 0)
			nulls[c++] = true;
		else
			values[c++] = Int32GetDatum(lease.worker_id);
		/* a lease the keeper still shows as held may have just run out */
		if (lease.state == SNOWFLAKE_LEASE_HELD && deadline != 0 &&
			(uint64) mono_now >= deadline)
			lease.state = SNOWFLAKE_LEASE_EXPIRED;
		values[c++] = CStringGetTextDatum(snowflake_lease_state_name(lease.state));
		if (lease.expires_at == 0)
			nulls[c++] = true;
		else
			values[c++] = TimestampTzGetDatum(lease.expires_at);
		if (deadline == 0)
			nulls[c++] = true;
		else
			values[c++] = TimestampTzGetDatum(wall_now +
											  ((int64) deadline - mono_now) * 1000);
		if (state == SNOWFLAKE_SLOT_EMPTY)
			nulls[c++] = true;
		else
			values[c++] = timestamp_of_ms(snowflake_word_ms(state));
		if (mark == 0)
			nulls[c++] = true;
		else
			values[c++] = timestamp_of_ms(mark);
		values[c++] = Uint64Datum(issued);
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->ms_saturated));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->clock_steps_back));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->max_regression_ms));
		values[c++] = Uint64Datum(sum_counters(s->waits));
		values[c++] = Uint64Datum(sum_counters(s->refusals));
		values[c++] = TimestampTzGetDatum(snowflake_layout_ends_at(&snowflake_cluster_layout));
		values[c++] = Int32GetDatum((int32) pg_atomic_read_u32(&s->sessions));
		values[c++] = CStringGetTextDatum(clock_state_name(clock_state));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->clock_steps_forward));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->waits[SNOWFLAKE_CAUSE_CLOCK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->waits[SNOWFLAKE_CAUSE_MARK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->refusals[SNOWFLAKE_CAUSE_CLOCK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->refusals[SNOWFLAKE_CAUSE_MARK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->refusals[SNOWFLAKE_CAUSE_OTHER]));
		Assert(c == STATUS_COLS_1_0);
		/* 1.1 */
		values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->idle_resumes));
		Assert(c == STATUS_COLS_1_1);

		/* the columns past ncols are left off */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* The 1.0 definition's function: 22 columns. */
Datum
snowflake_status(PG_FUNCTION_ARGS)
{
	status_rows(fcinfo, STATUS_COLS_1_0);
	return (Datum) 0;
}

/* The 1.1 definition's function: 23 columns, idle_resumes last. */
Datum
snowflake_status_1_1(PG_FUNCTION_ARGS)
{
	status_rows(fcinfo, STATUS_COLS_1_1);
	return (Datum) 0;
}
