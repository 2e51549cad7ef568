/*-------------------------------------------------------------------------
 *
 * canary_ring.c
 *		The ring of sampled IDs in shared memory: made at start, filled by
 *		the minting path (and by snowflake_canary_inject), emptied by the
 *		lease keeper.  See canary_ring.h for the protocol.
 *
 * Locking: none; every entry and counter is an atomic.  The struct is made
 * under AddinShmemInitLock by shmem.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "canary_ring.h"

#include "storage/shmem.h"

SnowflakeCanaryRing *snowflake_canary_ring = NULL;

Size
snowflake_canary_shmem_size(void)
{
	return sizeof(SnowflakeCanaryRing);
}

/* Caller: snowflake_shmem_init, with AddinShmemInitLock held. */
void
snowflake_canary_shmem_init(void)
{
	bool		found;
	int			i;

	snowflake_canary_ring = ShmemInitStruct("snowflake canary",
											snowflake_canary_shmem_size(),
											&found);
	if (found)
		return;
	pg_atomic_init_u64(&snowflake_canary_ring->head, 0);
	pg_atomic_init_u64(&snowflake_canary_ring->sampled, 0);
	pg_atomic_init_u64(&snowflake_canary_ring->dropped, 0);
	pg_atomic_init_u64(&snowflake_canary_ring->sent, 0);
	for (i = 0; i < SNOWFLAKE_CANARY_RING_SIZE; i++)
		pg_atomic_init_u64(&snowflake_canary_ring->entries[i], 0);
}

/* Leave a sampled ID for the lease keeper. */
void
snowflake_canary_push(int64 id)
{
	SnowflakeCanaryRing *ring = snowflake_canary_ring;
	uint64		at;
	uint64		empty = 0;

	if (ring == NULL)
		return;
	at = pg_atomic_fetch_add_u64(&ring->head, 1) % SNOWFLAKE_CANARY_RING_SIZE;
	if (pg_atomic_compare_exchange_u64(&ring->entries[at], &empty,
									   (uint64) id + 1))
		pg_atomic_fetch_add_u64(&ring->sampled, 1);
	else
		pg_atomic_fetch_add_u64(&ring->dropped, 1);
}

/*
 * The lease keeper: take up to "max" samples out of the ring into "ids".
 * Returns how many.
 */
int
snowflake_canary_take(int64 *ids, int max)
{
	SnowflakeCanaryRing *ring = snowflake_canary_ring;
	int			n = 0;
	int			i;

	if (ring == NULL)
		return 0;
	for (i = 0; i < SNOWFLAKE_CANARY_RING_SIZE && n < max; i++)
	{
		uint64		v;

		if (pg_atomic_read_u64(&ring->entries[i]) == 0)
			continue;
		v = pg_atomic_exchange_u64(&ring->entries[i], 0);
		if (v != 0)
			ids[n++] = (int64) (v - 1);
	}
	return n;
}
