/*-------------------------------------------------------------------------
 *
 * generator.c
 *		The minting path: sequence slots, home slots, and taking IDs.
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
 * What a backend reads and writes in shared memory, and in which order, is
 * part of the protocol stated in shmem.h: the slot word by CAS, max_ms
 * after hwm_ms, binding before and after the deadline, the cap and the
 * worker ID.  The millisecond to mint at must not exceed the slot's cap, so
 * a wall clock that ran ahead while renewals failed mints nothing the next
 * holder of the worker ID may mint.  Everything that is not the fast path,
 * every wait and every refusal, is in mint_wait.c.
 *
 * With snowflake.clock_step_policy = spare, the slots after the first
 * nmain are spares: sessions mint on them only when the clock is behind
 * the highest minted millisecond by more than the wait allows
 * (mint_on_spare), which keeps uniqueness (each spare mints above its own
 * floor, under its own lease) and gives up order across the step.
 *
 * After taking IDs, the path tests each against the duplicate canary's
 * hash (canary_ring.h) and leaves the few sampled ones in its ring for the
 * lease keeper; a parked server (canary.c) has no published slot, so it
 * refuses before getting here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "canary_ring.h"
#include "clock.h"
#include "generator.h"
#include "mint_wait.h"
#include "shmem.h"

#include "miscadmin.h"
#include "storage/ipc.h"

#ifdef SNOWFLAKE_TEST_POINTS
/*
 * Test points: empty functions that tests stop a backend in with gdb, to
 * force an interleaving (test/t/039_*, 041_*, 057_*).  Compiled only into test
 * builds (scripts/test.sh); elsewhere SNOWFLAKE_TEST_POINT() is nothing.
 */
pg_noinline void
snowflake_test_point_before_binding(void)
{
	__asm__ volatile("");
}

pg_noinline void
snowflake_test_point_before_take(void)
{
	__asm__ volatile("");
}

pg_noinline void
snowflake_test_point_before_floor(int64 ms)
{
	__asm__ volatile("" : : "r"(ms));
}
#endif

/* This session's home slot, and the slot and millisecond of its last ID. */
static int	home_slot = -1;
static int	session_last_slot = -1;
static int64 session_last_ms = -1;
static int32 session_last_worker = -1;

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

	while (span < sh->nmain)
		span <<= 1;
	for (i = 0; i < span; i++)
	{
		int			candidate = 0;
		int			bits;
		uint32		n;

		/* bit-reverse i within log2(span) bits */
		for (bits = 1; bits < span; bits <<= 1)
			candidate = (candidate << 1) | ((i & bits) ? 1 : 0);
		if (candidate >= sh->nmain)
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
	uint64		seq_max = snowflake_seq_max();
	uint64		old = pg_atomic_read_u64(&s->state);

	for (;;)
	{
		uint64		new;
		int64		slot_ms;
		uint64		first;
		uint64		n;

		if (old == SNOWFLAKE_SLOT_EMPTY || snowflake_word_ms(old) < target)
		{
			slot_ms = target;
			first = 0;
			n = Min((uint64) want, seq_max + 1);
			new = snowflake_word(slot_ms, n - 1);
		}
		else
		{
			uint64		cur = snowflake_word_seq(old);

			slot_ms = snowflake_word_ms(old);
			if (cur == seq_max)
			{
				note_saturated(s, (uint64) slot_ms);
				*ms = slot_ms;
				return 0;
			}
			first = cur + 1;
			n = Min((uint64) want, seq_max - cur);
			new = old + n;
		}

		if (pg_atomic_compare_exchange_u64(&s->state, &old, new))
		{
			/* The CAS that leaves a millisecond books its IDs, once. */
			if (first == 0)
			{
				pg_atomic_fetch_add_u64(&s->ids_before, snowflake_word_ids(old));
				pg_atomic_fetch_add_u64(&s->ms_minted, 1);
			}
			*ms = slot_ms;
			*first_seq = (int32) first;
			return (int) n;
		}
		/* old now holds the current value; try again */
	}
}

/*
 * Read slot s's lease for minting at "target", with the deadline clock at
 * "mono", in the order the protocol in shmem.h fixes: binding, deadline,
 * cap, worker ID.  Returns false when the slot cannot mint there: it is
 * being re-bound, past its fencing deadline, or "target" is above its cap.
 * The caller reads the binding again after taking numbers (it moved: they
 * go unused) and checks the millisecond it got against *cap.
 */
static inline bool
slot_lease_read(SnowflakeSlotData *s, int64 mono, int64 target,
				uint32 *binding, uint64 *cap, int32 *worker_id)
{
	uint64		deadline;

	*binding = pg_atomic_read_u32(&s->binding);
	if (unlikely(*binding & 1))
		return false;
	pg_read_barrier();
	deadline = pg_atomic_read_u64(&s->deadline_ms);
	if (unlikely((uint64) mono >= deadline))
		return false;
	pg_read_barrier();
	*cap = pg_atomic_read_u64(&s->cap_ms);
	if (unlikely((uint64) target > *cap))
		return false;
	*worker_id = s->worker_id;
	return true;
}

/*
 * The clock is behind floor_ms, the highest millisecond minted, by more
 * than snowflake.max_clock_wait, and the server has spare slots
 * (snowflake.clock_step_policy = spare): mint up to "want" IDs on one at
 * "now".  A spare mints under the same fencing as every slot (binding,
 * deadline, cap) and only above its own state, which starts at what any
 * previous holder of its worker ID minted (lease_slots.c); it never raises
 * max_ms, and mints only below it, where the slots do not.  The session's
 * IDs increase while it mints on spares, but not across the step: they
 * are below the IDs it got before it.
 *
 * Returns how many were minted; 0 when every usable spare is spent for
 * this millisecond; -1 when no spare can mint.
 */
static int
mint_on_spare(int want, int64 now, int64 floor_ms, int64 mark,
			  int64 *first_id)
{
	SnowflakeShared *sh = snowflake_shared;
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	int			nspare = sh->nslots - sh->nmain;
	int64		mono = snowflake_clock_cache.deadline_clock_ms;
	int64		target = now;
	int			start = 0;
	bool		any = false;
	int			i;

	/* same millisecond as our last ID, taken on a spare: only IDs above it */
	if (session_last_slot >= sh->nmain && session_last_ms >= now)
	{
		target = session_last_ms;
		start = session_last_slot - sh->nmain;
	}
	for (i = 0; i < nspare; i++)
	{
		int			k = sh->nmain + (start + i) % nspare;
		SnowflakeSlotData *s = &sh->slots[k].d;
		uint32		binding;
		uint64		cap;
		int32		worker_id;
		uint64		word;
		int64		ms;
		int32		seq;
		int			n;

		if (!slot_lease_read(s, mono, target, &binding, &cap, &worker_id))
			continue;
		if (target == session_last_ms && session_last_slot >= sh->nmain &&
			worker_id < session_last_worker)
			continue;
		/*
		 * Only a spare whose own floor the clock has passed, or nearly: a
		 * reading a moment older than another session's is waited out, as
		 * on the slots, rather than spending the next spare's time.
		 */
		word = pg_atomic_read_u64(&s->state);
		if (word != SNOWFLAKE_SLOT_EMPTY &&
			snowflake_word_ms(word) > target + snowflake_max_clock_wait)
			continue;
		any = true;

		n = slot_take(s, target, want, &ms, &seq);
		if (n == 0)
			continue;
		/* re-bound, above the cap, or not below the main floor: unused */
		if (pg_atomic_read_u32(&s->binding) != binding ||
			(uint64) ms > cap || ms >= floor_ms || ms >= mark)
			continue;
		session_last_ms = ms;
		session_last_slot = k;
		session_last_worker = worker_id;
		pg_atomic_fetch_add_u64(&sh->ids_on_spares, n);
		pg_atomic_fetch_add_u64(&sh->slots[home_slot].d.ids_elsewhere, n);
		snowflake_caller_count(SNOWFLAKE_CALLER_IDS, n);
		*first_id = snowflake_compose(layout, ms, worker_id, seq);
		snowflake_canary_scan(*first_id, n,
							  INT64CONST(1) << layout->sequence_shift);
		return n;
	}
	return any ? 0 : -1;
}

/*
 * Mint up to "want" (>= 1) consecutive IDs: the first goes to *first_id,
 * the rest are first_id + 1, + 2, ...  Returns how many were minted, at
 * least one.  IDs are strictly above every ID this session got before, at
 * or above the highest millisecond any slot has minted, and below the
 * durable high-water mark.
 *
 * The fast path is one function on purpose: its reads follow the order the
 * protocol in shmem.h fixes (mark, floor, clock; binding, deadline, cap,
 * worker ID; CAS; binding again), which reads best in one place, and
 * every slow case leaves it for mint_wait.c.
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
		{
			bool		on_spare;

			now = snowflake_clock_catch_up(&sh->slots[home_slot], floor_ms,
										   !borrow_spent, &borrowed, &on_spare);
			if (unlikely(on_spare))
			{
				int			n = mint_on_spare(want, now, floor_ms, mark, first_id);

				if (n > 0)
					return n;
				if (n < 0)
				{
					/* lapsed while idle: renewed, try again */
					if (snowflake_spare_await())
						continue;
					snowflake_refuse_clock_step(&sh->slots[home_slot], floor_ms,
												now, true);
				}
				snowflake_clock_next_ms(now);	/* every spare is spent */
				continue;
			}
		}
		if (unlikely((uint64) now > (uint64) layout->max_units))
		{
			snowflake_count_refusal(&sh->slots[home_slot], SNOWFLAKE_CAUSE_OTHER);
			snowflake_refuse_time_range(now);
		}
		/* read with the wall clock above, at most a millisecond ago */
		mono = snowflake_clock_cache.deadline_clock_ms;

		if (now > session_last_ms || session_last_slot >= sh->nmain)
		{
			target = Max(now, session_last_ms);
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

		for (i = 0; i < sh->nmain; i++)
		{
			int			k = (start + i) % sh->nmain;
			SnowflakeSlotData *s = &sh->slots[k].d;
			uint32		binding;
			uint64		cap;
			int32		worker_id;
			int64		ms;
			int32		seq;
			int			n;

			/* a slot mints only under a lease, before its fencing deadline */
			SNOWFLAKE_TEST_POINT(before_binding);
			if (!slot_lease_read(s, mono, target, &binding, &cap, &worker_id))
				continue;
			any_lease = true;

			/* within our last millisecond, a lower worker ID would go back */
			if (target == session_last_ms && worker_id < session_last_worker)
				continue;

			SNOWFLAKE_TEST_POINT(before_take);
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
				SNOWFLAKE_TEST_POINT_AT(before_floor, ms);
				session_last_ms = ms;
				session_last_slot = k;
				session_last_worker = worker_id;
				if (ms > floor_ms)
					snowflake_atomic_raise_u64(&sh->max_ms, (uint64) ms);
				if (k != home_slot)
					pg_atomic_fetch_add_u64(&sh->slots[home_slot].d.ids_elsewhere, n);
				snowflake_caller_count(SNOWFLAKE_CALLER_IDS, n);
				*first_id = snowflake_compose(layout, ms, worker_id, seq);
				snowflake_canary_scan(*first_id, n,
									  INT64CONST(1) << layout->sequence_shift);
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
