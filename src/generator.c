/*-------------------------------------------------------------------------
 *
 * generator.c
 *		Sequence slots in shared memory and the minting path.
 *
 * The server holds snowflake.worker_slots slots, each bound to one leased
 * worker ID (lease.c), and minting only before its fencing deadline.  A
 * slot's whole minting state is one 64-bit word, (millisecond <<
 * sequence_bits) | sequence, changed only by compare-and-swap, so backends
 * on different slots never touch a common cache line on the minting path
 * and backends sharing a slot never wait on a lock.
 *
 * Each session has a home slot (the least used one when it first mints).
 * When its slot has run out of sequence numbers in the current millisecond
 * it goes on in the next slot up (leased worker IDs ascend with the slots);
 * when every usable slot is spent too, it waits for the next millisecond
 * and starts again from home.  A session remembers the millisecond and
 * worker ID of its last ID and never takes a lower worker ID within the
 * same millisecond, which keeps its IDs strictly increasing.
 *
 * Shared state and its protocol:
 *	 slots[i].state	 read by anyone; written only by CAS.
 *	 slots[i].ids_before  added to by the backend whose CAS moved the slot
 *					 to a new millisecond (exactly once per millisecond).
 *	 max_ms			 the highest millisecond minted by any slot; raised by
 *					 CAS after minting, never lowered.  Read after hwm_ms with
 *					 a read barrier between: the guard raises max_ms to the
 *					 stored mark before it publishes hwm_ms after a start.  A backend whose clock
 *					 reads below it goes through the clock policy (clock.c)
 *					 before it may mint.
 *	 slots[i].worker_id, binding, deadline_ms, cap_ms  written by the lease
 *					 keeper only.  A backend reads binding (skipping the slot
 *					 while it is odd), then deadline_ms, cap_ms and worker_id,
 *					 and after taking numbers reads binding again: if it moved,
 *					 the slot was re-bound or released meanwhile and the
 *					 numbers go unused.  The deadline is compared with the
 *					 CLOCK_BOOTTIME reading taken with the wall clock
 *					 (clock.c), at most a millisecond old; the millisecond to
 *					 mint at must not exceed cap_ms, so a wall clock that ran
 *					 ahead while renewals failed mints nothing the next holder
 *					 of the worker ID may mint.  A stale clock reading cannot
 *					 mint below a new lease's floor: binding a slot sets its
 *					 state to the floor's millisecond, spent (lease.c).
 *	 counters		 atomic adds, read without locks by snowflake_status().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "generator.h"
#include "snowflake.h"
#include "lease.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

SnowflakeShared *snowflake_shared = NULL;

/* This session's home slot, and the slot and millisecond of its last ID. */
static int	home_slot = -1;
static int	session_last_slot = -1;
static int64 session_last_ms = -1;
static int32 session_last_worker = -1;

Size
snowflake_shmem_size(void)
{
	return add_size(add_size(offsetof(SnowflakeShared, slots),
							 mul_size(snowflake_worker_slots, sizeof(SnowflakeSlot))),
					mul_size(snowflake_worker_slots, sizeof(SnowflakeLeaseInfo)));
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
		pg_atomic_init_u64(&sh->clock_steps_back, 0);
		pg_atomic_init_u64(&sh->clock_steps_forward, 0);
		pg_atomic_init_u64(&sh->max_regression_ms, 0);
		SpinLockInit(&sh->guard_mutex);
		sh->clock_state = SNOWFLAKE_CLOCK_UNKNOWN;
		SpinLockInit(&sh->lease_mutex);
		sh->lease_round_done = false;
		sh->keeper_latch = NULL;
		pg_atomic_init_u32(&sh->renew_wanted, 0);
		sh->lease_error[0] = '\0';
		pg_atomic_init_u64(&sh->tsc_ticks_per_ms, 0);
		sh->nslots = snowflake_worker_slots;
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
			s->worker_id = -1;
			snowflake_lease_info(i)->state = SNOWFLAKE_LEASE_STARTING;
			snowflake_lease_info(i)->worker_id = -1;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
release_home_slot(int code, Datum arg)
{
	if (home_slot >= 0 && snowflake_shared != NULL)
		pg_atomic_fetch_sub_u32(&snowflake_shared->slots[home_slot].d.sessions, 1);
	home_slot = -1;
}

/*
 * Pick the slot with the fewest sessions.  Ties go to slots spread out over
 * the range (0, n/2, n/4, 3n/4, ...), so that two sessions that both run
 * past their home slot climb through different slots.
 */
static void
choose_home_slot(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int			span = 1;
	int			best = 0;
	uint32		best_sessions = PG_UINT32_MAX;
	int			i;

	while (span < sh->nslots)
		span <<= 1;
	for (i = 0; i < span; i++)
	{
		int			candidate = 0;
		int			bits;
		uint32		n;

		/* bit-reverse i within log2(span) bits */
		for (bits = 1; bits < span; bits <<= 1)
			candidate = (candidate << 1) | ((i & bits) ? 1 : 0);
		if (candidate >= sh->nslots)
			continue;
		n = pg_atomic_read_u32(&sh->slots[candidate].d.sessions);
		if (n < best_sessions)
		{
			best = candidate;
			best_sessions = n;
		}
	}
	pg_atomic_fetch_add_u32(&sh->slots[best].d.sessions, 1);
	home_slot = best;
	before_shmem_exit(release_home_slot, (Datum) 0);
}

static void
note_saturated(SnowflakeSlotData *s, uint64 ms)
{
	uint64		seen = pg_atomic_read_u64(&s->last_saturated_ms);

	if (seen != ms &&
		pg_atomic_compare_exchange_u64(&s->last_saturated_ms, &seen, ms))
		pg_atomic_fetch_add_u64(&s->ms_saturated, 1);
}

/*
 * Take up to "want" consecutive sequence numbers from a slot, at millisecond
 * "target" or, if the slot has already minted later, at its millisecond.
 * Returns how many were taken (0 if the slot is spent for that millisecond)
 * and sets *ms and *first_seq.
 */
static inline int
slot_take(SnowflakeSlotData *s, int64 target, int want, int64 *ms,
		  int32 *first_seq)
{
	int			seq_bits = snowflake_cluster_layout.sequence_bits;
	uint64		seq_max = (UINT64CONST(1) << seq_bits) - 1;
	uint64		old = pg_atomic_read_u64(&s->state);

	for (;;)
	{
		uint64		new;
		uint64		slot_ms;
		uint64		first;
		uint64		n;

		if (old == SNOWFLAKE_SLOT_EMPTY || (int64) (old >> seq_bits) < target)
		{
			slot_ms = (uint64) target;
			first = 0;
			n = Min((uint64) want, seq_max + 1);
			new = (slot_ms << seq_bits) | (n - 1);
		}
		else
		{
			uint64		cur = old & seq_max;

			slot_ms = old >> seq_bits;
			if (cur == seq_max)
			{
				note_saturated(s, slot_ms);
				*ms = (int64) slot_ms;
				return 0;
			}
			first = cur + 1;
			n = Min((uint64) want, seq_max - cur);
			new = old + n;
		}

		if (pg_atomic_compare_exchange_u64(&s->state, &old, new))
		{
			/* The CAS that leaves a millisecond books its IDs, once. */
			if (first == 0 && old != SNOWFLAKE_SLOT_EMPTY)
				pg_atomic_fetch_add_u64(&s->ids_before, (old & seq_max) + 1);
			*ms = (int64) slot_ms;
			*first_seq = (int32) first;
			return (int) n;
		}
		/* old now holds the current value; try again */
	}
}

static void
refuse_time_range(int64 now)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;

	if (now < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_TIME_EXHAUSTED),
				 errmsg("cannot mint a snowflake ID: the clock reads before the layout's epoch"),
				 errdetail("The epoch is %s; the clock reads %s.",
						   snowflake_units_text(layout, 0),
						   snowflake_units_text(layout, now)),
				 errhint("Correct the system clock, or set snowflake.epoch to an earlier time before any ID is minted.")));
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_TIME_EXHAUSTED),
			 errmsg("cannot mint a snowflake ID: the time field ran out at %s",
					snowflake_ts_text(snowflake_layout_ends_at(layout))),
			 errdetail("Layout \"%s\" has %d time bits; another ID would overflow them.",
					   layout->name, layout->time_bits),
			 errhint("Migrate to a layout with a later epoch or more time bits.")));
}

/*
 * Mint up to "want" (>= 1) consecutive IDs: the first goes to *first_id,
 * the rest are first_id + 1, + 2, ...  Returns how many were minted, at
 * least one.  IDs are strictly above every ID this session got before, at
 * or above the highest millisecond any slot has minted, and below the
 * durable high-water mark.
 */
int
snowflake_mint(int want, int64 *first_id)
{
	SnowflakeShared *sh = snowflake_shared;
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	bool		borrow_spent = false;

	if (unlikely(sh == NULL))
		snowflake_require_preload();
	if (unlikely(home_slot < 0))
		choose_home_slot();

	for (;;)
	{
		int64		now = snowflake_clock_ms();
		int64		mono;
		int64		mark;
		int64		floor_ms;
		int64		target;
		int			start;
		int			i;
		bool		any_lease = false;
		bool		borrowed = false;
		bool		rebound = false;
		int64		past_mark = -1;

		/*
		 * The mark first, then the floor: the guard raises the floor before
		 * it publishes a mark, so whoever sees a mark sees its floor too.
		 */
		mark = (int64) pg_atomic_read_u64(&sh->hwm_ms);
		pg_read_barrier();
		floor_ms = (int64) pg_atomic_read_u64(&sh->max_ms);

		if (unlikely(now < floor_ms))
			now = snowflake_clock_catch_up(&sh->slots[home_slot], floor_ms,
										   !borrow_spent, &borrowed);
		if (unlikely((uint64) now > (uint64) layout->max_units))
		{
			snowflake_count_refusal(&sh->slots[home_slot], SNOWFLAKE_CAUSE_OTHER);
			refuse_time_range(now);
		}
		/* read with the wall clock above, at most a millisecond ago */
		mono = snowflake_clock_cache.mono_ms;

		if (now > session_last_ms)
		{
			target = now;
			start = home_slot;
		}
		else
		{
			/* same millisecond as our last ID: only IDs above it */
			target = session_last_ms;
			start = session_last_slot;
		}
		if (unlikely(target >= mark))
		{
			snowflake_await_mark(&sh->slots[home_slot], target);
			continue;
		}

		for (i = 0; i < sh->nslots; i++)
		{
			int			k = (start + i) % sh->nslots;
			SnowflakeSlotData *s = &sh->slots[k].d;
			uint32		binding;
			uint64		deadline;
			uint64		cap;
			int32		worker_id;
			int64		ms;
			int32		seq;
			int			n;

			/* a slot mints only under a lease, before its fencing deadline */
			binding = pg_atomic_read_u32(&s->binding);
			if (unlikely(binding & 1))
				continue;
			pg_read_barrier();
			deadline = pg_atomic_read_u64(&s->deadline_ms);
			if (unlikely((uint64) mono >= deadline))
				continue;
			pg_read_barrier();
			cap = pg_atomic_read_u64(&s->cap_ms);
			if (unlikely((uint64) target > cap))
				continue;
			worker_id = s->worker_id;
			any_lease = true;

			/* within our last millisecond, a lower worker ID would go back */
			if (target == session_last_ms && worker_id < session_last_worker)
				continue;

			n = slot_take(s, target, want, &ms, &seq);
			if (n > 0)
			{
				/* re-bound while we took them: the numbers go unused */
				if (unlikely(pg_atomic_read_u32(&s->binding) != binding))
				{
					rebound = true;
					break;
				}
				/* above the lease's cap: unused (the slot ran ahead of target) */
				if (unlikely((uint64) ms > cap))
					continue;
				/* a slot already past the mark: its numbers go unused */
				if (unlikely(ms >= mark))
				{
					past_mark = ms;
					break;
				}
				session_last_ms = ms;
				session_last_slot = k;
				session_last_worker = worker_id;
				if (ms > floor_ms)
					snowflake_atomic_raise_u64(&sh->max_ms, (uint64) ms);
				*first_id = snowflake_compose(layout, ms, worker_id, seq);
				return n;
			}
		}

		if (unlikely(rebound))
			continue;
		if (unlikely(!any_lease))
		{
			/* waits for the first leases after a start, or refuses */
			snowflake_lease_await(&sh->slots[home_slot]);
			continue;
		}

		if (past_mark >= 0)
			snowflake_await_mark(&sh->slots[home_slot], past_mark);
		else if (borrowed)
			borrow_spent = true;	/* the last millisecond is used up */
		else
			snowflake_clock_next_ms(target);	/* every usable slot is spent */
	}
}
