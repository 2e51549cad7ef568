/*-------------------------------------------------------------------------
 *
 * clock.c
 *		What the minting path does when the wall clock is not where it
 *		should be.
 *
 * No slot may mint below the highest millisecond any slot has minted
 * (SnowflakeShared.max_ms).  A backend whose clock reads below it has seen
 * the clock step back: a step of at most snowflake.max_clock_wait is waited
 * out; a larger one is refused with ERRCODE_SNOWFLAKE_CLOCK_REGRESSION until
 * the clock has passed that millisecond again.  Each step is counted and
 * logged once, by the backend that first sees it.
 *
 * This file also owns waiting for the next millisecond when the slots are
 * spent.  Nothing here holds a lock while it waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "generator.h"

#include "miscadmin.h"
#include "port/atomics.h"

/*
 * Count and log a step back whose floor is floor_ms, once per floor: while
 * the clock is behind nobody mints, so the floor stays put.
 */
static void
note_regression(int64 floor_ms, int64 behind)
{
	SnowflakeShared *sh = snowflake_shared;
	uint64		seen = pg_atomic_read_u64(&sh->last_regression_floor);
	uint64		max;

	if (seen == (uint64) floor_ms ||
		!pg_atomic_compare_exchange_u64(&sh->last_regression_floor, &seen,
										(uint64) floor_ms))
		return;

	pg_atomic_fetch_add_u64(&sh->clock_regressions, 1);
	max = pg_atomic_read_u64(&sh->max_regression_ms);
	while (max < (uint64) behind &&
		   !pg_atomic_compare_exchange_u64(&sh->max_regression_ms, &max,
										   (uint64) behind))
		;
	ereport(LOG,
			(errmsg("snowflake: clock stepped back by " INT64_FORMAT " ms", behind),
			 errdetail("The highest millisecond minted is " INT64_FORMAT
					   " ms after the epoch; the clock reads " INT64_FORMAT ".",
					   floor_ms, floor_ms - behind)));
}

/*
 * The clock read "now", below floor_ms.  Return a clock reading at or above
 * floor_ms, after waiting if the step is small; otherwise raise an error.
 * "home" is the caller's home slot, where waits and refusals are counted.
 */
int64
snowflake_clock_catch_up(SnowflakeSlot *home, int64 now, int64 floor_ms)
{
	int64		behind;

	/*
	 * Another backend may have read the clock a moment after us and raised
	 * the floor to a millisecond the clock has reached since; read again.
	 */
	now = snowflake_clock_ms();
	if (now >= floor_ms)
		return now;

	behind = floor_ms - now;
	note_regression(floor_ms, behind);

	if (behind <= snowflake_max_clock_wait)
	{
		pg_atomic_fetch_add_u64(&home->d.waits, 1);
		while (now < floor_ms)
		{
			CHECK_FOR_INTERRUPTS();
			pg_usleep(Min(1000, (floor_ms - now) * 1000));
			now = snowflake_clock_ms();
			if (floor_ms - now > snowflake_max_clock_wait)
				break;			/* stepped back further while we waited */
		}
		if (now >= floor_ms)
			return now;
		behind = floor_ms - now;
	}

	pg_atomic_fetch_add_u64(&home->d.refusals, 1);
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_CLOCK_REGRESSION),
			 errmsg("cannot mint a snowflake ID: the clock stepped back by " INT64_FORMAT " ms",
					behind),
			 errdetail("IDs have been minted up to " INT64_FORMAT
					   " ms after the epoch, and snowflake.max_clock_wait allows waiting out %d ms.",
					   floor_ms, snowflake_max_clock_wait),
			 errhint("Minting resumes by itself once the clock passes the last minted millisecond. Check the time source (NTP, VM host) of this server.")));
	return now;					/* keep compiler quiet */
}

/*
 * Spin until the clock leaves millisecond after_ms.  Returns early if the
 * clock reads below it, so that the caller's clock check sees the step.
 */
int64
snowflake_clock_next_ms(int64 after_ms)
{
	int64		now;

	for (;;)
	{
		now = snowflake_clock_ms();
		if (now != after_ms)
			return now;
		CHECK_FOR_INTERRUPTS();
		pg_spin_delay();
	}
}
