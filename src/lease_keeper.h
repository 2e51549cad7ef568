/*-------------------------------------------------------------------------
 *
 * lease_keeper.h
 *		The lease keeper's own record of its leases (lease_keeper.c), shared
 *		by its state machine (lease.c) and its leasing of worker IDs
 *		(lease_acquire.c).  Only the lease keeper's process uses any of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_LEASE_KEEPER_H
#define SNOWFLAKE_LEASE_KEEPER_H

#include "lease_table.h"
#include "shmem.h"

/*
 * How soon a failed renewal or connection is tried again, and how soon a
 * worker ID that could not be leased is tried again, in ms.
 */
#define RETRY_MS			200
#define ACQUIRE_RETRY_MS	1000

/* The lease keeper's own record of a slot's lease. */
typedef struct KeeperLease
{
	int32		worker_id;		/* -1: none */
	int64		token;
	int64		acquired_us;	/* acquired_at on the coordinator, Unix us */
	bool		locked;			/* advisory lock held in this session */
	bool		published;		/* deadline visible to the minting path */
	int64		deadline;		/* fencing deadline, SNOWFLAKE_DEADLINE_CLOCK ms */
	int64		cap_ms;			/* acknowledged minting_until, cluster ms */
	int64		floor_ms;		/* mint only above this (cluster ms), or -1 */
} KeeperLease;

/* Lease timing in ms, as lease_timing() makes it consistent. */
typedef struct LeaseTiming
{
	int64		ttl;
	int64		renew_every;
	int64		margin;
} LeaseTiming;

/* The leases of the slots, by slot number; this server's identity. */
extern KeeperLease *snowflake_keeper_leases;
extern SnowflakeHolder snowflake_keeper_server;

extern LeaseTiming snowflake_lease_timing(void);
extern int64 snowflake_unix_ms_to_cluster(int64 ms);
extern int64 snowflake_cluster_ms_to_unix(int64 ms);
extern int	snowflake_keeper_slot_of(int32 w);
extern void snowflake_keeper_publish(int i);
extern void snowflake_keeper_unpublish(int i);
extern void snowflake_keeper_show_lease(int i, SnowflakeLeaseState state,
										int64 expires_us, int64 renewed_unix_ms);
extern void snowflake_keeper_forget_lease(int i, SnowflakeLeaseState state);
extern bool snowflake_keeper_acquire(char *err);

#endif							/* SNOWFLAKE_LEASE_KEEPER_H */
