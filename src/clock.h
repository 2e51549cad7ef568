/*-------------------------------------------------------------------------
 *
 * clock.h
 *		Reading the wall clock in the cluster layout's milliseconds, and the
 *		policy for a clock that reads behind what has already been minted.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_CLOCK_H
#define SNOWFLAKE_CLOCK_H

#include <time.h>

#include "snowflake.h"

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
	int64		mono_ms;		/* CLOCK_BOOTTIME, ms, read with cached_ms */
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

union SnowflakeSlot;
extern int64 snowflake_clock_catch_up(union SnowflakeSlot *home, int64 floor_ms,
									  bool may_borrow, bool *borrowed);
extern void snowflake_await_mark(union SnowflakeSlot *home, int64 ms);
extern void snowflake_refuse_standby(union SnowflakeSlot *home) pg_attribute_noreturn();
extern int64 snowflake_clock_next_ms(int64 after_ms);
extern void snowflake_count_regression(int64 floor_ms, int64 behind_ms);

#endif							/* SNOWFLAKE_CLOCK_H */
