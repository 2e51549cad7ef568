/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		The extension's shared memory: the sequence slots, the lease
 *		information beside them, the clock guard's and the lease keeper's
 *		shared state, and the helpers every process uses to read them.
 *
 * The whole protocol, field by field (who writes, who reads, what orders
 * them).  "Backend" is any session that mints; "guard" and "keeper" are
 * the two background workers (guard.c, lease.c).
 *
 * SnowflakeShared
 *	 max_ms				highest millisecond any slot has minted; only rises.
 *						Raised by CAS by backends after minting (generator.c),
 *						by the guard to the stored mark at a start (guard.c),
 *						and by the keeper to a new lease's floor before it
 *						publishes the lease (lease.c).  Read by backends after
 *						hwm_ms, with a read barrier between: the guard raises
 *						it before it publishes the first mark.
 *	 hwm_ms				durable high-water mark; slots mint only below it.
 *						Written by the guard only, after the transaction that
 *						stored it has committed (WAL flushed).
 *	 resume_after_ms,	the mark found at a start and how far ahead of the
 *	 resume_horizon_ms	clock it was stored; written by the guard before it
 *						raises max_ms (write barrier), read by backends that
 *						find the clock behind the floor (mint_wait.c).
 *	 mint_wanted		set by every backend waiting at the mark, on each
 *						try; the guard takes it (exchange) when it starts
 *						storing a mark, and sets it again if that failed.
 *						After a start the guard loads and records nothing
 *						before it is set; while the server is idle it
 *						advances the mark only when it is set.
 *	 idle_resumes		counter: marks the guard stored for a backend
 *						waiting at the mark while the server was idle.
 *	 clock_steps_*,		counters; added to with atomics by the guard and, for
 *	 max_regression_ms,	steps the guard missed, by backends (counted once per
 *	 regression_counted_at,	floor through regression_counted_at); the guard
 *	 regressions_seen_minting,	logs what backends counted.
 *	 unlogged_regression_ms
 *	 guard_mutex		spinlock over clock_state, layout_mismatch, the layout
 *						strings, mark_problem and worker_latch: written by the
 *						guard, read by anyone; held only to copy them.
 *	 lease_mutex		spinlock over lease_round_done, lease_error,
 *						keeper_latch and every SnowflakeLeaseInfo: written by
 *						the keeper, read by anyone; held only to copy them.
 *	 renew_wanted		set by a backend whose slots the clock carried past
 *						their caps, or whose leases lapsed while the server
 *						was idle; cleared by the keeper, which renews then.
 *	 leases_idle		set by the keeper when it lets its leases lapse
 *						because the server is idle (embedded), cleared when
 *						it renews; a backend that finds no slot usable while
 *						it is set asks for a renewal and waits for it.
 *	 parked,			set by the lease keeper when the duplicate canary
 *	 park_reason		names this server as a holder of a duplicate ID
 *						(canary.c), cleared when the operator clears the
 *						quarantine; park_reason under lease_mutex.  While set,
 *						no slot is published and every mint refuses (SF012).
 *	 tsc_ticks_per_ms	written once by CAS by the first backend that
 *						calibrates the TSC (clock.c); read by every backend.
 *	 ids_on_spares		counter: IDs minted on spare slots; added to by
 *						backends, read by the guard, which logs when minting
 *						moves onto the spares and off them again.
 *	 nslots, nmain		fixed at start: every slot, and the slots that mint
 *						normally (snowflake.worker_slots).  Slots nmain to
 *						nslots - 1 are spares (snowflake.clock_step_policy =
 *						spare): the keeper leases, renews and publishes them
 *						like the others; backends mint on them only while the
 *						clock is behind max_ms by more than max_clock_wait,
 *						above the spare's own state and under its deadline
 *						and cap, and never raise max_ms from them.
 *
 * Idleness (SnowflakeIdleWatch, below) is each worker's own view of shared
 * memory: the slot words and max_ms unchanged for snowflake.idle_after on
 * the monotonic clock.  Nothing on the minting path writes for it.
 *
 * SnowflakeSlotData (one per slot, two cache lines of its own)
 *	 state				the packed slot word (ms << sequence_bits | sequence)
 *						of the last ID handed out, or SNOWFLAKE_SLOT_EMPTY.
 *						Changed only by CAS, by backends; exchanged by the
 *						keeper when it binds the slot to a lease, to the
 *						lease's floor with every sequence number spent.
 *	 binding			odd while the keeper re-binds the slot, moved on (by 2)
 *						when it stops the slot minting under a lease.  A
 *						backend reads it before the deadline, cap and worker
 *						ID and again after its CAS: if it moved, the numbers
 *						taken go unused.  Every change is a full barrier.
 *	 deadline_ms		fencing deadline, CLOCK_BOOTTIME ms; 0: no lease.
 *	 cap_ms				highest millisecond the lease allows (minting_until
 *						as acknowledged); written before deadline_ms with a
 *						write barrier between, read after it with a read
 *						barrier.  Only rises while the slot keeps its lease.
 *	 worker_id			written by the keeper only, while binding is odd.
 *	 ids_before,		counters: atomic adds.  ids_before is booked by the
 *	 ms_saturated, ...	CAS that leaves a millisecond (and by the keeper when
 *						it re-binds), so ids_before plus the slot word's
 *						sequence + 1 is every ID the slot handed out;
 *						ms_minted by the same CAS.  ids_elsewhere: IDs that
 *						sessions whose home this slot is minted on another.
 *
 * SnowflakeStatsSample (a ring of them per slot, after the lease
 * information): ms_minted and ms_saturated as they stood at a moment, for
 * the saturation ratio over the last minute.  Taken by snowflake_status()
 * at most every SNOWFLAKE_SAMPLE_EVERY_MS; stats_mutex covers the rings.
 *	 renew_latency_us	round trip of the keeper's last renewal that
 *						succeeded; under lease_mutex, written by the keeper.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_SHMEM_H
#define SNOWFLAKE_SHMEM_H

#include "callers.h"
#include "config.h"

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

/* A slot's state before it has minted anything. */
#define SNOWFLAKE_SLOT_EMPTY	PG_UINT64_MAX

/* Why a mint waited or was refused, for snowflake_status(). */
typedef enum SnowflakeCause
{
	SNOWFLAKE_CAUSE_CLOCK,		/* clock behind the highest minted ms */
	SNOWFLAKE_CAUSE_MARK,		/* at the durable high-water mark */
	SNOWFLAKE_CAUSE_OTHER,		/* layout, standby, time field, worker ID */
	SNOWFLAKE_N_CAUSES
} SnowflakeCause;

typedef struct SnowflakeSlotData
{
	pg_atomic_uint64 state;
	pg_atomic_uint64 deadline_ms;
	pg_atomic_uint64 cap_ms;
	pg_atomic_uint32 binding;
	int32		worker_id;		/* whole worker field, or -1 */

	/* IDs minted in milliseconds before the one in state */
	pg_atomic_uint64 ids_before;
	/* milliseconds in which this slot ran out of sequence numbers */
	pg_atomic_uint64 ms_saturated;
	pg_atomic_uint64 last_saturated_ms;
	/* waits and refusals of sessions whose home this slot is */
	pg_atomic_uint64 waits[SNOWFLAKE_N_CAUSES];
	pg_atomic_uint64 refusals[SNOWFLAKE_N_CAUSES];
	/* sessions whose home this slot is */
	pg_atomic_uint32 sessions;
	/* milliseconds in which this slot minted */
	pg_atomic_uint64 ms_minted;
	/* IDs sessions whose home this slot is minted on another slot */
	pg_atomic_uint64 ids_elsewhere;
} SnowflakeSlotData;

/* Each slot gets cache lines of its own, so slots never share a line. */
typedef union SnowflakeSlot
{
	SnowflakeSlotData d;
	char		pad[2 * PG_CACHE_LINE_SIZE];
} SnowflakeSlot;

StaticAssertDecl(sizeof(SnowflakeSlotData) <= 2 * PG_CACHE_LINE_SIZE,
				 "snowflake slot must fit two cache lines");

/* Where a slot's lease stands, for snowflake_status() and refusals. */
typedef enum SnowflakeLeaseState
{
	SNOWFLAKE_LEASE_STARTING,	/* the lease keeper has not tried yet */
	SNOWFLAKE_LEASE_HELD,
	SNOWFLAKE_LEASE_EXPIRED,	/* past its fencing deadline, not renewed */
	SNOWFLAKE_LEASE_LOST,		/* another server took the worker ID */
	SNOWFLAKE_LEASE_HELD_ELSEWHERE, /* pinned worker ID held by another server */
	SNOWFLAKE_LEASE_WAITING,	/* leased; the clock has not passed the
								 * previous holder's last timestamp */
	SNOWFLAKE_LEASE_STANDBY,	/* server in recovery: no lease */
	SNOWFLAKE_LEASE_IDLE,		/* held, not renewed while the server is
								 * idle (embedded): it lapses at its fencing
								 * deadline, and the next mint renews it */
	SNOWFLAKE_LEASE_PARKED,		/* the duplicate canary named this server */
	SNOWFLAKE_LEASE_NONE		/* could not lease (see lease_error) */
} SnowflakeLeaseState;

/* A slot's lease as the lease keeper last saw it; under lease_mutex. */
typedef struct SnowflakeLeaseInfo
{
	SnowflakeLeaseState state;
	int32		worker_id;		/* held, lost, or wanted (pinned); or -1 */
	int64		fencing_token;
	TimestampTz expires_at;		/* the coordinator's expiry; 0 = none */
	TimestampTz renewed_at;		/* wall clock when the last renewal that
								 * succeeded was sent; 0 = none */
	int64		floor_ms;		/* waiting: mint only above this ms */
	int64		acquired_us;	/* the lease's acquired_at on the coordinator,
								 * Unix microseconds: with the system
								 * identifier, the holder's identity */
	char		holder[256];	/* held elsewhere: who holds it */
} SnowflakeLeaseInfo;

/* What the guard worker last saw of the wall clock. */
typedef enum SnowflakeClockState
{
	SNOWFLAKE_CLOCK_UNKNOWN,	/* guard not running yet */
	SNOWFLAKE_CLOCK_OK,
	SNOWFLAKE_CLOCK_BEHIND		/* below the highest minted ms or the mark */
} SnowflakeClockState;

typedef struct SnowflakeShared
{
	/* read on every mint; one cache line */
	pg_atomic_uint64 max_ms;
	pg_atomic_uint64 hwm_ms;
	char		pad1[PG_CACHE_LINE_SIZE - 2 * sizeof(pg_atomic_uint64)];

	pg_atomic_uint64 resume_after_ms;
	pg_atomic_uint64 resume_horizon_ms;
	pg_atomic_uint32 mint_wanted;
	pg_atomic_uint64 idle_resumes;

	pg_atomic_uint64 clock_steps_back;
	pg_atomic_uint64 clock_steps_forward;
	pg_atomic_uint64 max_regression_ms;
	pg_atomic_uint64 regression_counted_at;
	pg_atomic_uint64 regressions_seen_minting;
	pg_atomic_uint64 unlogged_regression_ms;

	slock_t		guard_mutex;
	SnowflakeClockState clock_state;
	bool		layout_mismatch;
	char		recorded_layout[128];
	char		configured_layout[128];
	char		mark_problem[256];	/* why the mark is not advancing, or "" */
	Latch	   *worker_latch;	/* guard worker's latch, NULL if not running */

	slock_t		lease_mutex;
	bool		lease_round_done;	/* first attempt since start finished */
	char		lease_error[256];	/* last coordinator problem, or "" */
	Latch	   *keeper_latch;	/* lease keeper's latch, NULL if not running */
	int64		renew_latency_us;	/* last renewal's round trip, or -1 */
	pg_atomic_uint32 renew_wanted;
	pg_atomic_uint32 leases_idle;
	pg_atomic_uint32 parked;
	char		park_reason[512];	/* why parked, or "" */

	slock_t		stats_mutex;	/* over the sample rings */

	pg_atomic_uint64 tsc_ticks_per_ms;
	pg_atomic_uint64 ids_on_spares;

	int			nslots;
	int			nmain;
	char		pad2[PG_CACHE_LINE_SIZE];
	SnowflakeSlot slots[FLEXIBLE_ARRAY_MEMBER];
	/*
	 * followed by nslots SnowflakeLeaseInfo, see snowflake_lease_info(), and
	 * nslots SnowflakeStatsRing, see snowflake_stats_ring()
	 */
} SnowflakeShared;

/* A slot's counters at a moment (CLOCK_BOOTTIME ms), for ratios over time. */
typedef struct SnowflakeStatsSample
{
	int64		at_ms;
	uint64		ms_minted;
	uint64		ms_saturated;
} SnowflakeStatsSample;

#define SNOWFLAKE_SAMPLES			32
#define SNOWFLAKE_SAMPLE_EVERY_MS	5000

typedef struct SnowflakeStatsRing
{
	int			next;			/* where the next sample goes */
	int			count;			/* samples taken, up to SNOWFLAKE_SAMPLES */
	SnowflakeStatsSample samples[SNOWFLAKE_SAMPLES];
} SnowflakeStatsRing;

extern PGDLLIMPORT SnowflakeShared *snowflake_shared;

extern Size snowflake_shmem_size(void);
extern void snowflake_shmem_init(void);
extern void snowflake_require_preload(void);
extern const char *snowflake_lease_state_name(SnowflakeLeaseState state);
extern bool snowflake_parked(char *reason, size_t len);

/* The lease information of slot i; it follows the slots in shared memory. */
static inline SnowflakeLeaseInfo *
snowflake_lease_info(int i)
{
	SnowflakeLeaseInfo *first = (SnowflakeLeaseInfo *)
	(void *) &snowflake_shared->slots[snowflake_shared->nslots];

	return &first[i];
}

/* Slot i's sample ring; it follows the lease information. */
static inline SnowflakeStatsRing *
snowflake_stats_ring(int i)
{
	SnowflakeStatsRing *first = (SnowflakeStatsRing *)
	(void *) snowflake_lease_info(snowflake_shared->nslots);

	return &first[i];
}

/* A copy of slot i's lease information, taken under lease_mutex. */
static inline SnowflakeLeaseInfo
snowflake_lease_info_copy(int i)
{
	SnowflakeLeaseInfo copy;

	SpinLockAcquire(&snowflake_shared->lease_mutex);
	copy = *snowflake_lease_info(i);
	SpinLockRelease(&snowflake_shared->lease_mutex);
	return copy;
}

/* Raise an atomic to at least "value"; it never goes down. */
static inline void
snowflake_atomic_raise_u64(pg_atomic_uint64 *var, uint64 value)
{
	uint64		cur = pg_atomic_read_u64(var);

	while (cur < value && !pg_atomic_compare_exchange_u64(var, &cur, value))
		;
}

/*
 * Whether minting has stopped for snowflake.idle_after, as one process sees
 * it (the guard and the lease keeper each keep one).  What minting changes,
 * every slot word and max_ms, is summed into a fingerprint; the server is
 * idle once the fingerprint has not changed for idle_after on a clock that
 * does not step (the caller's), so wall clock steps neither start nor end
 * idleness.  A change is noticed when the caller looks, so idleness starts
 * at most one of the caller's ticks late.  idle_after = 0: never idle.
 */
typedef struct SnowflakeIdleWatch
{
	uint64		fingerprint;
	int64		changed_at;		/* caller's clock, ms; -1: not looked yet */
} SnowflakeIdleWatch;

#define SNOWFLAKE_IDLE_WATCH_INIT {0, -1}

static inline bool
snowflake_idle_check(SnowflakeIdleWatch *w, int64 now_ms)
{
	SnowflakeShared *sh = snowflake_shared;
	uint64		fp = pg_atomic_read_u64(&sh->max_ms);
	int			i;

	for (i = 0; i < sh->nslots; i++)
		fp += pg_atomic_read_u64(&sh->slots[i].d.state) * (uint64) (2 * i + 3);
	if (w->changed_at < 0 || fp != w->fingerprint)
	{
		w->fingerprint = fp;
		w->changed_at = now_ms;
	}
	return snowflake_idle_after > 0 &&
		now_ms - w->changed_at >= snowflake_idle_after;
}

/* Count a wait or refusal of a session whose home is "home". */
static inline void
snowflake_count_wait(SnowflakeSlot *home, SnowflakeCause cause)
{
	pg_atomic_fetch_add_u64(&home->d.waits[cause], 1);
	snowflake_caller_count(SNOWFLAKE_CALLER_WAITS, 1);
}

static inline void
snowflake_count_refusal(SnowflakeSlot *home, SnowflakeCause cause)
{
	pg_atomic_fetch_add_u64(&home->d.refusals[cause], 1);
	snowflake_caller_count(SNOWFLAKE_CALLER_REFUSALS, 1);
}

/* The packed slot word: (millisecond << sequence_bits) | sequence. */
static inline uint64
snowflake_seq_max(void)
{
	return (UINT64CONST(1) << snowflake_cluster_layout.sequence_bits) - 1;
}

static inline int64
snowflake_word_ms(uint64 word)
{
	return (int64) (word >> snowflake_cluster_layout.sequence_bits);
}

static inline uint64
snowflake_word_seq(uint64 word)
{
	return word & snowflake_seq_max();
}

static inline uint64
snowflake_word(int64 ms, uint64 seq)
{
	return ((uint64) ms << snowflake_cluster_layout.sequence_bits) | seq;
}

/* IDs a slot word stands for in its millisecond (none when empty). */
static inline uint64
snowflake_word_ids(uint64 word)
{
	return word == SNOWFLAKE_SLOT_EMPTY ? 0 : snowflake_word_seq(word) + 1;
}

#endif							/* SNOWFLAKE_SHMEM_H */
