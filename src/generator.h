/*-------------------------------------------------------------------------
 *
 * generator.h
 *		Shared memory of the extension: the sequence slots and the
 *		server-wide minting floor, and the minting entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_GENERATOR_H
#define SNOWFLAKE_GENERATOR_H

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
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
	/*
	 * (millisecond << sequence_bits) | sequence of the last ID handed out, or
	 * SNOWFLAKE_SLOT_EMPTY.  Changed only by compare-and-swap.
	 */
	pg_atomic_uint64 state;

	/*
	 * The slot's fencing deadline, in milliseconds of CLOCK_BOOTTIME (which
	 * counts time spent suspended): the slot mints only while the clock
	 * reads below it.  0: no lease.  Written by the lease keeper only
	 * (lease.c), after cap_ms.
	 */
	pg_atomic_uint64 deadline_ms;
	/*
	 * The highest millisecond (cluster layout) the slot may mint at: the
	 * minting_until the coordinator acknowledged for the lease.  Written by
	 * the lease keeper only, before deadline_ms; it never decreases while
	 * the slot stays bound to one lease.
	 */
	pg_atomic_uint64 cap_ms;
	/* odd while the lease keeper re-binds the slot to a worker ID */
	pg_atomic_uint32 binding;
	/* whole worker field (region bits included), or -1; see lease.c */
	int32		worker_id;

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
	/* highest millisecond any slot has minted; only ever moves forward */
	pg_atomic_uint64 max_ms;
	/* durable high-water mark: slots mint only below it; 0 = none yet */
	pg_atomic_uint64 hwm_ms;
	char		pad1[PG_CACHE_LINE_SIZE - 2 * sizeof(pg_atomic_uint64)];

	/* the durable mark found at start: minting resumes above it */
	pg_atomic_uint64 resume_after_ms;
	/* how far ahead of the clock that mark was stored (its horizon), ms */
	pg_atomic_uint64 resume_horizon_ms;
	/* max_ms when the last clock regression was counted (guard or backend) */
	pg_atomic_uint64 regression_counted_at;
	/* regressions counted by backends, and the largest not yet logged */
	pg_atomic_uint64 regressions_seen_minting;
	pg_atomic_uint64 unlogged_regression_ms;

	/* set by the first backend that wants to mint since the server started */
	pg_atomic_uint32 mint_wanted;

	/* clock steps seen by the guard worker (guard.c) */
	pg_atomic_uint64 clock_steps_back;
	pg_atomic_uint64 clock_steps_forward;
	pg_atomic_uint64 max_regression_ms;

	/*
	 * Guard state for snowflake_status() and for error messages.  Written
	 * by the guard worker, read by anyone, under guard_mutex.
	 */
	slock_t		guard_mutex;
	SnowflakeClockState clock_state;
	bool		layout_mismatch;
	char		recorded_layout[128];
	char		configured_layout[128];
	char		mark_problem[256];	/* why the mark is not advancing, or "" */
	Latch	   *worker_latch;	/* guard worker's latch, NULL if not running */

	/*
	 * Lease keeper state (lease.c), under lease_mutex; the per-slot part
	 * follows the slots, see snowflake_lease_info().
	 */
	slock_t		lease_mutex;
	bool		lease_round_done;	/* first attempt since start finished */
	Latch	   *keeper_latch;	/* lease keeper's latch, NULL if not running */
	/* set by a backend whose slots are held back by their caps */
	pg_atomic_uint32 renew_wanted;
	char		lease_error[256];	/* last coordinator problem, or "" */

	/* TSC ticks per millisecond, measured once (clock.c); 0 = not yet */
	pg_atomic_uint64 tsc_ticks_per_ms;

	int			nslots;
	char		pad2[PG_CACHE_LINE_SIZE];
	SnowflakeSlot slots[FLEXIBLE_ARRAY_MEMBER];
} SnowflakeShared;

extern SnowflakeShared *snowflake_shared;

/* Raise an atomic to at least "value"; it never goes down. */
static inline void
snowflake_atomic_raise_u64(pg_atomic_uint64 *var, uint64 value)
{
	uint64		cur = pg_atomic_read_u64(var);

	while (cur < value && !pg_atomic_compare_exchange_u64(var, &cur, value))
		;
}

/* Count a wait or refusal of a session whose home is "home". */
static inline void
snowflake_count_wait(SnowflakeSlot *home, SnowflakeCause cause)
{
	pg_atomic_fetch_add_u64(&home->d.waits[cause], 1);
}

static inline void
snowflake_count_refusal(SnowflakeSlot *home, SnowflakeCause cause)
{
	pg_atomic_fetch_add_u64(&home->d.refusals[cause], 1);
}

/* The lease information of slot i; it follows the slots in shared memory. */
static inline SnowflakeLeaseInfo *
snowflake_lease_info(int i)
{
	SnowflakeLeaseInfo *first = (SnowflakeLeaseInfo *)
	(void *) &snowflake_shared->slots[snowflake_shared->nslots];

	return &first[i];
}

extern Size snowflake_shmem_size(void);
extern void snowflake_shmem_init(void);

extern int	snowflake_mint(int want, int64 *first_id);

#endif							/* SNOWFLAKE_GENERATOR_H */
