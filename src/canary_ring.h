/*-------------------------------------------------------------------------
 *
 * canary_ring.h
 *		The duplicate canary's sample of minted IDs: which IDs are sampled,
 *		and the ring in shared memory the minting path leaves them in for
 *		the lease keeper.
 *
 * An ID is sampled when a hash of its value falls in the lowest
 * 1/snowflake.canary_every of the hash's range, so every server samples
 * the same IDs: an ID minted twice is sampled by both minters or by
 * neither, and about one ID in canary_every is.  Sets for different
 * settings nest (a larger canary_every samples a subset), so servers set
 * differently still agree on the smaller set.
 *
 * Protocol: a backend picks an entry by an atomic add on "head" and stores
 * the ID in it by compare-and-exchange from empty (entries hold ID + 1; 0
 * is empty).  If the entry is still full (the keeper has fallen a whole
 * ring behind), the sample is counted as dropped.  The lease keeper alone
 * empties entries, by exchange with 0, looking at every entry each time:
 * the samples are a set, their order does not matter, and a backend
 * descheduled between its add and its store is only late.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_CANARY_RING_H
#define SNOWFLAKE_CANARY_RING_H

#include "config.h"

#include "port/atomics.h"

#define SNOWFLAKE_CANARY_RING_SIZE	8192

typedef struct SnowflakeCanaryRing
{
	pg_atomic_uint64 head;		/* entries reserved so far */
	pg_atomic_uint64 sampled;	/* IDs sampled (including injected) */
	pg_atomic_uint64 dropped;	/* samples the ring had no room for */
	pg_atomic_uint64 sent;		/* samples stored on the coordinator */
	pg_atomic_uint64 entries[SNOWFLAKE_CANARY_RING_SIZE];
} SnowflakeCanaryRing;

extern SnowflakeCanaryRing *snowflake_canary_ring;

extern Size snowflake_canary_shmem_size(void);
extern void snowflake_canary_shmem_init(void);
extern void snowflake_canary_push(int64 id);
extern int	snowflake_canary_take(int64 *ids, int max);

/*
 * Whether the canary samples this ID (Fibonacci hashing of its value):
 * below snowflake_canary_threshold, 2^32 / snowflake.canary_every (config.c).
 */
static inline bool
snowflake_canary_sampled(int64 id)
{
	return (((uint64) id * UINT64CONST(0x9E3779B97F4A7C15)) >> 32) <
		snowflake_canary_threshold;
}

/*
 * The minting path: n IDs were handed out, first_id and the next n - 1
 * that differ from it in the sequence field only ("step" apart).
 */
static inline void
snowflake_canary_scan(int64 first_id, int n, int64 step)
{
	int			i;

	if (snowflake_canary_threshold == 0)
		return;
	for (i = 0; i < n; i++)
	{
		int64		id = first_id + (int64) i * step;

		if (unlikely(snowflake_canary_sampled(id)))
			snowflake_canary_push(id);
	}
}

#endif							/* SNOWFLAKE_CANARY_RING_H */
