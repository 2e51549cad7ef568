/*-------------------------------------------------------------------------
 *
 * clock.c
 *		Reading the clocks: the wall clock in the cluster layout's
 *		milliseconds, with a per-backend cache; CLOCK_BOOTTIME for fencing
 *		deadlines; CLOCK_MONOTONIC for timeouts.  No policy: what to do when
 *		the wall clock is not where it should be is in mint_wait.c.
 *
 * The cache of the current millisecond: after each real reading of
 * CLOCK_REALTIME, the backend knows how many nanoseconds are left in that
 * millisecond, turns them into TSC ticks (at 7/8 of the measured rate, so
 * an error in the rate ends the cache early, never late) and returns the
 * cached millisecond while the TSC is below that mark.  Each real reading
 * also reads CLOCK_BOOTTIME, which the minting path compares with the
 * slots' fencing deadlines; unlike CLOCK_MONOTONIC it counts time the host
 * spent suspended.  The rate is measured against CLOCK_MONOTONIC_RAW over
 * the first 5 ms of minting by the first backend that mints, and published
 * in shared memory (SnowflakeShared.tsc_ticks_per_ms, written once by CAS,
 * read by every backend); until then, on CPUs without an invariant TSC,
 * and where the kernel does not use the TSC as its clocksource (only then
 * has it checked that the cores' TSCs agree), every call reads the clock.
 * A TSC that goes backwards (migration to another host) drops the cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "shmem.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "utils/timestamp.h"

#include <time.h>
#ifdef __linux__
#include <sys/timex.h>
#endif
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
	/* fencing deadlines are on SNOWFLAKE_DEADLINE_CLOCK (shmem.h) */
	snowflake_clock_cache.deadline_clock_ms = snowflake_clock_ns(SNOWFLAKE_DEADLINE_CLOCK) / 1000000;

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

/* Milliseconds of the clock of fencing deadlines (see file header). */
int64
snowflake_deadline_clock_ms(void)
{
	return snowflake_clock_ns(SNOWFLAKE_DEADLINE_CLOCK) / 1000000;
}

/* Milliseconds of CLOCK_MONOTONIC, for timeouts and elapsed times. */
int64
snowflake_monotonic_ms(void)
{
	return snowflake_clock_ns(CLOCK_MONOTONIC) / 1000000;
}

/* The wall clock in Unix milliseconds. */
int64
snowflake_wall_unix_ms(void)
{
	return snowflake_clock_ns(CLOCK_REALTIME) / 1000000;
}

/* A timestamptz from microseconds since 1970-01-01 UTC. */
TimestampTz
snowflake_unix_us_to_timestamptz(int64 us)
{
	return (TimestampTz) (us - SNOWFLAKE_PG_EPOCH_UNIX_MS * 1000);
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

/*
 * The kernel's view of the wall clock (adjtimex with no change asked):
 * whether an NTP daemon keeps it synchronised, and its error estimates.
 */
SnowflakeClockSync
snowflake_clock_sync(void)
{
	SnowflakeClockSync sync;
#ifdef __linux__
	struct timex tx;
	int			state;
#endif

	memset(&sync, 0, sizeof(sync));
#ifdef __linux__
	memset(&tx, 0, sizeof(tx));
	state = adjtimex(&tx);
	if (state < 0)
		return sync;
	sync.known = true;
	sync.synchronized = state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
	sync.est_error_ms = tx.esterror / 1000.0;
	sync.max_error_ms = tx.maxerror / 1000.0;
#endif
	return sync;
}
