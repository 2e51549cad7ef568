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
 * the clock has passed that millisecond again (with snowflake.clock_borrow,
 * the sequence numbers left in that millisecond are used first).  After a
 * start the floor is the durable high-water mark, and a clock that is right
 * reaches it within snowflake.high_water_horizon, so that much is waited.
 * Steps are counted and logged by the guard worker (guard.c).
 *
 * No slot may mint at or above the durable high-water mark either
 * (SnowflakeShared.hwm_ms); a backend that reaches it wakes the guard
 * worker and waits a little, then refuses with the reason: the layout
 * changed, the server is a standby, or the mark cannot be made durable.
 *
 * This file also owns waiting for the next millisecond when the slots are
 * spent, and the per-backend cache of the current millisecond: after each
 * real reading of CLOCK_REALTIME, the backend knows how many nanoseconds
 * are left in that millisecond, turns them into TSC ticks (at 7/8 of the
 * measured rate, so an error in the rate ends the cache early, never late)
 * and returns the cached millisecond while the TSC is below that mark.
 * Each real reading also reads CLOCK_BOOTTIME, which the minting path
 * compares with the slots' fencing deadlines (lease.c); unlike
 * CLOCK_MONOTONIC it counts time the host spent suspended.
 * The rate is measured against CLOCK_MONOTONIC_RAW over the first 5 ms of
 * minting by the first backend that mints, and published in shared memory
 * (SnowflakeShared.tsc_ticks_per_ms, written once, read by every backend);
 * until then, on CPUs without an invariant TSC, and where the kernel does
 * not use the TSC as its clocksource (only then has it checked that the
 * cores' TSCs agree), every call reads the clock.  A TSC that goes backwards (migration to
 * another host) drops the cache.  Nothing here holds a lock while it waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "generator.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include <time.h>
#ifdef SNOWFLAKE_HAVE_TSC
#include <cpuid.h>
#endif

SnowflakeClockCache snowflake_clock_cache = {0, 0, 0, 0};

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

/*
 * An invariant TSC does not mean that every core's TSC agrees; the kernel
 * checks that before it makes the TSC its clocksource, and drops it as the
 * clocksource when it finds the cores out of step.  Trust it only then.
 */
static bool
kernel_uses_tsc(void)
{
	FILE	   *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	char		buf[32];
	bool		tsc = false;

	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL)
		tsc = strcmp(buf, "tsc\n") == 0 || strcmp(buf, "tsc") == 0;
	fclose(f);
	return tsc;
}

/* Measure TSC ticks per nanosecond; leaves tsc_per_ns at 0 until done. */
static void
calibrate_tsc(uint64 tsc)
{
	int64		ns;
	uint64		shared_rate;

	if (tsc_usable == 0)
		tsc_usable = cpu_has_invariant_tsc() && kernel_uses_tsc() ? 1 : -1;
	if (tsc_usable < 0)
		return;

	shared_rate = pg_atomic_read_u64(&snowflake_shared->tsc_ticks_per_ms);
	if (shared_rate != 0)
	{
		tsc_per_ns = (double) shared_rate / 1000000.0;
		return;
	}

	ns = snowflake_clock_ns(CLOCK_MONOTONIC_RAW);
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
	/* fencing deadlines are on CLOCK_BOOTTIME (lease.c) */
	snowflake_clock_cache.mono_ms = snowflake_clock_ns(CLOCK_BOOTTIME) / 1000000;

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

/* Nanoseconds of a clock; not on the minting path. */
int64
snowflake_clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The clock read below floor_ms, the highest millisecond minted (or, after
 * a start, the durable mark).  Return the millisecond to mint at: a clock
 * reading at or above floor_ms, after waiting if the step is small; or,
 * with snowflake.clock_borrow and may_borrow, floor_ms itself, so that the
 * sequence numbers left in it are used first (*borrowed is then true).
 * Otherwise raise ERRCODE_SNOWFLAKE_CLOCK_REGRESSION.  "home" is the
 * caller's home slot, where waits and refusals are counted.
 */
int64
snowflake_clock_catch_up(SnowflakeSlot *home, int64 floor_ms, bool may_borrow,
						 bool *borrowed)
{
	SnowflakeShared *sh = snowflake_shared;
	bool		after_start = floor_ms <= (int64) pg_atomic_read_u64(&sh->resume_after_ms);

	/*
	 * After a start, the mark may be as far ahead as the horizon in force
	 * when it was stored, which a restart may have lowered since.
	 */
	int64		limit = after_start ?
		Max(Max(snowflake_high_water_horizon, snowflake_max_clock_wait),
			(int64) pg_atomic_read_u64(&sh->resume_horizon_ms)) :
		snowflake_max_clock_wait;
	int64		now;
	int64		behind;

	*borrowed = false;

	/*
	 * Another backend may have read the clock a moment after us and raised
	 * the floor to a millisecond the clock has reached since; read again.
	 */
	now = snowflake_clock_read();
	if (now >= floor_ms)
		return now;
	if (!after_start)
		snowflake_count_regression(floor_ms, floor_ms - now);

	if (may_borrow && snowflake_clock_borrow && !after_start)
	{
		*borrowed = true;
		return floor_ms;
	}

	behind = floor_ms - now;
	if (behind <= limit)
	{
		snowflake_count_wait(home, SNOWFLAKE_CAUSE_CLOCK);
		while (now < floor_ms)
		{
			CHECK_FOR_INTERRUPTS();
			pg_usleep(Min(1000, (floor_ms - now) * 1000));
			now = snowflake_clock_read();
			if (floor_ms - now > limit)
				break;			/* stepped back further while we waited */
		}
		if (now >= floor_ms)
			return now;
		behind = floor_ms - now;
	}

	snowflake_count_refusal(home, SNOWFLAKE_CAUSE_CLOCK);
	if (after_start)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_CLOCK_REGRESSION),
				 errmsg("cannot mint a snowflake ID: the clock is " INT64_FORMAT " ms behind the durable high-water mark",
						behind),
				 errdetail("Before it stopped, this server may have minted IDs up to %s; the clock reads %s.",
						   snowflake_units_text(&snowflake_cluster_layout, floor_ms),
						   snowflake_units_text(&snowflake_cluster_layout, now)),
				 errhint("Minting resumes by itself once the clock passes the mark. Check the time source (NTP, VM host) of this server.")));
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_CLOCK_REGRESSION),
			 errmsg("cannot mint a snowflake ID: the clock stepped back by " INT64_FORMAT " ms",
					behind),
			 errdetail("IDs have been minted up to %s, and snowflake.max_clock_wait allows waiting out %d ms.",
					   snowflake_units_text(&snowflake_cluster_layout, floor_ms),
					   snowflake_max_clock_wait),
			 errhint("Minting resumes by itself once the clock passes the last minted millisecond. Check the time source (NTP, VM host) of this server.")));
	return now;					/* keep compiler quiet */
}

/* Refuse to mint because the server is in recovery. */
void
snowflake_refuse_standby(SnowflakeSlot *home)
{
	snowflake_count_refusal(home, SNOWFLAKE_CAUSE_OTHER);
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_STANDBY),
			 errmsg("cannot mint a snowflake ID on a standby"),
			 errdetail("A server in recovery holds no worker ID lease; after promotion it leases worker IDs of its own and mints above the high-water mark it replicated."),
			 errhint("Mint on the primary.")));
}

/*
 * Count a backward step of the wall clock that left it below floor_ms, the
 * highest millisecond minted, once: the guard and every backend that sees
 * the same step report the same floor.  The guard logs what backends count
 * (guard.c): the minting path writes no log lines.
 */
void
snowflake_count_regression(int64 floor_ms, int64 behind_ms)
{
	SnowflakeShared *sh = snowflake_shared;
	uint64		counted = pg_atomic_read_u64(&sh->regression_counted_at);

	if (counted == (uint64) floor_ms ||
		!pg_atomic_compare_exchange_u64(&sh->regression_counted_at, &counted,
										(uint64) floor_ms))
		return;
	pg_atomic_fetch_add_u64(&sh->clock_steps_back, 1);
	snowflake_atomic_raise_u64(&sh->max_regression_ms, (uint64) behind_ms);
	snowflake_atomic_raise_u64(&sh->unlogged_regression_ms, (uint64) behind_ms);
	pg_atomic_fetch_add_u64(&sh->regressions_seen_minting, 1);
}

static void
wake_guard_worker(SnowflakeShared *sh)
{
	Latch	   *latch;

	/* the latch lives in the guard's PGPROC: setting a stale one is harmless */
	SpinLockAcquire(&sh->guard_mutex);
	latch = sh->worker_latch;
	SpinLockRelease(&sh->guard_mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * A slot is about to mint at millisecond ms, at or past the durable
 * high-water mark.  Wait for the guard worker to move the mark past ms, or
 * raise the error that says why it cannot.
 */
void
snowflake_await_mark(SnowflakeSlot *home, int64 ms)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		limit = Max(snowflake_high_water_horizon, 1000);
	int64		started = -1;

	/* the guard publishes the first mark after a start only when asked */
	if (pg_atomic_read_u32(&sh->mint_wanted) == 0)
		pg_atomic_write_u32(&sh->mint_wanted, 1);

	for (;;)
	{
		int64		mark = (int64) pg_atomic_read_u64(&sh->hwm_ms);
		int64		now;
		bool		mismatch;
		char		recorded[sizeof(sh->recorded_layout)];
		char		configured[sizeof(sh->configured_layout)];
		char		problem[sizeof(sh->mark_problem)];

		if (ms < mark)
			return;

		SpinLockAcquire(&sh->guard_mutex);
		mismatch = sh->layout_mismatch;
		memcpy(recorded, sh->recorded_layout, sizeof(recorded));
		memcpy(configured, sh->configured_layout, sizeof(configured));
		memcpy(problem, sh->mark_problem, sizeof(problem));
		SpinLockRelease(&sh->guard_mutex);

		if (mismatch)
		{
			snowflake_count_refusal(home, SNOWFLAKE_CAUSE_OTHER);
			ereport(ERROR,
					(errcode(ERRCODE_SNOWFLAKE_LAYOUT_CHANGED),
					 errmsg("cannot mint a snowflake ID: the configured layout differs from the layout recorded when this server first minted"),
					 errdetail("Recorded: %s. Configured: %s.", recorded, configured),
					 errhint("Restore the recorded layout settings (snowflake.epoch, snowflake.worker_bits, snowflake.sequence_bits, snowflake.region_bits) and restart. Changing the layout of minted IDs is a migration.")));
		}
		if (RecoveryInProgress())
			snowflake_refuse_standby(home);

		now = snowflake_clock_ns(CLOCK_MONOTONIC) / 1000000;
		if (started < 0)
		{
			started = now;
			snowflake_count_wait(home, SNOWFLAKE_CAUSE_MARK);
		}
		else if (now - started > limit)
		{
			snowflake_count_refusal(home, SNOWFLAKE_CAUSE_MARK);
			ereport(ERROR,
					(errcode(ERRCODE_SNOWFLAKE_HIGH_WATER),
					 errmsg("cannot mint a snowflake ID: the durable high-water mark is not advancing"),
					 mark > 0 ?
					 errdetail("IDs may be minted only below %s, and the background worker has not moved the mark.%s%s",
							   snowflake_units_text(&snowflake_cluster_layout, mark),
							   problem[0] ? " Last problem: " : "", problem) :
					 errdetail("The background worker has not loaded the high-water mark since the server started.%s%s",
							   problem[0] ? " Last problem: " : "", problem),
					 errhint("Check the server log for the \"snowflake guard\" background worker; it needs the database named by snowflake.database and room to write WAL.")));
		}
		wake_guard_worker(sh);
		CHECK_FOR_INTERRUPTS();
		pg_usleep(1000);
	}
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
