/*-------------------------------------------------------------------------
 *
 * lease.c
 *		Worker ID snowflake_keeper_leases: one holder per worker ID, fencing deadlines.
 *
 * Every sequence slot mints under a worker ID leased from the coordination
 * table snowflake_state.worker_lease (one row per worker ID), kept in
 * snowflake.database of this server (embedded) or in the shared coordinator
 * named by snowflake.coordinator (fleet); see coordinator.c.  The "snowflake
 * lease keeper" background worker (worker.c) runs the state machine below;
 * every statement on the table is in lease_table.c, and what is published
 * to the minting path in shared memory in lease_slots.c.
 *
 * A lease is held while its row is live (not released, expires_at in the
 * future by the coordinator's clock).  Taking a worker ID changes its row
 * only if it is free, released or expired, in one statement, and raises
 * its fencing token by one.  The holder's coordinator session also holds
 * the session-level advisory lock (LEASE_LOCK_CLASS, worker ID) when it
 * can: a lock held by another keeper (a session of the keeper's own role)
 * for a live lease makes the worker ID taken, and one held for an expired
 * lease (a frozen server's connection stays open) is broken by ending that
 * session.  Any role can take any advisory lock, so a lock held by a
 * session of another role is treated as absent, and a lock that cannot be
 * had is never a reason to give up a lease: the row decides.
 *
 * The invariants, which hold whatever either clock does:
 *
 * - Disjoint holders.  A slot never mints at a millisecond above the cap
 *   the coordinator acknowledged for it: minting_until, this server's wall
 *   clock at its fencing deadline, sent with each renewal (cap_ms next to
 *   deadline_ms, generator.c).  The next holder mints only above it, so
 *   successive holders' ranges are disjoint even when a holder's wall clock
 *   steps forward while it cannot renew.  The deadline runs on
 *   CLOCK_BOOTTIME, which counts time spent suspended.
 *
 * - The floor only rises.  A worker ID's floor, last_minted_at, is the
 *   highest time any previous holder may have minted at.  Taking over folds
 *   the previous holder's minting_until into it; renewal and release raise
 *   it with what the slot minted; nothing lowers it.  Release lowers only
 *   the releasing holder's own cap (minting_until) to the release time,
 *   after its slot has stopped minting.
 *
 * - Bound at the floor.  A slot newly bound to a worker ID starts with its
 *   state at the floor's millisecond, every sequence number spent, so no
 *   backend mints at or below the floor whatever clock reading it holds;
 *   the lease is published to the minting path only once this server's
 *   clock is past the floor.
 *
 * - Holder identity.  Renewal and release match the row's fencing token,
 *   the holder's system identifier and the acquisition's acquired_at, so a
 *   coordinator that lost committed transactions and handed the same token
 *   out twice does not let two servers renew one row.
 *
 * - A slow coordinator costs a retry, not the snowflake_keeper_leases.  A statement that
 *   times out drops the session; the next one relocks, ending the old
 *   session if it still holds locks, and keeps every lease whose row is
 *   still this acquisition's.
 *
 * - Nothing an ordinary role does reaches the keeper.  Its sessions run
 *   with search_path = pg_catalog, pg_temp (worker.c, coordinator.c), every
 *   name below is schema-qualified, and the schema and table are checked
 *   for their owner before use (SNOWFLAKE_OWNER_PROBLEMS_SQL).
 *
 * Idle (embedded): renewals stop while the server mints nothing for
 * snowflake.idle_after, so that it writes no WAL; the leases lapse at their
 * deadlines like leases whose renewals failed, and a backend that finds
 * them lapsed asks for the renewal and waits for it (renew_if_due).  A
 * fleet renews on schedule: that writes on the coordinator only.
 *
 * Fencing: a slot mints only while CLOCK_BOOTTIME reads below its
 * deadline, the time the last renewal that succeeded was sent plus
 * snowflake.lease_ttl minus snowflake.fencing_margin.  The coordinator set
 * expiry to its own clock at that renewal plus the TTL, later than the
 * send, so the slot stops at least the margin before anyone else can take
 * the worker ID.  The minting path checks the deadline on every mint
 * against the reading it takes with the wall clock (clock.c), so a process
 * that wakes from SIGSTOP, a VM freeze or a suspend sees it is too late.
 *
 * Reassignment between servers whose clocks disagree: a new holder mints
 * only above its floor, and only once its own clock has passed it; until
 * then the slot is "waiting".  With snowflake.worker_id = -1, a worker ID
 * whose floor is further ahead of this server's clock than a lease lasts
 * is passed over, or given back if leased, and another one taken.
 *
 * Binding a slot to a worker ID (SnowflakeSlotData.worker_id) is guarded by
 * SnowflakeSlotData.binding, odd while it changes and moved on again when
 * the slot stops minting under a lease: a backend reads it before and
 * after it takes numbers from the slot and drops them if it moved
 * (generator.c).  Only the lease keeper writes a slot's worker_id,
 * binding, deadline_ms and cap_ms, and the lease information under
 * lease_mutex (lease_slots.c).
 *
 * snowflake.worker_id = -1 snowflake_keeper_leases free worker IDs: this server's own
 * released or expired ones first, then never used ones, lowest first, then
 * the longest expired.  snowflake.worker_id = N pins slot i to N + i; a
 * pinned worker ID held by another server is refused, naming the holder.
 * A server in recovery takes no lease; after promotion it snowflake_keeper_leases its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "canary.h"
#include "clock.h"
#include "config.h"
#include "coordinator.h"
#include "lease.h"
#include "lease_keeper.h"
#include "lease_slots.h"
#include "lease_table.h"
#include "shmem.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include <unistd.h>


static MemoryContext tick_cxt = NULL;
static int64 next_renew_at = 0;
static int64 last_renew_sent = 0;
/* round trip of the last renewal that succeeded, reported with the next */
static int64 last_renew_latency_us = -1;
static int64 next_acquire_at = 0;
static bool table_ready = false;
static bool was_standby = false;
static int64 failing_since = -1;
static char logged_err[COORD_ERRLEN];
static int64 logged_at = 0;
static SnowflakeIdleWatch idle_watch = SNOWFLAKE_IDLE_WATCH_INIT;

/* The longest the keeper sleeps when nothing is due, in ms. */
#define KEEPER_MAX_SLEEP_MS	60000

/* Slot i's lease was taken by someone else. */
static void
drop_lost_lease(int i, const char *why)
{
	int32		worker_id = snowflake_keeper_leases[i].worker_id;

	snowflake_keeper_forget_lease(i, SNOWFLAKE_LEASE_LOST);
	ereport(LOG,
			(errmsg("snowflake: lost the lease on worker ID %d: %s", worker_id, why)));
}

/*
 * The snowflake_keeper_leases of slot "only" (or of every slot: -1) as renewal and release
 * report them.  Returns how many.
 */
static int
lease_refs(SnowflakeLeaseRef **refs, int only)
{
	int			n = 0;
	int			i;

	*refs = palloc(sizeof(SnowflakeLeaseRef) * snowflake_shared->nslots);
	for (i = 0; i < snowflake_shared->nslots; i++)
	{
		int64		last;

		if (snowflake_keeper_leases[i].worker_id < 0 || (only >= 0 && i != only))
			continue;
		last = snowflake_slot_last_minted_ms(i);
		(*refs)[n].worker_id = snowflake_keeper_leases[i].worker_id;
		(*refs)[n].token = snowflake_keeper_leases[i].token;
		(*refs)[n].acquired_us = snowflake_keeper_leases[i].acquired_us;
		(*refs)[n].last_unix_ms = last >= 0 ? snowflake_cluster_ms_to_unix(last) : -1;
		n++;
	}
	return n;
}

/*
 * Take the advisory locks of the snowflake_keeper_leases held without them (after a new
 * coordinator session, or when another role's session held them).  A lock
 * that cannot be had is no reason to give a lease up: the renewal on the
 * row decides.  A lock still held by this keeper's own previous session
 * (one that stopped answering, so the keeper reconnected) is freed by
 * ending that session.
 */
static bool
relock(char *err)
{
	int			i;

	for (i = 0; i < snowflake_shared->nslots; i++)
	{
		bool		got;
		int			holder;

		if (snowflake_keeper_leases[i].worker_id < 0 || snowflake_keeper_leases[i].locked)
			continue;
		if (!snowflake_lease_lock_try(snowflake_keeper_leases[i].worker_id, &got, &holder, err))
			return false;
		snowflake_keeper_leases[i].locked = got;
		if (!got && holder != 0 && holder == snowflake_coord_previous_pid() &&
			!snowflake_coordinator_end_session(holder, err))
			return false;
	}
	return true;
}

/*
 * Renew every lease held; report the last millisecond minted under each,
 * and raise minting_until to the new cap.  A lease whose row is no longer
 * this acquisition's is lost.
 */
static bool
renew(char *err)
{
	SnowflakeShared *sh = snowflake_shared;
	LeaseTiming t = snowflake_lease_timing();
	SnowflakeLeaseRef *refs;
	SnowflakeRenewal *renewed;
	bool	   *still_held = palloc0(sizeof(bool) * sh->nslots);
	int			nrefs = lease_refs(&refs, -1);
	int			nrenewed;
	int64		sent;
	int64		sent_wall;
	int64		sent_ns;
	int			r;
	int			i;

	if (nrefs == 0)
		return true;
	sent = snowflake_deadline_clock_ms();
	sent_wall = snowflake_wall_unix_ms();
	sent_ns = snowflake_clock_ns(CLOCK_MONOTONIC);
	if (!snowflake_leases_renew(refs, nrefs, &snowflake_keeper_server,
								sent_wall + t.ttl - t.margin, t.ttl,
								sent_wall, last_renew_latency_us,
								&renewed, &nrenewed, err))
		return false;
	last_renew_latency_us = (snowflake_clock_ns(CLOCK_MONOTONIC) - sent_ns) / 1000;
	SpinLockAcquire(&sh->lease_mutex);
	sh->renew_latency_us = last_renew_latency_us;
	SpinLockRelease(&sh->lease_mutex);

	for (r = 0; r < nrenewed; r++)
		for (i = 0; i < sh->nslots; i++)
		{
			if (snowflake_keeper_leases[i].worker_id != renewed[r].worker_id)
				continue;
			still_held[i] = true;
			snowflake_keeper_leases[i].deadline = sent + t.ttl - t.margin;
			snowflake_keeper_leases[i].cap_ms = snowflake_unix_ms_to_cluster(renewed[r].cap_unix_ms);
			if (snowflake_keeper_leases[i].published)
				snowflake_keeper_publish(i);
			snowflake_keeper_show_lease(i, snowflake_keeper_leases[i].published ? SNOWFLAKE_LEASE_HELD : SNOWFLAKE_LEASE_WAITING,
					   renewed[r].expires_us, sent_wall);
		}
	for (i = 0; i < sh->nslots; i++)
		if (snowflake_keeper_leases[i].worker_id >= 0 && !still_held[i])
			drop_lost_lease(i, "its row on the coordinator belongs to another acquisition (another fencing token or holder) or was released");
	return true;
}

/*
 * Give slot i's lease back: its previous holder's clock ran so far ahead
 * that the slot would wait longer than a lease lasts.  The worker ID keeps
 * its floor; acquire_free() passes over it and snowflake_keeper_leases another.
 */
static void
give_up(int i)
{
	char		err[COORD_ERRLEN];
	SnowflakeLeaseRef *refs;
	int32		worker_id = snowflake_keeper_leases[i].worker_id;
	int64		floor_ms = snowflake_keeper_leases[i].floor_ms;
	int			n;

	snowflake_keeper_unpublish(i);
	pg_memory_barrier();
	n = lease_refs(&refs, i);
	if (snowflake_leases_release(refs, n, &snowflake_keeper_server,
								 snowflake_wall_unix_ms(), err) == NULL)
		ereport(LOG,
				(errmsg("snowflake: could not give back worker ID %d; it expires by itself: %s",
						worker_id, err)));
	snowflake_keeper_forget_lease(i, SNOWFLAKE_LEASE_STARTING);
	next_acquire_at = 0;
	ereport(LOG,
			(errmsg("snowflake: gave back worker ID %d: its previous holders minted up to %s, further ahead of this server's clock than a lease lasts",
					worker_id,
					snowflake_units_text(&snowflake_cluster_layout, floor_ms)),
			 errhint("Check the clocks of the fleet (NTP); another free worker ID is leased instead.")));
}

/*
 * Publish snowflake_keeper_leases whose previous holders' time the clock has passed.
 * Returns how soon to look again, in ms.
 */
static int64
publish_ready(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		now = snowflake_unix_ms_to_cluster(snowflake_wall_unix_ms());
	int64		mono = snowflake_deadline_clock_ms();
	LeaseTiming t = snowflake_lease_timing();
	int64		wait = KEEPER_MAX_SLEEP_MS;
	int			i;

	/* parked by the duplicate canary: nothing mints until it unparks */
	if (pg_atomic_read_u32(&sh->parked) != 0)
		return wait;

	for (i = 0; i < sh->nslots; i++)
	{
		if (snowflake_keeper_leases[i].worker_id < 0 || snowflake_keeper_leases[i].published)
			continue;

		/*
		 * A backend's clock reading may be a millisecond old; 2 ms above the
		 * floor, none can read at or below it.  The slot's state and the
		 * server-wide floor make sure.  A previous holder's clock that ran
		 * far ahead is not waited for, but with a pinned worker ID.
		 */
		if (snowflake_keeper_leases[i].floor_ms >= 0 && now <= snowflake_keeper_leases[i].floor_ms + 2)
		{
			if (snowflake_first_worker_id < 0 && snowflake_keeper_leases[i].floor_ms - now > t.ttl)
				give_up(i);
			else
				wait = Min(wait, Min(RETRY_MS, snowflake_keeper_leases[i].floor_ms + 3 - now));
			continue;
		}
		if (snowflake_keeper_leases[i].floor_ms >= 0)
			snowflake_atomic_raise_u64(&sh->max_ms, (uint64) snowflake_keeper_leases[i].floor_ms + 1);
		if (mono >= snowflake_keeper_leases[i].deadline)
			continue;			/* renewal will bring it back */
		pg_write_barrier();
		snowflake_keeper_publish(i);
		snowflake_lease_info_set_state(i, SNOWFLAKE_LEASE_HELD, snowflake_keeper_leases[i].worker_id);
	}
	return Max(1, wait);
}

/*
 * Show published leases as idle while the keeper lets them lapse, else as
 * expired past their deadline.
 */
static void
refresh_states(void)
{
	int64		mono = snowflake_deadline_clock_ms();
	bool		idle = pg_atomic_read_u32(&snowflake_shared->leases_idle) != 0;
	bool		parked = pg_atomic_read_u32(&snowflake_shared->parked) != 0;
	int			i;

	for (i = 0; i < snowflake_shared->nslots; i++)
	{
		if (parked && snowflake_keeper_leases[i].worker_id >= 0)
		{
			snowflake_lease_info_set_state(i, SNOWFLAKE_LEASE_PARKED,
										   snowflake_keeper_leases[i].worker_id);
			continue;
		}
		if (snowflake_keeper_leases[i].worker_id < 0 || !snowflake_keeper_leases[i].published)
			continue;
		snowflake_lease_info_set_state(i, idle ? SNOWFLAKE_LEASE_IDLE :
									   mono >= snowflake_keeper_leases[i].deadline ?
									   SNOWFLAKE_LEASE_EXPIRED : SNOWFLAKE_LEASE_HELD,
									   snowflake_keeper_leases[i].worker_id);
	}
}

/* This server's identity on the coordinator. */
static void
identify_this_server(void)
{
	snprintf(snowflake_keeper_server.system_id, sizeof(snowflake_keeper_server.system_id),
			 UINT64_FORMAT, GetSystemIdentifier());
	if (gethostname(snowflake_keeper_server.host, sizeof(snowflake_keeper_server.host)) != 0)
		strlcpy(snowflake_keeper_server.host, "unknown", sizeof(snowflake_keeper_server.host));
	snowflake_keeper_server.host[sizeof(snowflake_keeper_server.host) - 1] = '\0';
	snprintf(snowflake_keeper_server.port, sizeof(snowflake_keeper_server.port), "%d", PostPortNumber);
	snprintf(snowflake_keeper_server.postmaster_pid, sizeof(snowflake_keeper_server.postmaster_pid),
			 "%d", (int) PostmasterPid);
	snowflake_keeper_server.cluster_name = cluster_name ? cluster_name : "";
}

void
snowflake_lease_keeper_start(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int			i;

	snowflake_keeper_leases = MemoryContextAllocZero(TopMemoryContext, sizeof(KeeperLease) * sh->nslots);
	tick_cxt = AllocSetContextCreate(TopMemoryContext, "snowflake lease keeper",
									 ALLOCSET_DEFAULT_SIZES);
	identify_this_server();
	snowflake_lease_info_set_round_done(false);
	snowflake_lease_info_set_keeper_latch(MyLatch);

	/*
	 * A lease keeper that restarts finds the snowflake_keeper_leases of its predecessor in
	 * shared memory: keep them, and renew them with their fencing tokens.
	 */
	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeLeaseInfo info = snowflake_lease_info_copy(i);
		SnowflakeSlotData *s = &sh->slots[i].d;

		snowflake_keeper_leases[i].worker_id = -1;
		snowflake_keeper_leases[i].floor_ms = -1;
		if (s->worker_id >= 0 && info.fencing_token > 0 &&
			(info.state == SNOWFLAKE_LEASE_HELD ||
			 info.state == SNOWFLAKE_LEASE_EXPIRED ||
			 info.state == SNOWFLAKE_LEASE_WAITING ||
			 info.state == SNOWFLAKE_LEASE_IDLE ||
			 info.state == SNOWFLAKE_LEASE_PARKED))
		{
			snowflake_keeper_leases[i].worker_id = s->worker_id;
			snowflake_keeper_leases[i].token = info.fencing_token;
			snowflake_keeper_leases[i].acquired_us = info.acquired_us;
			snowflake_keeper_leases[i].cap_ms = (int64) pg_atomic_read_u64(&s->cap_ms);
			snowflake_keeper_leases[i].floor_ms = info.floor_ms;
			snowflake_keeper_leases[i].deadline = (int64) pg_atomic_read_u64(&s->deadline_ms);
			snowflake_keeper_leases[i].published = snowflake_keeper_leases[i].deadline != 0;
		}
	}
}

/* before_shmem_exit callback of the lease keeper. */
void
snowflake_lease_keeper_stop(void)
{
	snowflake_lease_info_set_keeper_latch(NULL);
}

/*
 * In recovery, hold nothing; once promoted, start over.  Returns true when
 * the server is a standby.
 */
static bool
follow_recovery(void)
{
	int			i;

	if (RecoveryInProgress())
	{
		for (i = 0; i < snowflake_shared->nslots; i++)
			snowflake_lease_info_set_state(i, SNOWFLAKE_LEASE_STANDBY, -1);
		snowflake_lease_info_set_round_done(true);
		was_standby = true;
		return true;
	}
	if (was_standby)
	{
		/* promoted: minting waits for this server's first snowflake_keeper_leases */
		was_standby = false;
		snowflake_lease_info_set_round_done(false);
		for (i = 0; i < snowflake_shared->nslots; i++)
			snowflake_lease_info_set_state(i, SNOWFLAKE_LEASE_STARTING, -1);
	}
	return false;
}

/*
 * Make sure there is a coordinator session with the table checked and the
 * advisory locks taken.  *reached is false when the coordinator could not
 * be reached at all.
 */
static bool
prepare_session(bool *reached, char *err)
{
	int			i;

	*reached = snowflake_coord_connect(err);
	if (!*reached)
		return false;
	if (snowflake_coord_take_fresh())
	{
		/* a new session: the table is checked and the locks taken again */
		table_ready = false;
		for (i = 0; i < snowflake_shared->nslots; i++)
			snowflake_keeper_leases[i].locked = false;
		next_renew_at = 0;
	}
	if (!table_ready)
	{
		table_ready = snowflake_lease_table_ensure(err);
		if (table_ready)
			snowflake_canary_ensure();
	}
	return table_ready && relock(err);
}

/*
 * Renew when due: on schedule, or at once when a backend asks for it.
 *
 * Embedded, while the server is idle (snowflake.idle_after without a
 * mint), a renewal would write WAL on this server only to move expiry on:
 * none is sent, and the leases lapse at their fencing deadlines, shown as
 * idle (leases_idle).  Nothing else changes: the slots stop minting at the
 * deadline as they would for a renewal that failed, and a backend that
 * finds them lapsed asks for a renewal (renew_wanted) and waits for it, so
 * the server renews (or, if another server took a worker ID over, leases
 * anew) before it mints again.  A fleet renews on schedule: that writes
 * only on the coordinator.
 */
static bool
renew_if_due(LeaseTiming t, char *err)
{
	int64		now;
	bool		wanted;
	bool		ok;

	/* a renewal interval shortened by a reload applies at once */
	next_renew_at = Min(next_renew_at, last_renew_sent + t.renew_every);
	/* a backend whose slots are capped, or whose leases lapsed when idle */
	wanted = pg_atomic_exchange_u32(&snowflake_shared->renew_wanted, 0) != 0;
	if (wanted)
		next_renew_at = 0;
	now = snowflake_deadline_clock_ms();
	if (now < next_renew_at)
		return true;
	if (!wanted && snowflake_coord_embedded() &&
		snowflake_idle_check(&idle_watch, now))
	{
		if (pg_atomic_exchange_u32(&snowflake_shared->leases_idle, 1) == 0)
			ereport(DEBUG1,
					(errmsg("snowflake: idle: leases are not renewed until the next mint")));
		/* look again a renewal interval on */
		last_renew_sent = now;
		next_renew_at = now + t.renew_every;
		return true;
	}
	last_renew_sent = now;
	ok = renew(err);

	/*
	 * Only now: a backend that finds the slots lapsed while leases_idle is
	 * set waits for this renewal; cleared before it ended, the backend
	 * could take the lapsed slots for a failed renewal and refuse.
	 */
	pg_write_barrier();
	pg_atomic_write_u32(&snowflake_shared->leases_idle, 0);
	if (!ok)
		return false;
	next_renew_at = now + t.renew_every;

	/*
	 * A backend that asked while this renewal was on its way has it now; a
	 * capped one that still finds its slots capped asks again.
	 */
	pg_atomic_write_u32(&snowflake_shared->renew_wanted, 0);
	return true;
}

/* Lease what is missing, at most every ACQUIRE_RETRY_MS. */
static bool
acquire_if_missing(char *err)
{
	int64		now = snowflake_deadline_clock_ms();
	bool		missing = false;
	int			i;

	for (i = 0; i < snowflake_shared->nslots; i++)
		if (snowflake_keeper_leases[i].worker_id < 0)
			missing = true;
	if (!missing || now < next_acquire_at)
		return true;
	next_acquire_at = now + ACQUIRE_RETRY_MS;
	return snowflake_keeper_acquire(err);
}

/* Say how the round went: log a problem once a minute, or its end. */
static void
report_round(bool ok, bool reached, const char *err)
{
	int64		mono = snowflake_deadline_clock_ms();
	char		park_reason[sizeof(snowflake_shared->park_reason)];

	if (ok)
	{
		if (failing_since >= 0)
			ereport(LOG,
					(errmsg("snowflake: the coordinator answers again after " INT64_FORMAT " ms",
							mono - failing_since)));
		failing_since = -1;
		logged_err[0] = '\0';
		/* parked: say why where operators look (snowflake_status) */
		if (snowflake_parked(park_reason, sizeof(park_reason)))
			snowflake_lease_info_set_error(psprintf("minting is parked: the duplicate canary found %s",
													park_reason));
		else
			snowflake_lease_info_set_error("");
		return;
	}

	snowflake_lease_info_mark_unleased();
	snowflake_lease_info_set_error(err);
	if (strcmp(err, logged_err) != 0 || mono - logged_at >= 60000)
	{
		if (reached)
			ereport(LOG,
					(errmsg("snowflake: could not lease or renew worker IDs: %s", err)));
		else
			ereport(LOG,
					(errmsg("snowflake: could not reach the coordinator: %s", err)));
		strlcpy(logged_err, err, sizeof(logged_err));
		logged_at = mono;
	}
	if (failing_since < 0)
		failing_since = mono;
	next_renew_at = Min(next_renew_at, mono + RETRY_MS);
}

/*
 * One round of the lease keeper: connect, renew when due, lease what is
 * missing, publish what is ready.  Returns how long to sleep, in ms.
 */
int64
snowflake_lease_keeper_tick(void)
{
	MemoryContext oldcxt;
	char		err[COORD_ERRLEN];
	LeaseTiming t;
	int64		sleep_ms;
	int64		now;
	bool		reached = true;
	bool		ok;
	int			i;

	if (follow_recovery())
		return ACQUIRE_RETRY_MS;

	MemoryContextReset(tick_cxt);
	oldcxt = MemoryContextSwitchTo(tick_cxt);
	t = snowflake_lease_timing();
	err[0] = '\0';

	ok = prepare_session(&reached, err);
	if (ok)
		snowflake_canary_round();
	ok = ok &&
		renew_if_due(t, err) &&
		acquire_if_missing(err);
	sleep_ms = publish_ready();
	refresh_states();
	snowflake_lease_info_set_round_done(true);
	report_round(ok, reached, err);
	MemoryContextSwitchTo(oldcxt);

	/*
	 * Wake for the next renewal, the next try at what could not be leased,
	 * or a lease to publish; retry failures soon.  Backends that need the
	 * keeper sooner set its latch.
	 */
	if (!ok)
		return Min(sleep_ms, RETRY_MS);
	now = snowflake_deadline_clock_ms();
	sleep_ms = Min(sleep_ms, Max(1, next_renew_at - now));
	for (i = 0; i < snowflake_shared->nslots; i++)
		if (snowflake_keeper_leases[i].worker_id < 0)
			sleep_ms = Min(sleep_ms, Max(1, next_acquire_at - now));
	return Max(1, sleep_ms);
}

/*
 * Release every lease at shutdown: stop minting under them first, then
 * report the last millisecond minted and the release time.
 */
void
snowflake_lease_keeper_release(void)
{
	char		err[COORD_ERRLEN];
	SnowflakeLeaseRef *refs;
	char	   *released;
	int			n;
	int			i;

	if (snowflake_keeper_leases == NULL)
		return;
	MemoryContextSwitchTo(tick_cxt);
	for (i = 0; i < snowflake_shared->nslots; i++)
		if (snowflake_keeper_leases[i].worker_id >= 0)
			snowflake_keeper_unpublish(i);
	pg_memory_barrier();

	n = lease_refs(&refs, -1);
	released = snowflake_leases_release(refs, n, &snowflake_keeper_server,
										snowflake_wall_unix_ms(), err);
	if (released == NULL)
	{
		ereport(LOG,
				(errmsg("snowflake: could not release the worker ID leases; they expire by themselves: %s",
						err)));
		return;
	}
	if (released[0] != '\0')
		ereport(LOG,
				(errmsg("snowflake: released worker ID%s %s",
						strchr(released, ',') ? "s" : "", released)));
	for (i = 0; i < snowflake_shared->nslots; i++)
	{
		if (snowflake_keeper_leases[i].worker_id >= 0)
			snowflake_lease_info_set_state(i, SNOWFLAKE_LEASE_STARTING, -1);
		snowflake_keeper_leases[i].worker_id = -1;
	}
	if (!snowflake_coord_embedded())
	{
		snowflake_lease_locks_release_all();
		snowflake_coord_disconnect();
	}
}
