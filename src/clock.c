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
 * spent, and the per-backend cache of the current millisecond: after each
 * real reading of CLOCK_REALTIME, the backend knows how many nanoseconds
 * are left in that millisecond, turns them into TSC ticks (at 7/8 of the
 * measured rate, so an error in the rate ends the cache early, never late)
 * and returns the cached millisecond while the TSC is below that mark.
 * The rate is measured against CLOCK_MONOTONIC_RAW over the first 5 ms of
 * minting by the first backend that mints, and published in shared memory
 * (SnowflakeShared.tsc_ticks_per_ms, written once, read by every backend);
 * until then, and on CPUs without an invariant TSC, every call reads the
 * clock.  A TSC that goes backwards (migration to
 * another host) drops the cache.  Nothing here holds a lock while it waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "generator.h"

#include "miscadmin.h"
#include "port/atomics.h"

#include <time.h>
#ifdef SNOWFLAKE_HAVE_TSC
#include <cpuid.h>
#endif

SnowflakeClockCache snowflake_clock_cache = {0, 0, 0};

#ifdef SNOWFLAKE_HAVE_TSC
#define CALIBRATION_NS	INT64CONST(5000000)

static int	tsc_usable = 0;		/* 0 unknown, 1 yes, -1 no */
static uint64 calibration_tsc;
static int64 calibration_ns = -1;
static double tsc_per_ns = 0.0; /* 0 until calibrated */

static bool
cpu_has_invariant_tsc(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx))
		return false;
	return (edx & (1 << 8)) != 0;
}

/* Measure TSC ticks per nanosecond; leaves tsc_per_ns at 0 until done. */
static void
calibrate_tsc(uint64 tsc)
{
	struct timespec raw;
	int64		ns;

	uint64		shared_rate;

	if (tsc_usable == 0)
		tsc_usable = cpu_has_invariant_tsc() ? 1 : -1;
	if (tsc_usable < 0)
		return;

	shared_rate = pg_atomic_read_u64(&snowflake_shared->tsc_ticks_per_ms);
	if (shared_rate != 0)
	{
		tsc_per_ns = (double) shared_rate / 1000000.0;
		return;
	}

	clock_gettime(CLOCK_MONOTONIC_RAW, &raw);
	ns = (int64) raw.tv_sec * 1000000000 + raw.tv_nsec;
	if (calibration_ns < 0 || tsc < calibration_tsc)
	{
		calibration_tsc = tsc;
		calibration_ns = ns;
		return;
	}
	if (ns - calibration_ns >= CALIBRATION_NS)
	{
		double		rate = (double) (tsc - calibration_tsc) /
			(double) (ns - calibration_ns);

		/* implausible rates (0.1 to 100 GHz) mean the TSC is not usable */
		if (rate < 0.1 || rate > 100.0)
			tsc_usable = -1;
		else
		{
			uint64		expected = 0;

			tsc_per_ns = rate;
			pg_atomic_compare_exchange_u64(&snowflake_shared->tsc_ticks_per_ms,
										   &expected,
										   (uint64) (rate * 1000000.0));
		}
	}
}
#endif

/*
 * Read CLOCK_REALTIME, in milliseconds since the cluster layout's epoch,
 * and refill the cache.
 */
int64
snowflake_clock_read(void)
{
	struct timespec ts;
	int64		ms;
#ifdef SNOWFLAKE_HAVE_TSC
	uint64		tsc = __rdtsc();	/* before the clock: errs on the early side */
#endif

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 -
		snowflake_cluster_layout.epoch_ms;

#ifdef SNOWFLAKE_HAVE_TSC
	if (tsc_per_ns == 0.0)
	{
		calibrate_tsc(tsc);
		snowflake_clock_cache.valid_until = 0;
	}
	else
	{
		int64		ns_left = 1000000 - ts.tv_nsec % 1000000;

		snowflake_clock_cache.fill_tsc = tsc;
		snowflake_clock_cache.valid_until =
			tsc + (uint64) ((double) ns_left * tsc_per_ns * 0.875);
		snowflake_clock_cache.cached_ms = ms;
	}
#endif
	return ms;
}

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
	now = snowflake_clock_read();
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
			now = snowflake_clock_read();
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
