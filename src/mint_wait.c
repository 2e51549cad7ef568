/*-------------------------------------------------------------------------
 *
 * mint_wait.c
 *		The slow side of minting: every wait and every refusal.  All of the
 *		extension's own SQLSTATEs (class SF) are raised here.
 *
 * The minting path (generator.c) stays on its fast path while the clock,
 * the mark and the leases are where they should be, and calls in here when
 * one is not:
 *
 * - The clock reads below the highest millisecond minted (max_ms), or,
 *   after a start, below the durable mark: a step up to
 *   snowflake.max_clock_wait (after a start, up to the horizon the mark was
 *   stored with) is waited out, a larger one refused with SF001 until the
 *   clock has passed that millisecond again; with snowflake.clock_borrow,
 *   the sequence numbers left in it are used first; with spare slots
 *   (snowflake.clock_step_policy = spare), the caller mints on a spare
 *   instead of refusing, and refuses only if no spare can mint.  Every
 *   such regression is counted once (the guard logs it).
 * - A slot is about to mint at or past the durable high-water mark: ask
 *   the guard (mint_wanted) and wait a little for it to move the mark (after
 *   an idle period, have the keeper renew the lapsed leases meanwhile), then
 *   refuse with
 *   the reason: the layout changed (SF006), the server is a standby
 *   (SF004), or the mark cannot be made durable (SF007).
 * - No slot can mint: right after a start, wait for the lease keeper's
 *   first round (right after a promotion, wake the keeper for it: a
 *   standby's keeper looks for a promotion only once a second); when the
 *   wall clock has passed the slots' caps, or the leases lapsed while the
 *   server was idle (leases_idle), ask the keeper for a renewal and wait a
 *   second for it; otherwise refuse with
 *   the reason: past the fencing deadline or the cap (SF003), the pinned
 *   worker ID held by another server (SF008), or none leased (SF002).
 * - The time field has run out, or the clock reads before the epoch (SF005).
 *
 * Nothing here holds a lock while it waits; the spinlocks of shmem.h are
 * held only to copy what a message needs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "mint_wait.h"
#include "shmem.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

/* How long the minting path waits for the first leases after a start. */
#define FIRST_LEASE_WAIT_MS 10000
/* How long it waits for a renewal when the clock has passed the caps. */
#define CAP_WAIT_MS			1000

static void refuse_unleased(SnowflakeSlot *home, bool capped, int64 now)
			pg_attribute_noreturn();
static void request_renewal(SnowflakeShared *sh);

/* " Last problem: <problem>" for a detail, or "" when there is none. */
static const char *
last_problem(const char *problem)
{
	if (problem == NULL || problem[0] == '\0')
		return "";
	return psprintf(" Last problem: %s", problem);
}

/*
 * The clock read below floor_ms, the highest millisecond minted (or, after
 * a start, the durable mark).  Return the millisecond to mint at: a clock
 * reading at or above floor_ms, after waiting if the step is small; or,
 * with snowflake.clock_borrow and may_borrow, floor_ms itself, so that the
 * sequence numbers left in it are used first (*borrowed is then true).
 * Otherwise raise ERRCODE_SNOWFLAKE_CLOCK_REGRESSION.  "home" is the
 * caller's home slot, where waits and refusals are counted.
 */
int64
snowflake_clock_catch_up(SnowflakeSlot *home, int64 floor_ms, bool may_borrow,
						 bool *borrowed, bool *on_spare)
{
	SnowflakeShared *sh = snowflake_shared;
	bool		after_start = floor_ms <= (int64) pg_atomic_read_u64(&sh->resume_after_ms);

	/*
	 * After a start, the mark may be as far ahead as the horizon in force
	 * when it was stored, which a restart may have lowered since.
	 */
	int64		limit = after_start ?
		Max(Max(snowflake_high_water_horizon, snowflake_max_clock_wait),
			(int64) pg_atomic_read_u64(&sh->resume_horizon_ms)) :
		snowflake_max_clock_wait;
	int64		now;
	int64		behind;

	*borrowed = false;
	*on_spare = false;

	/*
	 * Another backend may have read the clock a moment after us and raised
	 * the floor to a millisecond the clock has reached since; read again.
	 */
	now = snowflake_clock_read();
	if (now >= floor_ms)
		return now;
	if (!after_start)
		snowflake_count_regression(floor_ms, floor_ms - now);

	if (may_borrow && snowflake_clock_borrow && !after_start)
	{
		*borrowed = true;
		return floor_ms;
	}

	behind = floor_ms - now;
	if (behind <= limit)
	{
		snowflake_count_wait(home, SNOWFLAKE_CAUSE_CLOCK);
		while (now < floor_ms)
		{
			CHECK_FOR_INTERRUPTS();
			pg_usleep(Min(1000, (floor_ms - now) * 1000));
			now = snowflake_clock_read();
			if (floor_ms - now > limit)
				break;			/* stepped back further while we waited */
		}
		if (now >= floor_ms)
			return now;
		behind = floor_ms - now;
	}

	/*
	 * Too far behind to wait, with spare slots: the caller mints on one of
	 * them at this clock reading.  Not before the clock has passed the mark
	 * found at the start: after a restart, a crash or a promotion, nothing
	 * mints until then, spares included.
	 */
	if (snowflake_shared->nslots > snowflake_shared->nmain &&
		now > (int64) pg_atomic_read_u64(&snowflake_shared->resume_after_ms))
	{
		*on_spare = true;
		return now;
	}
	snowflake_refuse_clock_step(home, floor_ms, now, false);
	return now;					/* keep compiler quiet */
}

/*
 * No spare slot could mint.  If the lease keeper let the leases lapse while
 * the server was idle (embedded), ask for the renewal and wait for it, at
 * most CAP_WAIT_MS, as the slots do (snowflake_lease_await).  Returns true
 * when it came, so the caller tries the spares again; false when there is
 * nothing to wait for.
 */
bool
snowflake_spare_await(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		started = snowflake_deadline_clock_ms();

	if (pg_atomic_read_u32(&sh->leases_idle) == 0)
		return false;
	while (pg_atomic_read_u32(&sh->leases_idle) != 0)
	{
		if (snowflake_deadline_clock_ms() - started > CAP_WAIT_MS)
			return false;
		request_renewal(sh);
		CHECK_FOR_INTERRUPTS();
		pg_usleep(500);
	}
	/* the keeper clears leases_idle after it published the new deadlines */
	pg_read_barrier();
	return true;
}

/*
 * Refuse to mint because the clock reads "now", below floor_ms: the
 * highest millisecond minted, or after a start the durable mark.
 * "no_spare": the spare slots could not mint either.
 */
void
snowflake_refuse_clock_step(SnowflakeSlot *home, int64 floor_ms, int64 now,
							bool no_spare)
{
	int64		resume_after = (int64) pg_atomic_read_u64(&snowflake_shared->resume_after_ms);
	bool		after_start = floor_ms <= resume_after || now < resume_after;
	int64		behind;

	/* the clock has not passed the mark found at the start */
	if (now < resume_after)
		floor_ms = Max(floor_ms, resume_after);
	behind = floor_ms - now;

	if (no_spare && RecoveryInProgress())
		snowflake_refuse_standby(home);
	snowflake_count_refusal(home, SNOWFLAKE_CAUSE_CLOCK);
	if (after_start)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_CLOCK_REGRESSION),
				 errmsg("cannot mint a snowflake ID: the clock is " INT64_FORMAT " ms behind the durable high-water mark",
						behind),
				 errdetail("Before it stopped, this server may have minted IDs up to %s; the clock reads %s.%s",
						   snowflake_units_text(&snowflake_cluster_layout, floor_ms),
						   snowflake_units_text(&snowflake_cluster_layout, now),
						   no_spare ? " No spare worker ID can mint either." : ""),
				 errhint("Minting resumes by itself once the clock passes the mark. Check the time source (NTP, VM host) of this server.")));
	if (no_spare)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_CLOCK_REGRESSION),
				 errmsg("cannot mint a snowflake ID: the clock stepped back by " INT64_FORMAT " ms, and no spare worker ID can mint",
						behind),
				 errdetail("IDs have been minted up to %s. No spare slot is leased, before its fencing deadline and below its cap with its last minted millisecond at or below the clock (%s).",
						   snowflake_units_text(&snowflake_cluster_layout, floor_ms),
						   snowflake_units_text(&snowflake_cluster_layout, now)),
				 errhint("Minting resumes by itself once the clock passes the last minted millisecond, or a spare worker ID is leased; see the spare rows of snowflake_status.")));
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_CLOCK_REGRESSION),
			 errmsg("cannot mint a snowflake ID: the clock stepped back by " INT64_FORMAT " ms",
					behind),
			 errdetail("IDs have been minted up to %s, and snowflake.max_clock_wait allows waiting out %d ms.",
					   snowflake_units_text(&snowflake_cluster_layout, floor_ms),
					   snowflake_max_clock_wait),
			 errhint("Minting resumes by itself once the clock passes the last minted millisecond. Check the time source (NTP, VM host) of this server, or set snowflake.clock_step_policy = spare.")));
}

/* Refuse to mint because the server is in recovery. */
void
snowflake_refuse_standby(SnowflakeSlot *home)
{
	snowflake_count_refusal(home, SNOWFLAKE_CAUSE_OTHER);
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_STANDBY),
			 errmsg("cannot mint a snowflake ID on a standby"),
			 errdetail("A server in recovery holds no worker ID lease; after promotion it leases worker IDs of its own and mints above the high-water mark it replicated."),
			 errhint("Mint on the primary.")));
}

/*
 * Count a backward step of the wall clock that left it below floor_ms, the
 * highest millisecond minted, once: the guard and every backend that sees
 * the same step report the same floor.  The guard logs what backends count
 * (guard.c): the minting path writes no log lines.
 */
void
snowflake_count_regression(int64 floor_ms, int64 behind_ms)
{
	SnowflakeShared *sh = snowflake_shared;
	uint64		counted = pg_atomic_read_u64(&sh->regression_counted_at);

	if (counted == (uint64) floor_ms ||
		!pg_atomic_compare_exchange_u64(&sh->regression_counted_at, &counted,
										(uint64) floor_ms))
		return;
	pg_atomic_fetch_add_u64(&sh->clock_steps_back, 1);
	snowflake_atomic_raise_u64(&sh->max_regression_ms, (uint64) behind_ms);
	snowflake_atomic_raise_u64(&sh->unlogged_regression_ms, (uint64) behind_ms);
	pg_atomic_fetch_add_u64(&sh->regressions_seen_minting, 1);
}

/*
 * The duplicate canary found an ID minted by this server and another (or
 * the boot probe found this server's sample above a floor): the lease
 * keeper has unpublished every slot and publishes none until the operator
 * clears the quarantine on the coordinator.
 */
static void
refuse_parked(SnowflakeSlot *home)
{
	char		reason[sizeof(snowflake_shared->park_reason)];

	(void) snowflake_parked(reason, sizeof(reason));
	snowflake_count_refusal(home, SNOWFLAKE_CAUSE_OTHER);
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_PARKED),
			 errmsg("cannot mint a snowflake ID: minting is parked because the duplicate canary found %s",
					reason[0] ? reason : "a duplicate ID"),
			 errhint("Find the duplicates with snowflake_audit() and the lease history on the coordinator; then clear the quarantine there with snowflake_state.quarantine_clear(worker_id). Minting resumes at the lease keeper's next round.")));
}

/*
 * Ask the lease keeper for a renewal now: slots capped by a clock that ran
 * past what the coordinator acknowledged, or leases that lapsed while the
 * server was idle.
 */
static void
request_renewal(SnowflakeShared *sh)
{
	Latch	   *latch;

	pg_atomic_write_u32(&sh->renew_wanted, 1);
	SpinLockAcquire(&sh->lease_mutex);
	latch = sh->keeper_latch;
	SpinLockRelease(&sh->lease_mutex);
	if (latch)
		SetLatch(latch);
}

static void
wake_guard_worker(SnowflakeShared *sh)
{
	Latch	   *latch;

	/* the latch lives in the guard's PGPROC: setting a stale one is harmless */
	SpinLockAcquire(&sh->guard_mutex);
	latch = sh->worker_latch;
	SpinLockRelease(&sh->guard_mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * A slot is about to mint at millisecond ms, at or past the durable
 * high-water mark.  Wait for the guard worker to move the mark past ms, or
 * raise the error that says why it cannot.
 */
void
snowflake_await_mark(SnowflakeSlot *home, int64 ms)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		limit = Max(snowflake_high_water_horizon, 1000);
	int64		started = -1;

	/*
	 * After an idle period the leases (embedded) have lapsed as well: have
	 * the keeper renew them while the guard stores the mark, so the first
	 * ID waits for the two commits side by side, not one after the other.
	 */
	if (pg_atomic_read_u32(&sh->leases_idle) != 0)
		request_renewal(sh);

	for (;;)
	{
		int64		mark = (int64) pg_atomic_read_u64(&sh->hwm_ms);
		int64		now;
		bool		mismatch;
		char		recorded[sizeof(sh->recorded_layout)];
		char		configured[sizeof(sh->configured_layout)];
		char		problem[sizeof(sh->mark_problem)];

		if (ms < mark)
			return;

		SpinLockAcquire(&sh->guard_mutex);
		mismatch = sh->layout_mismatch;
		memcpy(recorded, sh->recorded_layout, sizeof(recorded));
		memcpy(configured, sh->configured_layout, sizeof(configured));
		memcpy(problem, sh->mark_problem, sizeof(problem));
		SpinLockRelease(&sh->guard_mutex);

		if (mismatch)
		{
			snowflake_count_refusal(home, SNOWFLAKE_CAUSE_OTHER);
			ereport(ERROR,
					(errcode(ERRCODE_SNOWFLAKE_LAYOUT_CHANGED),
					 errmsg("cannot mint a snowflake ID: the configured layout differs from the layout recorded when this server first minted"),
					 errdetail("Recorded: %s. Configured: %s.", recorded, configured),
					 errhint("Restore the recorded layout settings (snowflake.epoch, snowflake.worker_bits, snowflake.sequence_bits, snowflake.region_bits) and restart. Changing the layout of minted IDs is a migration.")));
		}
		if (RecoveryInProgress())
			snowflake_refuse_standby(home);

		now = snowflake_monotonic_ms();
		if (started < 0)
		{
			started = now;
			snowflake_count_wait(home, SNOWFLAKE_CAUSE_MARK);
		}
		else if (now - started > limit)
		{
			snowflake_count_refusal(home, SNOWFLAKE_CAUSE_MARK);
			ereport(ERROR,
					(errcode(ERRCODE_SNOWFLAKE_HIGH_WATER),
					 errmsg("cannot mint a snowflake ID: the durable high-water mark is not advancing"),
					 mark > 0 ?
					 errdetail("IDs may be minted only below %s, and the background worker has not moved the mark.%s",
							   snowflake_units_text(&snowflake_cluster_layout, mark),
							   last_problem(problem)) :
					 errdetail("The background worker has not loaded the high-water mark since the server started.%s",
							   last_problem(problem)),
					 errhint("Check the server log for the \"snowflake guard\" background worker; it needs the database named by snowflake.database and room to write WAL.")));
		}
		/*
		 * The guard stores a first mark after a start, or a mark while the
		 * server is idle, only when asked; it takes the request when it
		 * starts, so ask on every try.
		 */
		pg_atomic_write_u32(&sh->mint_wanted, 1);
		wake_guard_worker(sh);
		CHECK_FOR_INTERRUPTS();
		pg_usleep(1000);
	}
}

/* Refuse to mint: the clock is outside the time field of the layout. */
void
snowflake_refuse_time_range(int64 now)
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
 * Whether a slot can mint now: before its fencing deadline, and the wall
 * clock ("now", cluster ms) not past its cap.  Sets *capped when a slot
 * before its deadline is held back by its cap only.
 */
static bool
any_slot_usable(int64 mono, int64 now, bool *capped)
{
	SnowflakeShared *sh = snowflake_shared;
	int			i;

	*capped = false;
	for (i = 0; i < sh->nmain; i++)
	{
		SnowflakeSlotData *s = &sh->slots[i].d;

		if ((uint64) mono >= pg_atomic_read_u64(&s->deadline_ms))
			continue;
		pg_read_barrier();
		if ((uint64) now <= pg_atomic_read_u64(&s->cap_ms))
			return true;
		*capped = true;
	}
	return false;
}

/*
 * No slot can mint, and waiting did not help: raise the error of the most
 * telling slot.  "capped": a slot is held back by its cap only; "now": the
 * clock, in cluster ms.
 */
static void
refuse_unleased(SnowflakeSlot *home, bool capped, int64 now)
{
	SnowflakeShared *sh = snowflake_shared;
	SnowflakeLeaseInfo why;
	int			best_rank = -1;
	char		problem[sizeof(sh->lease_error)];
	int32		problem_idle = -1;
	int			i;

	/* the most telling slot: expired, then held elsewhere, then waiting */
	memset(&why, 0, sizeof(why));
	for (i = 0; i < sh->nmain; i++)
	{
		SnowflakeLeaseInfo info = snowflake_lease_info_copy(i);
		int			rank;


		/* held, yet not usable: its deadline has just passed */
		if (info.state == SNOWFLAKE_LEASE_HELD)
			info.state = SNOWFLAKE_LEASE_EXPIRED;
		/* lapsed while idle, and the renewal asked for did not come */
		if (info.state == SNOWFLAKE_LEASE_IDLE)
		{
			info.state = SNOWFLAKE_LEASE_EXPIRED;
			if (problem_idle < 0)
				problem_idle = info.worker_id;
		}
		rank = info.state == SNOWFLAKE_LEASE_EXPIRED ? 3 :
			info.state == SNOWFLAKE_LEASE_HELD_ELSEWHERE ? 2 :
			info.state == SNOWFLAKE_LEASE_WAITING ? 1 : 0;
		if (rank > best_rank)
		{
			why = info;
			best_rank = rank;
		}
	}
	SpinLockAcquire(&sh->lease_mutex);
	memcpy(problem, sh->lease_error, sizeof(problem));
	SpinLockRelease(&sh->lease_mutex);

	snowflake_count_refusal(home, SNOWFLAKE_CAUSE_OTHER);
	if (capped)
	{
		int64		cap = -1;

		for (i = 0; i < sh->nmain; i++)
			cap = Max(cap, (int64) pg_atomic_read_u64(&sh->slots[i].d.cap_ms));
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_FENCED),
				 errmsg("cannot mint a snowflake ID: the clock has passed the time the leases allow minting until"),
				 errdetail("The coordinator acknowledged minting up to %s; the clock reads %s. The next holder of a worker ID mints above that time, so this server may not.%s",
						   snowflake_units_text(&snowflake_cluster_layout, cap),
						   snowflake_units_text(&snowflake_cluster_layout, now),
						   last_problem(problem)),
				 errhint("Minting resumes by itself once a lease renewal succeeds. A wall clock that stepped forward (suspend and resume, an NTP step) while renewals failed causes this; check the time source and that the coordinator is reachable.")));
	}
	if (why.state == SNOWFLAKE_LEASE_EXPIRED && problem_idle >= 0 &&
		problem[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_FENCED),
				 errmsg("cannot mint a snowflake ID: the lease on worker ID %d lapsed while the server was idle, and was not renewed in time",
						why.worker_id),
				 errdetail("The lease keeper was asked to renew it and has not done so within %d ms.",
						   CAP_WAIT_MS),
				 errhint("Check that the \"snowflake lease keeper\" background worker is running and not stopped; minting resumes once it renews the lease.")));
	if (why.state == SNOWFLAKE_LEASE_EXPIRED)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_FENCED),
				 errmsg("cannot mint a snowflake ID: the lease on worker ID %d is past its fencing deadline",
						why.worker_id),
				 why.renewed_at != 0 ?
				 errdetail("The last renewal that succeeded was sent at %s, and the lease has not been renewed since.%s",
						   snowflake_ts_text(why.renewed_at),
						   last_problem(problem)) :
				 errdetail("The lease has not been renewed.%s",
						   last_problem(problem)),
				 errhint("Minting resumes by itself once the coordinator answers again. Check that the coordinator (snowflake.coordinator, or snowflake.database when that is empty) is up and reachable.")));
	if (why.state == SNOWFLAKE_LEASE_HELD_ELSEWHERE &&
		strncmp(why.holder, "quarantined", 11) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_HELD_ELSEWHERE),
				 errmsg("cannot mint a snowflake ID: worker ID %d is quarantined",
						why.worker_id),
				 errdetail("It is %s.", why.holder),
				 errhint("Find the duplicates with snowflake_audit() and the lease history on the coordinator before clearing the quarantine; or give this server another snowflake.worker_id (-1 leases free worker IDs).")));
	if (why.state == SNOWFLAKE_LEASE_HELD_ELSEWHERE)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_HELD_ELSEWHERE),
				 errmsg("cannot mint a snowflake ID: worker ID %d is leased to another server",
						why.worker_id),
				 errdetail("Holder: %s.", why.holder),
				 errhint("Stop the other server, or give this one another snowflake.worker_id (-1 leases free worker IDs). Minting resumes by itself once the other server releases the lease or lets it expire.")));
	if (why.state == SNOWFLAKE_LEASE_WAITING)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_NO_WORKER_ID),
				 errmsg("cannot mint a snowflake ID: no worker ID is leased to this server"),
				 errdetail("Worker ID %d is leased, but its previous holder may have minted up to %s, and this server's clock has not passed that yet.",
						   why.worker_id,
						   snowflake_units_text(&snowflake_cluster_layout, why.floor_ms)),
				 errhint("Minting resumes by itself once the clock passes that time. Check that the clocks of the fleet agree (NTP).")));
	ereport(ERROR,
			(errcode(ERRCODE_SNOWFLAKE_NO_WORKER_ID),
			 errmsg("cannot mint a snowflake ID: no worker ID is leased to this server"),
			 problem[0] ?
			 errdetail("%s", last_problem(problem) + 1) :
			 errdetail("The lease keeper has not leased a worker ID yet."),
			 errhint("Check the server log of the \"snowflake lease keeper\" background worker and that the coordinator is reachable; with snowflake.worker_id = -1, check that free worker IDs are left.")));
}
/*
 * No slot can mint: none holds a lease, or every lease is past its fencing
 * deadline.  Right after a start (or a promotion), wait for the lease
 * keeper's first round; then return if a slot can mint, or raise the error
 * that says why none can.
 */
void
snowflake_lease_await(SnowflakeSlot *home)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		started = snowflake_deadline_clock_ms();
	bool		capped = false;
	bool		idle_asked = false;
	int64		now = 0;

	for (;;)
	{
		int64		mono;
		bool		done;
		bool		idle;
		bool		keeper_unaware;

		if (unlikely(pg_atomic_read_u32(&sh->parked) != 0))
			refuse_parked(home);
		if (RecoveryInProgress())
			snowflake_refuse_standby(home);

		/*
		 * The keeper let the leases lapse while the server was idle: ask
		 * for the renewal, and wait for it as for a cap.  The keeper
		 * clears leases_idle after the renewal's deadlines are published,
		 * so the slots are read after the flag.
		 */
		idle = pg_atomic_read_u32(&sh->leases_idle) != 0;
		pg_read_barrier();
		now = snowflake_clock_read();
		mono = snowflake_clock_cache.deadline_clock_ms;
		if (any_slot_usable(mono, now, &capped))
			return;
		if (idle)
			idle_asked = true;
		if (capped || idle_asked)
		{
			/*
			 * The wall clock has moved past what the coordinator
			 * acknowledged (a forward step): a renewal sent now raises the
			 * caps.  Ask for one, and wait a little for it.
			 */
			if (mono - started > CAP_WAIT_MS)
				break;
			if (capped || idle)
				request_renewal(sh);
			CHECK_FOR_INTERRUPTS();
			pg_usleep(idle_asked ? 500 : 2000);
			continue;
		}
		/* just promoted: the lease keeper has yet to notice */
		SpinLockAcquire(&sh->lease_mutex);
		keeper_unaware = snowflake_lease_info(0)->state == SNOWFLAKE_LEASE_STANDBY;
		done = sh->lease_round_done && !keeper_unaware;
		SpinLockRelease(&sh->lease_mutex);
		if (done || mono - started > FIRST_LEASE_WAIT_MS)
			break;

		/*
		 * A standby's keeper looks for a promotion only every
		 * ACQUIRE_RETRY_MS: wake it rather than wait for its next look.
		 */
		if (keeper_unaware)
			request_renewal(sh);
		CHECK_FOR_INTERRUPTS();
		pg_usleep(2000);
	}
	refuse_unleased(home, capped, now);
}


