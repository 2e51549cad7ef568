/*-------------------------------------------------------------------------
 *
 * clock.h
 *		Reading the clocks: the wall clock in the cluster layout's
 *		milliseconds (cached per backend), the clock of fencing deadlines,
 *		the monotonic clock for timeouts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_CLOCK_H
#define SNOWFLAKE_CLOCK_H

#include <time.h>

#include "config.h"

#include "datatype/timestamp.h"

/*
 * The clock of fencing deadlines: CLOCK_BOOTTIME, which, unlike
 * CLOCK_MONOTONIC, goes on while the host is suspended.
 */
#define SNOWFLAKE_DEADLINE_CLOCK CLOCK_BOOTTIME

/*
 * Per-backend cache of the current millisecond.  On x86-64 with an
 * invariant TSC, a reading of the wall clock stays good until the TSC says
 * that millisecond is over: the TSC costs a third of clock_gettime() and the
 * minting path reads the time on every call.  See clock.c.
 */
typedef struct SnowflakeClockCache
{
	uint64		fill_tsc;		/* TSC when cached_ms was read */
	uint64		valid_until;	/* TSC at which cached_ms may have ended */
	int64		cached_ms;
	int64		deadline_clock_ms;	/* SNOWFLAKE_DEADLINE_CLOCK, ms, read with
								 * cached_ms */
} SnowflakeClockCache;

extern SnowflakeClockCache snowflake_clock_cache;
extern int64 snowflake_clock_read(void);
extern int64 snowflake_clock_ns(clockid_t clock);

#if defined(__x86_64__) && defined(__GNUC__)
#include <x86intrin.h>
#define SNOWFLAKE_HAVE_TSC 1
#endif

/* Milliseconds since the cluster layout's epoch (CLOCK_REALTIME). */
static inline int64
snowflake_clock_ms(void)
{
#ifdef SNOWFLAKE_HAVE_TSC
	uint64		tsc = __rdtsc();

	if (likely(tsc < snowflake_clock_cache.valid_until &&
			   tsc >= snowflake_clock_cache.fill_tsc))
		return snowflake_clock_cache.cached_ms;
#endif
	return snowflake_clock_read();
}

extern int64 snowflake_clock_next_ms(int64 after_ms);
extern int64 snowflake_deadline_clock_ms(void);
extern int64 snowflake_monotonic_ms(void);
extern int64 snowflake_wall_unix_ms(void);
extern TimestampTz snowflake_unix_us_to_timestamptz(int64 us);

/* What the kernel says of the wall clock's synchronisation (adjtimex). */
typedef struct SnowflakeClockSync
{
	bool		known;			/* adjtimex answered */
	bool		synchronized;	/* not TIME_ERROR, STA_UNSYNC clear */
	double		est_error_ms;	/* kernel's estimated error */
	double		max_error_ms;	/* kernel's maximum error */
} SnowflakeClockSync;

extern SnowflakeClockSync snowflake_clock_sync(void);

#endif							/* SNOWFLAKE_CLOCK_H */
