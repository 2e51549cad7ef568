/*-------------------------------------------------------------------------
 *
 * lease_keeper.c
 *		The lease keeper's own record of its leases, shared by its state
 *		machine (lease.c) and its leasing of worker IDs (lease_acquire.c):
 *		the leases by slot, this server's identity, the lease timing, and
 *		publishing a lease to the minting path and taking it back.
 *
 * Everything here lives in the lease keeper's process only; what it
 * publishes to shared memory goes through lease_slots.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "config.h"
#include "coordinator.h"
#include "lease_keeper.h"
#include "lease_slots.h"
#include "lease_table.h"
#include "shmem.h"

#include "utils/timestamp.h"

/* The snowflake_keeper_leases of the slots, by slot number. */
KeeperLease *snowflake_keeper_leases = NULL;
SnowflakeHolder snowflake_keeper_server;
int64
snowflake_cluster_ms_to_unix(int64 ms)
{
	return ms + snowflake_cluster_layout.epoch_ms;
}

int64
snowflake_unix_ms_to_cluster(int64 ms)
{
	return ms - snowflake_cluster_layout.epoch_ms;
}

/*
 * Lease timing, made consistent.  A renewal that fails is retried every
 * RETRY_MS until the deadline, ttl - margin after the last one that
 * succeeded; renewing at most every ttl - 2 * margin - RETRY_MS leaves room
 * for a coordinator outage of a whole margin.
 */
LeaseTiming
snowflake_lease_timing(void)
{
	static int	warned_for[3] = {-1, -1, -1};
	LeaseTiming t;

	t.ttl = snowflake_lease_ttl;
	t.margin = snowflake_fencing_margin;
	t.renew_every = snowflake_lease_renew_interval;
	if (2 * t.margin >= t.ttl)
		t.margin = t.ttl / 4;
	if (t.renew_every > t.ttl - 2 * t.margin - RETRY_MS)
		t.renew_every = Max(100, t.ttl - 2 * t.margin - RETRY_MS);
	if ((t.margin != snowflake_fencing_margin ||
		 t.renew_every != snowflake_lease_renew_interval) &&
		(warned_for[0] != snowflake_lease_ttl ||
		 warned_for[1] != snowflake_lease_renew_interval ||
		 warned_for[2] != snowflake_fencing_margin))
	{
		ereport(WARNING,
				(errmsg("snowflake: lease timing does not add up; using a fencing margin of " INT64_FORMAT " ms and renewing every " INT64_FORMAT " ms",
						t.margin, t.renew_every),
				 errhint("Keep snowflake.fencing_margin below half of snowflake.lease_ttl, and snowflake.lease_renew_interval below snowflake.lease_ttl minus twice the margin.")));
		warned_for[0] = snowflake_lease_ttl;
		warned_for[1] = snowflake_lease_renew_interval;
		warned_for[2] = snowflake_fencing_margin;
	}
	return t;
}

/* Show slot i's lease, in the given state, to status and refusals. */
void
snowflake_keeper_show_lease(int i, SnowflakeLeaseState state, int64 expires_us,
		   int64 renewed_unix_ms)
{
	SnowflakeLeaseInfo info = snowflake_lease_info_copy(i);

	info.state = state;
	info.worker_id = snowflake_keeper_leases[i].worker_id;
	info.fencing_token = snowflake_keeper_leases[i].token;
	info.expires_at = snowflake_unix_us_to_timestamptz(expires_us);
	info.renewed_at = snowflake_unix_us_to_timestamptz(renewed_unix_ms * 1000);
	info.floor_ms = snowflake_keeper_leases[i].floor_ms;
	info.acquired_us = snowflake_keeper_leases[i].acquired_us;
	snowflake_lease_info_set_lease(i, &info);
}

/* The slot whose lease is worker ID w, or -1. */
int
snowflake_keeper_slot_of(int32 w)
{
	int			i;

	for (i = 0; i < snowflake_shared->nslots; i++)
		if (snowflake_keeper_leases[i].worker_id == w)
			return i;
	return -1;
}

/*
 * Let slot i mint under its lease; not while the duplicate canary has the
 * server parked (canary.c), which publishes again when it unparks.
 */
void
snowflake_keeper_publish(int i)
{
	if (pg_atomic_read_u32(&snowflake_shared->parked) != 0)
		return;
	snowflake_slot_publish(i, snowflake_keeper_leases[i].cap_ms, snowflake_keeper_leases[i].deadline);
	snowflake_keeper_leases[i].published = true;
}

void
snowflake_keeper_unpublish(int i)
{
	snowflake_slot_unpublish(i);
	snowflake_keeper_leases[i].published = false;
}

/* Forget slot i's lease: it mints no more under it. */
void
snowflake_keeper_forget_lease(int i, SnowflakeLeaseState state)
{
	char		err[COORD_ERRLEN];
	int32		worker_id = snowflake_keeper_leases[i].worker_id;

	snowflake_keeper_unpublish(i);
	if (snowflake_keeper_leases[i].locked)
		(void) snowflake_lease_lock_release(worker_id, err);
	snowflake_keeper_leases[i].worker_id = -1;
	snowflake_keeper_leases[i].locked = false;
	snowflake_lease_info_set_state(i, state,
								   state == SNOWFLAKE_LEASE_LOST ? worker_id : -1);
}
