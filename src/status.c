/*-------------------------------------------------------------------------
 *
 * status.c
 *		snowflake_status(): one row per sequence slot (spares last), read from shared
 *		memory without locks but the spinlocks of shmem.h, held to copy.
 *
 * Two SQL signatures share one body: snowflake_status() returns the 22
 * columns of version 1.0 of the SQL objects, snowflake_status_1_1() the
 * columns 1.1 added after them, so a database that has not run ALTER
 * EXTENSION UPDATE keeps working with the new library.  Each call also
 * takes a sample of every slot's minted and saturated milliseconds (at
 * most every SNOWFLAKE_SAMPLE_EVERY_MS, under stats_mutex), from which the
 * saturation ratio over the last minute is computed.
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

#define STATUS_COLS_1_0 22
#define STATUS_COLS_1_1 35

/* How far back the saturation ratio looks. */
#define SATURATION_WINDOW_MS 60000

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
 * Sample slot i's counters if its newest sample is old enough, and return
 * the fraction of milliseconds minted in which it ran out of sequence
 * numbers, since the newest sample at least a minute old (or since the
 * start, when there is none).
 */
static double
saturation_ratio(int i, int64 mono_now)
{
	SnowflakeSlotData *s = &snowflake_shared->slots[i].d;
	SnowflakeStatsRing *ring = snowflake_stats_ring(i);
	uint64		minted = pg_atomic_read_u64(&s->ms_minted);
	uint64		saturated = pg_atomic_read_u64(&s->ms_saturated);
	SnowflakeStatsSample base = {0, 0, 0};
	int			k;

	SpinLockAcquire(&snowflake_shared->stats_mutex);
	for (k = 0; k < ring->count; k++)
	{
		SnowflakeStatsSample *x = &ring->samples[k];

		if (x->at_ms <= mono_now - SATURATION_WINDOW_MS && x->at_ms >= base.at_ms)
			base = *x;
	}
	if (ring->count == 0 ||
		ring->samples[(ring->next + SNOWFLAKE_SAMPLES - 1) % SNOWFLAKE_SAMPLES].at_ms <=
		mono_now - SNOWFLAKE_SAMPLE_EVERY_MS)
	{
		SnowflakeStatsSample *x = &ring->samples[ring->next];

		x->at_ms = mono_now;
		x->ms_minted = minted;
		x->ms_saturated = saturated;
		ring->next = (ring->next + 1) % SNOWFLAKE_SAMPLES;
		ring->count = Min(ring->count + 1, SNOWFLAKE_SAMPLES);
	}
	SpinLockRelease(&snowflake_shared->stats_mutex);

	if (minted <= base.ms_minted)
		return 0.0;
	return (double) (saturated - base.ms_saturated) /
		(double) (minted - base.ms_minted);
}

/* One row per slot; one line per column, in the order of the view. */
static Datum
status_rows(FunctionCallInfo fcinfo, int ncols)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SnowflakeShared *sh;
	int64		mark;
	SnowflakeClockState clock_state;
	TimestampTz wall_now;
	int64		mono_now;
	int64		renew_latency_us;
	SnowflakeClockSync sync = {0};
	char		lease_error[sizeof(snowflake_shared->lease_error)];
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
	SpinLockAcquire(&sh->lease_mutex);
	renew_latency_us = sh->renew_latency_us;
	memcpy(lease_error, sh->lease_error, sizeof(lease_error));
	SpinLockRelease(&sh->lease_mutex);
	lease_error[sizeof(lease_error) - 1] = '\0';
	if (ncols > STATUS_COLS_1_0)
		sync = snowflake_clock_sync();

	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeSlotData *s = &sh->slots[i].d;
		Datum		values[STATUS_COLS_1_1];
		bool		nulls[STATUS_COLS_1_1];
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

		if (ncols > STATUS_COLS_1_0)
		{
			bool		held = lease.state == SNOWFLAKE_LEASE_HELD ||
				lease.state == SNOWFLAKE_LEASE_WAITING;

			values[c++] = Uint64Datum(pg_atomic_read_u64(&s->ms_minted));
			values[c++] = Float8GetDatum(saturation_ratio(i, mono_now));
			values[c++] = Uint64Datum(pg_atomic_read_u64(&s->ids_elsewhere));
			if (lease.renewed_at == 0)
				nulls[c++] = true;
			else
				values[c++] = TimestampTzGetDatum(lease.renewed_at);
			if (!held || renew_latency_us < 0)
				nulls[c++] = true;
			else
				values[c++] = Float8GetDatum(renew_latency_us / 1000.0);
			if (deadline == 0)
				nulls[c++] = true;
			else
				values[c++] = Int64GetDatum((int64) deadline - mono_now);
			if (!sync.known)
			{
				nulls[c++] = true;
				nulls[c++] = true;
				nulls[c++] = true;
			}
			else
			{
				values[c++] = BoolGetDatum(sync.synchronized);
				values[c++] = Float8GetDatum(sync.est_error_ms);
				values[c++] = Float8GetDatum(sync.max_error_ms);
			}
			if (lease_error[0] == '\0')
				nulls[c++] = true;
			else
				values[c++] = CStringGetTextDatum(lease_error);
			values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->idle_resumes));
			values[c++] = BoolGetDatum(i >= sh->nmain);
			values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->ids_on_spares));
			Assert(c == STATUS_COLS_1_1);
		}

		/* the columns past ncols are left off */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}


/* Version 1.0 of the SQL objects: the first 22 columns. */
Datum
snowflake_status(PG_FUNCTION_ARGS)
{
	return status_rows(fcinfo, STATUS_COLS_1_0);
}

/* Version 1.1: every column. */
Datum
snowflake_status_1_1(PG_FUNCTION_ARGS)
{
	return status_rows(fcinfo, STATUS_COLS_1_1);
}
