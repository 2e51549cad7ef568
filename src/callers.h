/*-------------------------------------------------------------------------
 *
 * callers.h
 *		Per-caller counters: IDs, batches, waits and refusals per database
 *		and role, for the snowflake_callers view.
 *
 * The minting path adds to counters of its own backend's entry without a
 * lock (see callers.c for the protocol); only a change of database or role,
 * a reset and a read take the callers lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_CALLERS_H
#define SNOWFLAKE_CALLERS_H

#include "config.h"

#include "miscadmin.h"
#include "port/atomics.h"

/* What is counted per caller. */
typedef enum SnowflakeCallerCounter
{
	SNOWFLAKE_CALLER_IDS,
	SNOWFLAKE_CALLER_BATCHES,
	SNOWFLAKE_CALLER_WAITS,
	SNOWFLAKE_CALLER_REFUSALS,
	SNOWFLAKE_CALLER_N_COUNTERS
} SnowflakeCallerCounter;

/*
 * This backend's live entry: written by this backend only.  "count" only
 * rises; a reset or a fold into the table moves "base" up to it, under the
 * callers lock held exclusively.  What the entry adds to its caller's row
 * is count - base.
 */
typedef struct SnowflakeCallerLive
{
	Oid			dbid;			/* InvalidOid: nothing counted yet */
	Oid			userid;
	pg_atomic_uint64 count[SNOWFLAKE_CALLER_N_COUNTERS];
	uint64		base[SNOWFLAKE_CALLER_N_COUNTERS];
} SnowflakeCallerLive;

/* This backend's entry, set at its first count; NULL before. */
extern SnowflakeCallerLive *snowflake_my_caller;

extern Size snowflake_callers_shmem_size(void);
extern void snowflake_callers_shmem_request(void);
extern void snowflake_callers_shmem_init(void);
extern SnowflakeCallerLive *snowflake_callers_switch(void);

/*
 * Count "n" against the current database and role.  The fast case is a
 * compare of two OIDs and a store to a cache line this backend alone
 * writes.
 */
static inline void
snowflake_caller_count(SnowflakeCallerCounter what, uint64 n)
{
	SnowflakeCallerLive *me = snowflake_my_caller;

	if (!snowflake_track_callers)
		return;
	if (unlikely(me == NULL || me->userid != GetUserId() ||
				 me->dbid != MyDatabaseId))
	{
		me = snowflake_callers_switch();
		if (me == NULL)
			return;
	}
	pg_atomic_write_u64(&me->count[what],
						pg_atomic_read_u64(&me->count[what]) + n);
}

#endif							/* SNOWFLAKE_CALLERS_H */
