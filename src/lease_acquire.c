/*-------------------------------------------------------------------------
 *
 * lease_acquire.c
 *		The lease keeper leasing worker IDs: a pinned one per slot, or free
 *		ones, taking each one's advisory lock first when no other keeper
 *		holds it.
 *
 * Runs in the lease keeper only, from its tick (lease.c), on the slots
 * that have no lease.  Worker IDs in snowflake.reserved_worker_ids are
 * never leased (they are kept for backfilling history); a pinned one
 * stops the server at start (config.c).  A worker ID is taken over in one statement on its
 * row (lease_table.c), which raises its floor; the slot is then bound to
 * it at that floor (lease_slots.c) and published by lease.c once this
 * server's clock has passed the floor.  See lease.c for the invariants.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "canary.h"
#include "clock.h"
#include "config.h"
#include "coordinator.h"
#include "lease_keeper.h"
#include "lease_slots.h"
#include "lease_table.h"
#include "shmem.h"

#include "miscadmin.h"

/*
 * Take the advisory lock of a worker ID if no other keeper holds it,
 * ending a keeper session that holds it for an expired lease.  *locked
 * says whether this session holds the lock now; SNOWFLAKE_TAKE_OK without
 * it means only sessions of other roles hold it, which do not count.
 */
static SnowflakeTakeResult
take_lock(int32 worker_id, bool *locked, char *err)
{
	bool		got;
	int			keeper;
	int			ended;
	int			attempt;

	*locked = false;
	if (!snowflake_lease_lock_try(worker_id, &got, &keeper, err))
		return SNOWFLAKE_TAKE_ERROR;
	if (got || keeper == 0)
	{
		*locked = got;
		return SNOWFLAKE_TAKE_OK;
	}

	/*
	 * Another keeper holds the lock.  If the lease has expired, its holder
	 * is past its fencing deadline and mints nothing: end the session that
	 * holds the lock (a frozen server's connection can stay open for ever).
	 */
	if (!snowflake_lease_end_expired_holder(worker_id, keeper, &ended, err))
	{
		if (!snowflake_coord_connected())
			return SNOWFLAKE_TAKE_ERROR;
		/* not allowed to end that session: this worker ID stays taken */
		ereport(LOG,
				(errmsg("snowflake: worker ID %d: could not end the coordinator session that holds the lock of its expired lease: %s",
						worker_id, err),
				 errhint("Let the servers of a fleet use one coordinator role, or grant it pg_signal_backend.")));
		return SNOWFLAKE_TAKE_HELD;
	}
	if (ended == 0)
		return SNOWFLAKE_TAKE_HELD;
	ereport(LOG,
			(errmsg("snowflake: worker ID %d: ended coordinator session %d, which held the lock of an expired lease",
					worker_id, ended)));
	for (attempt = 0; attempt < 20; attempt++)
	{
		pg_usleep(100 * 1000);
		if (!snowflake_lease_lock_try(worker_id, &got, &keeper, err))
			return SNOWFLAKE_TAKE_ERROR;
		if (got || keeper == 0)
		{
			*locked = got;
			return SNOWFLAKE_TAKE_OK;
		}
	}
	return SNOWFLAKE_TAKE_HELD;
}

/*
 * Lease a worker ID for slot i.  On SNOWFLAKE_TAKE_HELD, "holder" says who
 * holds it.
 */
static SnowflakeTakeResult
acquire_one(int i, int32 worker_id, char *holder, size_t holder_len, char *err)
{
	LeaseTiming t = snowflake_lease_timing();
	SnowflakeTakeover took;
	SnowflakeTakeResult got;
	SnowflakeProbeResult probe;
	bool		locked;
	int64		sent;
	int64		sent_wall;
	char		err2[COORD_ERRLEN];

	got = take_lock(worker_id, &locked, err);
	if (got == SNOWFLAKE_TAKE_HELD)
		snowflake_lease_describe_holder(worker_id, holder, holder_len);
	if (got != SNOWFLAKE_TAKE_OK)
		return got;

	sent = snowflake_deadline_clock_ms();
	sent_wall = snowflake_wall_unix_ms();
	got = snowflake_lease_take_over(worker_id, &snowflake_keeper_server, t.ttl,
									sent_wall + t.ttl - t.margin, &took, err);
	if (got != SNOWFLAKE_TAKE_OK)
	{
		/* a live lease whose holder's session is gone: wait for expiry */
		if (got == SNOWFLAKE_TAKE_HELD)
			snowflake_lease_describe_holder(worker_id, holder, holder_len);
		if (locked && !snowflake_lease_lock_release(worker_id, err2) &&
			got == SNOWFLAKE_TAKE_HELD)
		{
			strlcpy(err, err2, COORD_ERRLEN);
			return SNOWFLAKE_TAKE_ERROR;
		}
		return got;
	}

	/*
	 * The boot probe: a sample of the duplicate canary under this worker
	 * ID above its floor means an earlier holder minted past what the
	 * floor says.  Give the worker ID back; it stays quarantined.
	 */
	probe = snowflake_canary_probe(worker_id, took.floor_unix_ms, holder,
								   holder_len, err);
	switch (probe)
	{
		case SNOWFLAKE_PROBE_CLEAR:
			break;
		case SNOWFLAKE_PROBE_REFUSED:
		case SNOWFLAKE_PROBE_ERROR:
			{
				SnowflakeLeaseRef ref;

				ref.worker_id = worker_id;
				ref.token = took.token;
				ref.acquired_us = took.acquired_us;
				ref.last_unix_ms = -1;
				if (snowflake_leases_release(&ref, 1, &snowflake_keeper_server,
											 sent_wall, err2) == NULL)
					ereport(LOG,
							(errmsg("snowflake: could not give back worker ID %d; it expires by itself: %s",
									worker_id, err2)));
				if (locked)
					(void) snowflake_lease_lock_release(worker_id, err2);
				return probe == SNOWFLAKE_PROBE_REFUSED ?
					SNOWFLAKE_TAKE_HELD : SNOWFLAKE_TAKE_ERROR;
			}
	}

	snowflake_keeper_leases[i].worker_id = worker_id;
	snowflake_keeper_leases[i].token = took.token;
	snowflake_keeper_leases[i].acquired_us = took.acquired_us;
	snowflake_keeper_leases[i].cap_ms = snowflake_unix_ms_to_cluster(took.cap_unix_ms);
	snowflake_keeper_leases[i].locked = locked;
	snowflake_keeper_leases[i].published = false;
	snowflake_keeper_leases[i].deadline = sent + t.ttl - t.margin;
	snowflake_keeper_leases[i].floor_ms = took.floor_unix_ms >= 0 ?
		snowflake_unix_ms_to_cluster(took.floor_unix_ms) : -1;
	snowflake_slot_bind(i, worker_id, snowflake_keeper_leases[i].floor_ms);
	snowflake_keeper_show_lease(i, SNOWFLAKE_LEASE_WAITING, took.expires_us, sent_wall);
	ereport(LOG,
			(errmsg("snowflake: leased worker ID %d%s (fencing token " INT64_FORMAT ")",
					worker_id, i >= snowflake_shared->nmain ? " as a spare" : "",
					snowflake_keeper_leases[i].token),
			 snowflake_keeper_leases[i].floor_ms >= 0 ?
			 errdetail("Its previous holders minted up to %s at most; this server mints above that.",
					   snowflake_units_text(&snowflake_cluster_layout, snowflake_keeper_leases[i].floor_ms)) : 0));
	return SNOWFLAKE_TAKE_OK;
}

/* Pinned: slot i takes worker ID N + i, or nothing. */
static bool
acquire_pinned(char *err)
{
	int			i;
	char		holder[256];

	for (i = 0; i < snowflake_shared->nslots; i++)
	{
		int32		want = snowflake_region_prefix(&snowflake_cluster_layout,
												   snowflake_region) |
			(snowflake_first_worker_id + i);

		if (snowflake_keeper_leases[i].worker_id >= 0)
			continue;
		switch (acquire_one(i, want, holder, sizeof(holder), err))
		{
			case SNOWFLAKE_TAKE_OK:
				break;
			case SNOWFLAKE_TAKE_HELD:
				snowflake_lease_info_set_holder(i, want, holder);
				break;
			case SNOWFLAKE_TAKE_ERROR:
				return false;
		}
	}
	return true;
}

/*
 * Lease candidates[from..] for the slots that have none, in order; sets
 * *exhausted when a slot is left without.  Returns false on an error.
 */
static bool
acquire_from(const int32 *candidates, int ncandidates, bool *exhausted,
			 char *err)
{
	char		holder[256];
	int			r = 0;
	int			i;

	*exhausted = false;
	for (i = 0; i < snowflake_shared->nslots && !*exhausted; i++)
	{
		bool		done = false;

		if (snowflake_keeper_leases[i].worker_id >= 0)
			continue;
		while (!done && r < ncandidates)
		{
			int32		want = candidates[r++];

			/* reserved for backfilling history: never leased */
			if (snowflake_keeper_slot_of(want) >= 0 || snowflake_worker_id_reserved(want))
				continue;
			switch (acquire_one(i, want, holder, sizeof(holder), err))
			{
				case SNOWFLAKE_TAKE_OK:
					done = true;
					break;
				case SNOWFLAKE_TAKE_HELD:
					break;
				case SNOWFLAKE_TAKE_ERROR:
					return false;
			}
		}
		if (!done)
			*exhausted = true;
	}
	return true;
}

/*
 * Free worker IDs for every slot that has none (snowflake.worker_id = -1).
 * Servers starting together race for the same candidates; whoever loses a
 * race asks for fresh candidates, a few times.
 */
static bool
acquire_free(int missing, char *err)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	int32		first = snowflake_region_prefix(layout, snowflake_region);
	int32		count = snowflake_local_worker_ids(layout);
	LeaseTiming t = snowflake_lease_timing();
	int			round;
	int			i;

	/* candidates enough to pass over every reserved worker ID */
	int			limit = missing + 8 + (int) Min(snowflake_reserved_count(), count);

	for (round = 0; round < 8; round++)
	{
		int32	   *candidates;
		int			ncandidates;
		bool		exhausted;

		/*
		 * Leave out worker IDs whose floor is further ahead of this
		 * server's clock than a lease lasts: a previous holder's clock ran
		 * ahead, and this server would wait for it.
		 */
		if (!snowflake_free_worker_ids(first, first + count - 1, limit,
									   &snowflake_keeper_server,
									   snowflake_wall_unix_ms() + t.ttl,
									   &candidates, &ncandidates, err) ||
			!acquire_from(candidates, ncandidates, &exhausted, err))
			return false;
		if (!exhausted)
			return true;
		if (ncandidates < limit)
			break;				/* every free worker ID was tried */
	}
	for (i = 0; i < snowflake_shared->nslots; i++)
		if (snowflake_keeper_leases[i].worker_id < 0)
			snowflake_lease_info_set_state(i, SNOWFLAKE_LEASE_NONE, -1);
	snprintf(err, COORD_ERRLEN,
			 "no free worker ID is left among the %d worker IDs of this server's region",
			 count);
	return false;
}

/* Lease a worker ID for every slot that has none. */
bool
snowflake_keeper_acquire(char *err)
{
	int			missing = 0;
	int			i;

	for (i = 0; i < snowflake_shared->nslots; i++)
		if (snowflake_keeper_leases[i].worker_id < 0)
			missing++;
	if (missing == 0)
		return true;
	if (snowflake_first_worker_id >= 0)
		return acquire_pinned(err);
	return acquire_free(missing, err);
}
