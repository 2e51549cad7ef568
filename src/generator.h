/*-------------------------------------------------------------------------
 *
 * generator.h
 *		Shared memory of the extension: the sequence slots and the
 *		server-wide minting floor, and the minting entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_GENERATOR_H
#define SNOWFLAKE_GENERATOR_H

#include "port/atomics.h"
#include "storage/lwlock.h"

/* A slot's state before it has minted anything. */
#define SNOWFLAKE_SLOT_EMPTY	PG_UINT64_MAX

typedef struct SnowflakeSlotData
{
	/*
	 * (millisecond << sequence_bits) | sequence of the last ID handed out, or
	 * SNOWFLAKE_SLOT_EMPTY.  Changed only by compare-and-swap.
	 */
	pg_atomic_uint64 state;
	/* IDs minted in milliseconds before the one in state */
	pg_atomic_uint64 ids_before;
	/* milliseconds in which this slot ran out of sequence numbers */
	pg_atomic_uint64 ms_saturated;
	pg_atomic_uint64 last_saturated_ms;
	/* clock waits and refusals of sessions whose home this slot is */
	pg_atomic_uint64 waits;
	pg_atomic_uint64 refusals;
	/* sessions whose home this slot is */
	pg_atomic_uint32 sessions;
	/* whole worker field (region bits included), or -1; see worker_ids.c */
	int32		worker_id;
} SnowflakeSlotData;

/* Each slot gets cache lines of its own, so slots never share a line. */
typedef union SnowflakeSlot
{
	SnowflakeSlotData d;
	char		pad[PG_CACHE_LINE_SIZE];
} SnowflakeSlot;

StaticAssertDecl(sizeof(SnowflakeSlotData) <= PG_CACHE_LINE_SIZE,
				 "snowflake slot must fit one cache line");

typedef struct SnowflakeShared
{
	/* highest millisecond any slot has minted; only ever moves forward */
	pg_atomic_uint64 max_ms;
	char		pad1[PG_CACHE_LINE_SIZE - sizeof(pg_atomic_uint64)];

	/* clock steps back seen by the minting path */
	pg_atomic_uint64 clock_regressions;
	pg_atomic_uint64 max_regression_ms;
	pg_atomic_uint64 last_regression_floor;

	/* TSC ticks per millisecond, measured once (clock.c); 0 = not yet */
	pg_atomic_uint64 tsc_ticks_per_ms;

	int			nslots;
	char		pad2[PG_CACHE_LINE_SIZE];
	SnowflakeSlot slots[FLEXIBLE_ARRAY_MEMBER];
} SnowflakeShared;

extern SnowflakeShared *snowflake_shared;

extern Size snowflake_shmem_size(void);
extern void snowflake_shmem_init(void);

extern int	snowflake_mint(int want, int64 *first_id);

#endif							/* SNOWFLAKE_GENERATOR_H */
