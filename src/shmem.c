/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		Sizing and initialising the extension's shared memory, and reading
 *		the few fields several layers read the same way (lease state names,
 *		whether minting is parked).
 *
 * The layout and the locking and ordering protocol of every field are in
 * shmem.h.  The struct is made by the shmem_startup_hook (snowflake.c) in
 * the postmaster, under AddinShmemInitLock, and made again after a crash
 * restart only if it is gone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shmem.h"

#include "canary_ring.h"

#include "storage/lwlock.h"
#include "storage/shmem.h"

SnowflakeShared *snowflake_shared = NULL;

Size
snowflake_shmem_size(void)
{
	return add_size(add_size(add_size(offsetof(SnowflakeShared, slots),
									  mul_size(snowflake_slot_count(), sizeof(SnowflakeSlot))),
							 mul_size(snowflake_slot_count(), sizeof(SnowflakeLeaseInfo))),
					mul_size(snowflake_slot_count(), sizeof(SnowflakeStatsRing)));
}

/* Caller: shmem_startup_hook.  Runs again after every crash restart. */
void
snowflake_shmem_init(void)
{
	bool		found;
	int			i;
	int			c;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	snowflake_shared = ShmemInitStruct("snowflake", snowflake_shmem_size(),
									   &found);
	if (!found)
	{
		SnowflakeShared *sh = snowflake_shared;

		memset(sh, 0, snowflake_shmem_size());
		pg_atomic_init_u64(&sh->max_ms, 0);
		pg_atomic_init_u64(&sh->hwm_ms, 0);
		pg_atomic_init_u64(&sh->resume_after_ms, 0);
		pg_atomic_init_u64(&sh->resume_horizon_ms, 0);
		pg_atomic_init_u64(&sh->regression_counted_at, 0);
		pg_atomic_init_u64(&sh->regressions_seen_minting, 0);
		pg_atomic_init_u64(&sh->unlogged_regression_ms, 0);
		pg_atomic_init_u32(&sh->mint_wanted, 0);
		pg_atomic_init_u64(&sh->idle_resumes, 0);
		pg_atomic_init_u64(&sh->clock_steps_back, 0);
		pg_atomic_init_u64(&sh->clock_steps_forward, 0);
		pg_atomic_init_u64(&sh->max_regression_ms, 0);
		SpinLockInit(&sh->guard_mutex);
		sh->clock_state = SNOWFLAKE_CLOCK_UNKNOWN;
		SpinLockInit(&sh->lease_mutex);
		SpinLockInit(&sh->stats_mutex);
		sh->renew_latency_us = -1;
		sh->lease_round_done = false;
		sh->keeper_latch = NULL;
		pg_atomic_init_u32(&sh->renew_wanted, 0);
		pg_atomic_init_u32(&sh->leases_idle, 0);
		pg_atomic_init_u32(&sh->parked, 0);
		sh->park_reason[0] = '\0';
		sh->lease_error[0] = '\0';
		pg_atomic_init_u64(&sh->tsc_ticks_per_ms, 0);
		pg_atomic_init_u64(&sh->ids_on_spares, 0);
		sh->nslots = snowflake_slot_count();
		sh->nmain = snowflake_worker_slots;
		for (i = 0; i < sh->nslots; i++)
		{
			SnowflakeSlotData *s = &sh->slots[i].d;

			pg_atomic_init_u64(&s->state, SNOWFLAKE_SLOT_EMPTY);
			pg_atomic_init_u64(&s->deadline_ms, 0);
			pg_atomic_init_u64(&s->cap_ms, 0);
			pg_atomic_init_u32(&s->binding, 0);
			pg_atomic_init_u64(&s->ids_before, 0);
			pg_atomic_init_u64(&s->ms_saturated, 0);
			pg_atomic_init_u64(&s->last_saturated_ms, SNOWFLAKE_SLOT_EMPTY);
			for (c = 0; c < SNOWFLAKE_N_CAUSES; c++)
			{
				pg_atomic_init_u64(&s->waits[c], 0);
				pg_atomic_init_u64(&s->refusals[c], 0);
			}
			pg_atomic_init_u32(&s->sessions, 0);
			pg_atomic_init_u64(&s->ms_minted, 0);
			pg_atomic_init_u64(&s->ids_elsewhere, 0);
			s->worker_id = -1;
			snowflake_lease_info(i)->state = SNOWFLAKE_LEASE_STARTING;
			snowflake_lease_info(i)->worker_id = -1;
			/* memset left every ring empty */
		}
	}
	snowflake_callers_shmem_init();
	snowflake_canary_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/* Raise the error for a function that needs the preload. */
void
snowflake_require_preload(void)
{
	if (snowflake_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("snowflake must be loaded via \"shared_preload_libraries\" to mint IDs"),
				 errhint("Add 'snowflake' to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Whether the duplicate canary has parked minting (canary.c sets it); the
 * reason into "reason" (len bytes), or "" when not parked.
 */
bool
snowflake_parked(char *reason, size_t len)
{
	SnowflakeShared *sh = snowflake_shared;

	reason[0] = '\0';
	if (pg_atomic_read_u32(&sh->parked) == 0)
		return false;
	SpinLockAcquire(&sh->lease_mutex);
	strlcpy(reason, sh->park_reason, len);
	SpinLockRelease(&sh->lease_mutex);
	return true;
}

const char *
snowflake_lease_state_name(SnowflakeLeaseState state)
{
	switch (state)
	{
		case SNOWFLAKE_LEASE_STARTING:
			return "starting";
		case SNOWFLAKE_LEASE_HELD:
			return "held";
		case SNOWFLAKE_LEASE_EXPIRED:
			return "expired";
		case SNOWFLAKE_LEASE_LOST:
			return "lost";
		case SNOWFLAKE_LEASE_HELD_ELSEWHERE:
			return "held_elsewhere";
		case SNOWFLAKE_LEASE_WAITING:
			return "waiting";
		case SNOWFLAKE_LEASE_STANDBY:
			return "standby";
		case SNOWFLAKE_LEASE_NONE:
			return "none";
		case SNOWFLAKE_LEASE_IDLE:
			return "idle";
		case SNOWFLAKE_LEASE_PARKED:
			return "parked";
	}
	return "unknown";
}
