/*-------------------------------------------------------------------------
 *
 * lease_slots.c
 *		What the lease keeper publishes in shared memory: slots bound to
 *		leases, their deadlines and caps, and the lease information that
 *		snowflake_status() and refusals show.
 *
 * Only the lease keeper calls these.  The order of the writes is part of
 * the protocol in shmem.h: binding odd while a slot's worker ID and state
 * change; the cap before the deadline, with a write barrier between; the
 * binding moved on when a slot stops minting under a lease, so numbers a
 * backend took across that go unused.  The lease information is written
 * under lease_mutex, held only to copy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lease_slots.h"
#include "shmem.h"

/*
 * Bind slot i to a worker ID whose previous holders may have minted up to
 * floor_ms (or -1), with no deadline yet.  The slot's state starts at the
 * floor's millisecond, every sequence number spent, so that no backend can
 * mint at or below the floor under this worker ID, whatever clock reading
 * it holds.
 */
void
snowflake_slot_bind(int i, int32 worker_id, int64 floor_ms)
{
	SnowflakeSlotData *s = &snowflake_shared->slots[i].d;
	uint64		start = SNOWFLAKE_SLOT_EMPTY;
	uint64		old;
	uint64		booked = 0;

	if (floor_ms >= 0)
	{
		start = snowflake_word(floor_ms, snowflake_seq_max());
		/* the spent floor is no IDs; the CAS that leaves it books them */
		booked -= snowflake_word_ids(start);
	}
	pg_atomic_fetch_add_u32(&s->binding, 1);	/* odd: changing */
	pg_atomic_write_u64(&s->deadline_ms, 0);
	pg_atomic_write_u64(&s->cap_ms, 0);
	old = pg_atomic_exchange_u64(&s->state, start);
	booked += snowflake_word_ids(old);
	pg_atomic_fetch_add_u64(&s->ids_before, booked);
	s->worker_id = worker_id;
	pg_atomic_fetch_add_u32(&s->binding, 1);	/* even: stable */
}

/*
 * Stop slot i minting under its lease.  Moving the binding on makes every
 * backend that took numbers from the slot before it saw the deadline gone
 * drop them (generator.c), so what the slot's state shows afterwards is
 * all that was minted under the lease.
 */
void
snowflake_slot_unpublish(int i)
{
	SnowflakeSlotData *s = &snowflake_shared->slots[i].d;

	pg_atomic_write_u64(&s->deadline_ms, 0);
	pg_atomic_fetch_add_u32(&s->binding, 2);	/* stays even; full barrier */
}

/* Let slot i mint up to cap_ms (cluster ms) until deadline_ms. */
void
snowflake_slot_publish(int i, int64 cap_ms, int64 deadline_ms)
{
	SnowflakeSlotData *s = &snowflake_shared->slots[i].d;

	/* a backend that sees the deadline sees the cap that goes with it */
	snowflake_atomic_raise_u64(&s->cap_ms, (uint64) Max(0, cap_ms));
	pg_write_barrier();
	pg_atomic_write_u64(&s->deadline_ms, (uint64) deadline_ms);
}

/* The last millisecond slot i minted (cluster ms), or -1. */
int64
snowflake_slot_last_minted_ms(int i)
{
	uint64		state = pg_atomic_read_u64(&snowflake_shared->slots[i].d.state);

	return state == SNOWFLAKE_SLOT_EMPTY ? -1 : snowflake_word_ms(state);
}

void
snowflake_lease_info_set_error(const char *err)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->lease_mutex);
	strlcpy(sh->lease_error, err, sizeof(sh->lease_error));
	SpinLockRelease(&sh->lease_mutex);
}

/* Whether the keeper's first round since a start (or promotion) is done. */
void
snowflake_lease_info_set_round_done(bool done)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->lease_mutex);
	sh->lease_round_done = done;
	SpinLockRelease(&sh->lease_mutex);
}

/* A state without a lease behind it (or a change of a held one's state). */
void
snowflake_lease_info_set_state(int i, SnowflakeLeaseState state,
							   int32 worker_id)
{
	SnowflakeShared *sh = snowflake_shared;
	SnowflakeLeaseInfo *info = snowflake_lease_info(i);

	SpinLockAcquire(&sh->lease_mutex);
	info->state = state;
	info->worker_id = worker_id;
	if (state != SNOWFLAKE_LEASE_HELD && state != SNOWFLAKE_LEASE_EXPIRED &&
		state != SNOWFLAKE_LEASE_WAITING && state != SNOWFLAKE_LEASE_IDLE &&
		state != SNOWFLAKE_LEASE_PARKED)
	{
		info->expires_at = 0;
		info->renewed_at = 0;
		info->fencing_token = 0;
	}
	SpinLockRelease(&sh->lease_mutex);
}

/* A lease taken or renewed; *lease is copied whole. */
void
snowflake_lease_info_set_lease(int i, const SnowflakeLeaseInfo *lease)
{
	SnowflakeShared *sh = snowflake_shared;
	SnowflakeLeaseInfo *info = snowflake_lease_info(i);

	SpinLockAcquire(&sh->lease_mutex);
	*info = *lease;
	SpinLockRelease(&sh->lease_mutex);
}

/* A pinned worker ID that another server holds. */
void
snowflake_lease_info_set_holder(int i, int32 worker_id, const char *holder)
{
	SnowflakeShared *sh = snowflake_shared;
	SnowflakeLeaseInfo *info = snowflake_lease_info(i);

	SpinLockAcquire(&sh->lease_mutex);
	info->state = SNOWFLAKE_LEASE_HELD_ELSEWHERE;
	info->worker_id = worker_id;
	info->expires_at = 0;
	info->renewed_at = 0;
	strlcpy(info->holder, holder, sizeof(info->holder));
	SpinLockRelease(&sh->lease_mutex);
}

/* Slots that have not leased anything since the start could not: say so. */
void
snowflake_lease_info_mark_unleased(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int			i;

	SpinLockAcquire(&sh->lease_mutex);
	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeLeaseInfo *info = snowflake_lease_info(i);

		if (info->worker_id < 0 && info->state == SNOWFLAKE_LEASE_STARTING)
			info->state = SNOWFLAKE_LEASE_NONE;
	}
	SpinLockRelease(&sh->lease_mutex);
}

/* The keeper's latch, for backends that want a renewal now; NULL: none. */
void
snowflake_lease_info_set_keeper_latch(Latch *latch)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->lease_mutex);
	sh->keeper_latch = latch;
	SpinLockRelease(&sh->lease_mutex);
}
