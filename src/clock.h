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
 * Milliseconds since the cluster layout's epoch, from CLOCK_REALTIME.  This
 * is on the minting path, so it is one vDSO call and integer arithmetic.
 */
static inline int64
snowflake_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 -
		snowflake_cluster_layout.epoch_ms;
}

union SnowflakeSlot;
extern int64 snowflake_clock_catch_up(union SnowflakeSlot *home, int64 now,
									  int64 floor_ms);
extern int64 snowflake_clock_next_ms(int64 after_ms);

#endif							/* SNOWFLAKE_CLOCK_H */
