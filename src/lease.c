/*-------------------------------------------------------------------------
 *
 * lease.c
 *		Worker ID leases: one holder per worker ID, fencing deadlines.
 *
 * Every sequence slot mints under a worker ID leased from the coordination
 * table snowflake_state.worker_lease (one row per worker ID), kept in
 * snowflake.database of this server (embedded) or in the shared coordinator
 * named by snowflake.coordinator (fleet); see coordinator.c.  The "snowflake
 * lease keeper" background worker (worker.c) runs the code below.
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
 * - A slow coordinator costs a retry, not the leases.  A statement that
 *   times out drops the session; the next one relocks, ending the old
 *   session if it still holds locks, and keeps every lease whose row is
 *   still this acquisition's.
 *
 * - Nothing an ordinary role does reaches the keeper.  Its sessions run
 *   with search_path = pg_catalog, pg_temp (worker.c, coordinator.c), every
 *   name below is schema-qualified, and the schema and table are checked
 *   for their owner before use (SNOWFLAKE_OWNER_PROBLEMS_SQL).
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
 * binding and deadline_ms, and the lease information under lease_mutex.
 *
 * snowflake.worker_id = -1 leases free worker IDs: this server's own
 * released or expired ones first, then never used ones, lowest first, then
 * the longest expired.  snowflake.worker_id = N pins slot i to N + i; a
 * pinned worker ID held by another server is refused, naming the holder.
 * A server in recovery takes no lease; after promotion it leases its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "coordinator.h"
#include "generator.h"
#include "lease.h"
#include "snowflake.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include <time.h>
#include <unistd.h>

/* First key of the advisory locks that guard leases ('SNOW'). */
#define LEASE_LOCK_CLASS	"1397641047"
#define LEASE_TABLE			"snowflake_state.worker_lease"

/* SQL for a timestamptz from Unix milliseconds, and back (rounded up). */
#define MS_TO_TS(x) \
	"pg_catalog.to_timestamp((" x ")::pg_catalog.float8 OPERATOR(pg_catalog./) 1000)"
#define TS_TO_MS(x) \
	"pg_catalog.ceil(EXTRACT(epoch FROM " x ") OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8"
#define TS_TO_US(x) \
	"(EXTRACT(epoch FROM " x ") OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8"

/*
 * The rows of the leases this server holds, as held_leases() lists them:
 * worker IDs $2, fencing tokens $3, the last millisecond each slot minted
 * $4 (Unix ms) and the acquired_at of each acquisition $5 (Unix us), of
 * this server ($6, its system identifier).  A row matches only while it is
 * still this acquisition's: same token, same holder, same acquired_at.
 * What they report only raises the worker ID's floor.
 */
#define HELD_ROWS \
	" FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int4[]), pg_catalog.unnest($3::pg_catalog.int8[])," \
	"        pg_catalog.unnest($4::pg_catalog.int8[]), pg_catalog.unnest($5::pg_catalog.int8[]))" \
	"        AS v(worker_id, token, last_ms, acquired)" \
	" WHERE l.worker_id OPERATOR(pg_catalog.=) v.worker_id" \
	"   AND l.fencing_token OPERATOR(pg_catalog.=) v.token" \
	"   AND l.holder_system_id OPERATOR(pg_catalog.=) $6" \
	"   AND " TS_TO_US("l.acquired_at") " OPERATOR(pg_catalog.=) v.acquired"
#define REPORT_MINTED \
	"     last_minted_at = GREATEST(l.last_minted_at, " MS_TO_TS("v.last_ms") "),"
/*
 * How soon a failed renewal or connection is tried again, and how soon a
 * worker ID that could not be leased is tried again, in ms.
 */
#define RETRY_MS			200
#define ACQUIRE_RETRY_MS	1000
/* How long the minting path waits for the first leases after a start. */
#define FIRST_LEASE_WAIT_MS 10000
/* How long it waits for a renewal when the clock has passed the caps. */
#define CAP_WAIT_MS			1000

/*
 * The clock of fencing deadlines: CLOCK_BOOTTIME, which, unlike
 * CLOCK_MONOTONIC, goes on while the host is suspended.
 */
#define DEADLINE_CLOCK		CLOCK_BOOTTIME

/* The lease keeper's own record of a slot's lease. */
typedef struct LocalLease
{
	int32		worker_id;		/* -1: none */
	int64		token;
	int64		acquired_us;	/* acquired_at on the coordinator, Unix us */
	bool		locked;			/* advisory lock held in this session */
	bool		published;		/* deadline visible to the minting path */
	int64		deadline;		/* fencing deadline, DEADLINE_CLOCK ms */
	int64		cap_ms;			/* acknowledged minting_until, cluster ms */
	int64		floor_ms;		/* mint only above this (cluster ms), or -1 */
} LocalLease;

static LocalLease *mine = NULL;
static MemoryContext tick_cxt = NULL;
static int64 next_renew_at = 0;
static int64 last_renew_sent = 0;
static int64 next_acquire_at = 0;
static bool table_ready = false;
static bool was_standby = false;
static int64 failing_since = -1;
static char logged_err[COORD_ERRLEN];
static int64 logged_at = 0;
static char identity_sysid[32];
static char identity_host[256];
static char identity_port[16];
static char identity_pid[16];

static int64
mono_ms(void)
{
	return snowflake_clock_ns(DEADLINE_CLOCK) / 1000000;
}

/* Wall clock in Unix milliseconds. */
static int64
wall_unix_ms(void)
{
	return snowflake_clock_ns(CLOCK_REALTIME) / 1000000;
}

static int32
region_prefix(void)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;

	return (int32) snowflake_region << (layout->worker_bits - layout->region_bits);
}

static int32
local_ids(void)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;

	return (int32) 1 << (layout->worker_bits - layout->region_bits);
}

/* Called from _PG_init: refuse a configuration whose IDs do not fit. */
void
snowflake_check_worker_id_config(void)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	int			local_bits = layout->worker_bits - layout->region_bits;
	int64		first = snowflake_first_worker_id < 0 ? 0 : snowflake_first_worker_id;
	int64		last = first + snowflake_worker_slots - 1;

	if (layout->region_bits > 0 &&
		snowflake_region >= (1 << layout->region_bits))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snowflake.region %d does not fit in snowflake.region_bits = %d",
						snowflake_region, layout->region_bits),
				 errhint("Use a region from 0 to %d, or more region bits.",
						 (1 << layout->region_bits) - 1)));
	if (layout->region_bits == 0 && snowflake_region != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snowflake.region is set but snowflake.region_bits is 0"),
				 errhint("Set snowflake.region_bits to give the worker field a region.")));
	if (last >= (INT64CONST(1) << local_bits))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 snowflake_first_worker_id < 0 ?
				 errmsg("%d slots need more worker IDs than %d worker bits hold",
						snowflake_worker_slots, local_bits) :
				 errmsg("worker IDs " INT64_FORMAT " to " INT64_FORMAT " do not fit in %d worker bits",
						first, last, local_bits),
				 errdetail("snowflake.worker_slots = %d slots each lease a worker ID; snowflake.worker_id = %d.",
						   snowflake_worker_slots, snowflake_first_worker_id),
				 errhint("Lower snowflake.worker_id or snowflake.worker_slots, or give the layout more worker bits.")));
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
	}
	return "unknown";
}

/* ---------------------------------------------------------------------
 * The minting path's side
 * ---------------------------------------------------------------------
 */

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
	for (i = 0; i < sh->nslots; i++)
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
 * No slot can mint: none holds a lease, or every lease is past its fencing
 * deadline.  Right after a start (or a promotion), wait for the lease
 * keeper's first round; then return if a slot can mint, or raise the error
 * that says why none can.
 */
void
snowflake_lease_await(SnowflakeSlot *home)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		started = mono_ms();
	SnowflakeLeaseInfo why;
	int			best_rank = -1;
	char		problem[sizeof(sh->lease_error)];
	bool		capped = false;
	int64		now = 0;
	int			i;

	for (;;)
	{
		int64		mono;
		bool		done;

		if (RecoveryInProgress())
			snowflake_refuse_standby(home);
		now = snowflake_clock_read();
		mono = snowflake_clock_cache.mono_ms;
		if (any_slot_usable(mono, now, &capped))
			return;
		if (capped)
		{
			Latch	   *latch;

			/*
			 * The wall clock has moved past what the coordinator
			 * acknowledged (a forward step): a renewal sent now raises the
			 * caps.  Ask for one, and wait a little for it.
			 */
			if (mono - started > CAP_WAIT_MS)
				break;
			pg_atomic_write_u32(&sh->renew_wanted, 1);
			SpinLockAcquire(&sh->lease_mutex);
			latch = sh->keeper_latch;
			SpinLockRelease(&sh->lease_mutex);
			if (latch)
				SetLatch(latch);
			CHECK_FOR_INTERRUPTS();
			pg_usleep(2000);
			continue;
		}
		/* just promoted: the lease keeper has yet to notice */
		SpinLockAcquire(&sh->lease_mutex);
		done = sh->lease_round_done &&
			snowflake_lease_info(0)->state != SNOWFLAKE_LEASE_STANDBY;
		SpinLockRelease(&sh->lease_mutex);
		if (done || mono - started > FIRST_LEASE_WAIT_MS)
			break;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(2000);
	}

	/* the most telling slot: expired, then held elsewhere, then waiting */
	memset(&why, 0, sizeof(why));
	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeLeaseInfo info;
		int			rank;

		SpinLockAcquire(&sh->lease_mutex);
		info = *snowflake_lease_info(i);
		SpinLockRelease(&sh->lease_mutex);

		/* held, yet not usable: its deadline has just passed */
		if (info.state == SNOWFLAKE_LEASE_HELD)
			info.state = SNOWFLAKE_LEASE_EXPIRED;
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

		for (i = 0; i < sh->nslots; i++)
			cap = Max(cap, (int64) pg_atomic_read_u64(&sh->slots[i].d.cap_ms));
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_FENCED),
				 errmsg("cannot mint a snowflake ID: the clock has passed the time the leases allow minting until"),
				 errdetail("The coordinator acknowledged minting up to %s; the clock reads %s. The next holder of a worker ID mints above that time, so this server may not.%s%s",
						   snowflake_units_text(&snowflake_cluster_layout, cap),
						   snowflake_units_text(&snowflake_cluster_layout, now),
						   problem[0] ? " Last problem: " : "", problem),
				 errhint("Minting resumes by itself once a lease renewal succeeds. A wall clock that stepped forward (suspend and resume, an NTP step) while renewals failed causes this; check the time source and that the coordinator is reachable.")));
	}
	if (why.state == SNOWFLAKE_LEASE_EXPIRED)
		ereport(ERROR,
				(errcode(ERRCODE_SNOWFLAKE_FENCED),
				 errmsg("cannot mint a snowflake ID: the lease on worker ID %d is past its fencing deadline",
						why.worker_id),
				 why.renewed_at != 0 ?
				 errdetail("The last renewal that succeeded was sent at %s, and the lease has not been renewed since.%s%s",
						   snowflake_ts_text(why.renewed_at),
						   problem[0] ? " Last problem: " : "", problem) :
				 errdetail("The lease has not been renewed.%s%s",
						   problem[0] ? " Last problem: " : "", problem),
				 errhint("Minting resumes by itself once the coordinator answers again. Check that the coordinator (snowflake.coordinator, or snowflake.database when that is empty) is up and reachable.")));
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
			 errdetail("Last problem: %s", problem) :
			 errdetail("The lease keeper has not leased a worker ID yet."),
			 errhint("Check the server log of the \"snowflake lease keeper\" background worker and that the coordinator is reachable; with snowflake.worker_id = -1, check that free worker IDs are left.")));
}

/* ---------------------------------------------------------------------
 * The lease keeper's side
 * ---------------------------------------------------------------------
 */

/*
 * Lease timing in ms, made consistent.  A renewal that fails is retried
 * every RETRY_MS until the deadline, ttl - margin after the last one that
 * succeeded; renewing at most every ttl - 2 * margin - RETRY_MS leaves room
 * for a coordinator outage of a whole margin.
 */
static void
lease_timing(int64 *ttl, int64 *renew, int64 *margin)
{
	static int	warned_for[3] = {-1, -1, -1};

	*ttl = snowflake_lease_ttl;
	*margin = snowflake_fencing_margin;
	*renew = snowflake_lease_renew_interval;
	if (2 * *margin >= *ttl)
		*margin = *ttl / 4;
	if (*renew > *ttl - 2 * *margin - RETRY_MS)
		*renew = Max(100, *ttl - 2 * *margin - RETRY_MS);
	if ((*margin != snowflake_fencing_margin ||
		 *renew != snowflake_lease_renew_interval) &&
		(warned_for[0] != snowflake_lease_ttl ||
		 warned_for[1] != snowflake_lease_renew_interval ||
		 warned_for[2] != snowflake_fencing_margin))
	{
		ereport(WARNING,
				(errmsg("snowflake: lease timing does not add up; using a fencing margin of " INT64_FORMAT " ms and renewing every " INT64_FORMAT " ms",
						*margin, *renew),
				 errhint("Keep snowflake.fencing_margin below half of snowflake.lease_ttl, and snowflake.lease_renew_interval below snowflake.lease_ttl minus twice the margin.")));
		warned_for[0] = snowflake_lease_ttl;
		warned_for[1] = snowflake_lease_renew_interval;
		warned_for[2] = snowflake_fencing_margin;
	}
}

static void
set_error(const char *err)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->lease_mutex);
	strlcpy(sh->lease_error, err, sizeof(sh->lease_error));
	SpinLockRelease(&sh->lease_mutex);
}

static void
set_state(int i, SnowflakeLeaseState state, int32 worker_id)
{
	SnowflakeShared *sh = snowflake_shared;
	SnowflakeLeaseInfo *info = snowflake_lease_info(i);

	SpinLockAcquire(&sh->lease_mutex);
	info->state = state;
	info->worker_id = worker_id;
	if (state != SNOWFLAKE_LEASE_HELD && state != SNOWFLAKE_LEASE_EXPIRED &&
		state != SNOWFLAKE_LEASE_WAITING)
	{
		info->expires_at = 0;
		info->renewed_at = 0;
		info->fencing_token = 0;
	}
	SpinLockRelease(&sh->lease_mutex);
}

static void
set_renewed(int i, SnowflakeLeaseState state, int64 token,
			TimestampTz expires_at, TimestampTz renewed_at, int64 floor_ms)
{
	SnowflakeShared *sh = snowflake_shared;
	SnowflakeLeaseInfo *info = snowflake_lease_info(i);

	SpinLockAcquire(&sh->lease_mutex);
	info->state = state;
	info->worker_id = mine[i].worker_id;
	info->fencing_token = token;
	info->expires_at = expires_at;
	info->renewed_at = renewed_at;
	info->floor_ms = floor_ms;
	info->acquired_us = mine[i].acquired_us;
	SpinLockRelease(&sh->lease_mutex);
}

static void
set_holder(int i, int32 worker_id, const char *holder)
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

/*
 * Bind slot i to a worker ID whose previous holders may have minted up to
 * floor_ms (or -1), with no deadline yet (see file header).  The slot's
 * state starts at the floor's millisecond, every sequence number spent, so
 * that no backend can mint at or below the floor under this worker ID,
 * whatever clock reading it holds.
 */
static void
bind_slot(int i, int32 worker_id, int64 floor_ms)
{
	SnowflakeSlotData *s = &snowflake_shared->slots[i].d;
	int			seq_bits = snowflake_cluster_layout.sequence_bits;
	uint64		seq_max = (UINT64CONST(1) << seq_bits) - 1;
	uint64		start = SNOWFLAKE_SLOT_EMPTY;
	uint64		old;
	uint64		booked = 0;

	if (floor_ms >= 0)
	{
		start = ((uint64) floor_ms << seq_bits) | seq_max;
		/* the spent floor is no IDs; the CAS that leaves it books seq_max + 1 */
		booked -= seq_max + 1;
	}
	pg_atomic_fetch_add_u32(&s->binding, 1);	/* odd: changing */
	pg_atomic_write_u64(&s->deadline_ms, 0);
	pg_atomic_write_u64(&s->cap_ms, 0);
	old = pg_atomic_exchange_u64(&s->state, start);
	if (old != SNOWFLAKE_SLOT_EMPTY)
		booked += (old & seq_max) + 1;
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
static void
unpublish(int i)
{
	SnowflakeSlotData *s = &snowflake_shared->slots[i].d;

	pg_atomic_write_u64(&s->deadline_ms, 0);
	pg_atomic_fetch_add_u32(&s->binding, 2);	/* stays even; full barrier */
	mine[i].published = false;
}

/* Let slot i mint up to its cap, until its deadline. */
static void
publish(int i)
{
	SnowflakeSlotData *s = &snowflake_shared->slots[i].d;

	/* a backend that sees the deadline sees the cap that goes with it */
	snowflake_atomic_raise_u64(&s->cap_ms, (uint64) Max(0, mine[i].cap_ms));
	pg_write_barrier();
	pg_atomic_write_u64(&s->deadline_ms, (uint64) mine[i].deadline);
	mine[i].published = true;
}

/* Last millisecond slot i minted, in Unix ms as text, or NULL. */
static char *
last_minted_text(int i)
{
	uint64		state = pg_atomic_read_u64(&snowflake_shared->slots[i].d.state);

	if (state == SNOWFLAKE_SLOT_EMPTY)
		return NULL;
	return psprintf(INT64_FORMAT,
					(int64) (state >> snowflake_cluster_layout.sequence_bits) +
					snowflake_cluster_layout.epoch_ms);
}

/*
 * The leases this keeper holds as parameters $2 to $6 of HELD_ROWS: array
 * literals of worker IDs, fencing tokens, the last millisecond each slot
 * minted (Unix ms, NULL if none) and acquired_at (Unix us), and this
 * server's system identifier.  Returns how many leases.
 */
static int
held_leases(const char **params, int only)
{
	StringInfoData id_list;
	StringInfoData token_list;
	StringInfoData last_list;
	StringInfoData acquired_list;
	int			n = 0;
	int			i;

	initStringInfo(&id_list);
	initStringInfo(&token_list);
	initStringInfo(&last_list);
	initStringInfo(&acquired_list);
	for (i = 0; i < snowflake_shared->nslots; i++)
	{
		char	   *last;

		if (mine[i].worker_id < 0 || (only >= 0 && i != only))
			continue;
		last = last_minted_text(i);
		appendStringInfo(&id_list, "%s%d", n ? "," : "{", mine[i].worker_id);
		appendStringInfo(&token_list, "%s" INT64_FORMAT, n ? "," : "{", mine[i].token);
		appendStringInfo(&last_list, "%s%s", n ? "," : "{", last ? last : "NULL");
		appendStringInfo(&acquired_list, "%s" INT64_FORMAT, n ? "," : "{",
						 mine[i].acquired_us);
		n++;
	}
	appendStringInfoChar(&id_list, '}');
	appendStringInfoChar(&token_list, '}');
	appendStringInfoChar(&last_list, '}');
	appendStringInfoChar(&acquired_list, '}');
	params[1] = id_list.data;
	params[2] = token_list.data;
	params[3] = last_list.data;
	params[4] = acquired_list.data;
	params[5] = identity_sysid;
	return n;
}

/* A timestamptz from microseconds since 1970-01-01 UTC. */
static TimestampTz
unix_us_to_timestamptz(int64 us)
{
	return (TimestampTz) (us - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
}

/*
 * Create the coordination table when missing, and check who owns it and
 * its schema (SNOWFLAKE_OWNER_PROBLEMS_SQL): a superuser, or the role this
 * keeper connects as.
 */
static bool
ensure_table(char *err)
{
	const char *params[1] = {"{worker_lease}"};
	CoordResult res;
	int			attempt;

	if (table_ready)
		return true;

	/*
	 * Created only when missing, so a coordinator role that owns nothing but
	 * schema snowflake_state (or only has rights on the table) is enough.
	 * Servers (or, embedded, the guard) creating it at the same moment make
	 * all but one fail on a unique violation: those try once more.  No
	 * advisory lock serialises this, since any role could hold it.
	 */
	for (attempt = 0;; attempt++)
	{
		if (coord_exec("DO $do$ BEGIN"
					   " IF pg_catalog.to_regnamespace('" SNOWFLAKE_STATE_SCHEMA "') IS NULL THEN"
					   "  CREATE SCHEMA " SNOWFLAKE_STATE_SCHEMA ";"
					   " END IF;"
					   " IF pg_catalog.to_regclass('" LEASE_TABLE "') IS NULL THEN"
					   "  CREATE TABLE " LEASE_TABLE " ("
					   "   worker_id pg_catalog.int4 PRIMARY KEY CHECK (worker_id OPERATOR(pg_catalog.>=) 0),"
					   "   holder_system_id pg_catalog.text NOT NULL,"
					   "   holder_host pg_catalog.text NOT NULL,"
					   "   holder_port pg_catalog.int4 NOT NULL,"
					   "   holder_cluster_name pg_catalog.text NOT NULL,"
					   "   holder_pid pg_catalog.int4 NOT NULL,"
					   "   acquired_at pg_catalog.timestamptz NOT NULL,"
					   "   renewed_at pg_catalog.timestamptz NOT NULL,"
					   "   expires_at pg_catalog.timestamptz NOT NULL,"
					   "   fencing_token pg_catalog.int8 NOT NULL,"
					   "   last_minted_at pg_catalog.timestamptz,"
					   "   minting_until pg_catalog.timestamptz,"
					   "   released_at pg_catalog.timestamptz);"
					   "  COMMENT ON TABLE " LEASE_TABLE " IS"
					   "   'Worker ID leases of the snowflake extension, one row per worker ID';"
					   " END IF;"
					   " END $do$",
					   0, NULL, NULL, err))
			break;
		if (attempt > 0 || !coord_connected())
			return false;
	}
	if (!coord_exec(SNOWFLAKE_OWNER_PROBLEMS_SQL, 1, params, &res, err))
		return false;
	if (res.nrows > 0)
	{
		snprintf(err, COORD_ERRLEN, "%s; drop or reassign it", COORD_VALUE(&res, 0, 0));
		return false;
	}
	table_ready = true;
	return true;
}

/* Forget slot i's lease: it mints no more under it. */
static void
lose(int i, const char *why)
{
	char		err[COORD_ERRLEN];
	int32		worker_id = mine[i].worker_id;

	unpublish(i);
	if (mine[i].locked)
	{
		char		id[16];
		const char *params[1] = {id};

		snprintf(id, sizeof(id), "%d", worker_id);
		(void) coord_exec("SELECT pg_catalog.pg_advisory_unlock(" LEASE_LOCK_CLASS ", $1::pg_catalog.int4)",
						  1, params, NULL, err);
	}
	mine[i].worker_id = -1;
	mine[i].locked = false;
	set_state(i, SNOWFLAKE_LEASE_LOST, worker_id);
	ereport(LOG,
			(errmsg("snowflake: lost the lease on worker ID %d: %s", worker_id, why)));
}

/*
 * Try to take the advisory lock of worker ID "id" in this session.  Sets
 * *got, and *keeper_pid to the PID of a session that holds it and runs as
 * the role of this keeper (another keeper), or 0 when none does: a lock
 * held by a session of any other role says nothing about the lease and is
 * treated as absent.
 */
static bool
try_lock(const char *id, bool *got, int *keeper_pid, char *err)
{
	const char *params[1] = {id};
	CoordResult res;

	if (!coord_exec("SELECT pg_catalog.pg_try_advisory_lock(" LEASE_LOCK_CLASS ", $1::pg_catalog.int4),"
					" (SELECT k.pid FROM pg_catalog.pg_locks k"
					"    JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) k.pid"
					"   WHERE k.locktype OPERATOR(pg_catalog.=) 'advisory' AND k.granted"
					"     AND k.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d"
					"                          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
					"     AND k.classid OPERATOR(pg_catalog.=) " LEASE_LOCK_CLASS "::pg_catalog.oid"
					"     AND k.objid OPERATOR(pg_catalog.=) $1::pg_catalog.int4::pg_catalog.oid"
					"     AND k.objsubid OPERATOR(pg_catalog.=) 2"
					"     AND k.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
					"     AND a.usesysid OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r"
					"                          WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)"
					"   LIMIT 1)",
					1, params, &res, err))
		return false;
	*got = strcmp(COORD_VALUE(&res, 0, 0), "t") == 0;
	*keeper_pid = COORD_VALUE(&res, 0, 1) ? pg_strtoint32(COORD_VALUE(&res, 0, 1)) : 0;
	return true;
}

/*
 * Take the advisory locks of the leases held without them (after a new
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
		char		id[16];
		bool		got;
		int			holder;

		if (mine[i].worker_id < 0 || mine[i].locked)
			continue;
		snprintf(id, sizeof(id), "%d", mine[i].worker_id);
		if (!try_lock(id, &got, &holder, err))
			return false;
		mine[i].locked = got;
		if (!got && holder != 0 && holder == coord_previous_pid())
		{
			char		pid[16];
			const char *params[1] = {pid};

			snprintf(pid, sizeof(pid), "%d", holder);
			if (!coord_exec("SELECT pg_catalog.pg_terminate_backend($1::pg_catalog.int4)",
							1, params, NULL, err))
				return false;
		}
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
	int			i;
	int			r;
	bool	   *renewed = palloc0(sizeof(bool) * sh->nslots);
	const char *params[7];
	int64		ttl,
				renew_every,
				margin;
	int64		sent;
	int64		sent_wall;
	CoordResult res;

	lease_timing(&ttl, &renew_every, &margin);
	if (held_leases(params, -1) == 0)
		return true;

	sent = mono_ms();
	sent_wall = wall_unix_ms();
	params[0] = psprintf(INT64_FORMAT, sent_wall + ttl - margin);
	params[6] = psprintf(INT64_FORMAT, ttl);
	if (!coord_exec("UPDATE " LEASE_TABLE " AS l"
					" SET renewed_at = pg_catalog.now(),"
					"     expires_at = pg_catalog.now() OPERATOR(pg_catalog.+)"
					"        pg_catalog.make_interval(secs => $7::pg_catalog.float8 OPERATOR(pg_catalog./) 1000),"
					REPORT_MINTED
					"     minting_until = GREATEST(l.minting_until, " MS_TO_TS("$1") ")"
					HELD_ROWS
					"   AND l.released_at IS NULL"
					" RETURNING l.worker_id, " TS_TO_US("l.expires_at") ","
					"   " TS_TO_MS("l.minting_until"),
					7, params, &res, err))
		return false;

	for (r = 0; r < res.nrows; r++)
	{
		int32		worker_id = pg_strtoint32(COORD_VALUE(&res, r, 0));

		for (i = 0; i < sh->nslots; i++)
		{
			if (mine[i].worker_id != worker_id)
				continue;
			renewed[i] = true;
			mine[i].deadline = sent + ttl - margin;
			mine[i].cap_ms = strtoi64(COORD_VALUE(&res, r, 2), NULL, 10) -
				snowflake_cluster_layout.epoch_ms;
			if (mine[i].published)
				publish(i);
			set_renewed(i, mine[i].published ? SNOWFLAKE_LEASE_HELD : SNOWFLAKE_LEASE_WAITING,
						mine[i].token,
						unix_us_to_timestamptz(strtoi64(COORD_VALUE(&res, r, 1), NULL, 10)),
						unix_us_to_timestamptz(sent_wall * 1000), mine[i].floor_ms);
		}
	}
	for (i = 0; i < sh->nslots; i++)
		if (mine[i].worker_id >= 0 && !renewed[i])
			lose(i, "its row on the coordinator belongs to another acquisition (another fencing token or holder) or was released");
	return true;
}

/* Describe who holds worker ID "id", for a refusal. */
static void
describe_holder(const char *id, char *buf, size_t len)
{
	char		err[COORD_ERRLEN];
	const char *params[1] = {id};
	CoordResult res;

	if (coord_exec("SELECT pg_catalog.format('%s port %s (cluster_name \"%s\", system identifier %s, postmaster PID %s), lease expires at %s',"
				   " holder_host, holder_port, holder_cluster_name, holder_system_id, holder_pid, expires_at)"
				   " FROM " LEASE_TABLE " WHERE worker_id OPERATOR(pg_catalog.=) $1::pg_catalog.int4",
				   1, params, &res, err) && res.nrows == 1)
		strlcpy(buf, COORD_VALUE(&res, 0, 0), len);
	else
		snprintf(buf, len, "a keeper session on the coordinator that holds advisory lock (%s, %s)",
				 LEASE_LOCK_CLASS, id);
}

typedef enum AcquireResult
{
	ACQUIRE_OK,
	ACQUIRE_HELD,
	ACQUIRE_ERROR
} AcquireResult;

/*
 * Take the advisory lock of worker ID "id" if no other keeper holds it,
 * ending a keeper session that holds it for an expired lease.  *locked
 * says whether this session holds the lock now; ACQUIRE_OK without it
 * means only sessions of other roles hold it, which do not count.
 */
static AcquireResult
take_lock(const char *id, bool *locked, char *err)
{
	CoordResult res;
	bool		got;
	int			keeper;
	int			attempt;

	*locked = false;
	if (!try_lock(id, &got, &keeper, err))
		return ACQUIRE_ERROR;
	if (got || keeper == 0)
	{
		*locked = got;
		return ACQUIRE_OK;
	}

	/*
	 * Another keeper holds the lock.  If the lease has expired, its holder
	 * is past its fencing deadline and mints nothing: end the session that
	 * holds the lock (a frozen server's connection can stay open for ever).
	 */
	if (!coord_exec("SELECT k.pid, pg_catalog.pg_terminate_backend(k.pid)"
					" FROM pg_catalog.pg_locks k JOIN " LEASE_TABLE " l"
					"   ON l.worker_id OPERATOR(pg_catalog.=) $1::pg_catalog.int4"
					" WHERE k.pid OPERATOR(pg_catalog.=) $2::pg_catalog.int4"
					"   AND k.locktype OPERATOR(pg_catalog.=) 'advisory' AND k.granted"
					"   AND k.classid OPERATOR(pg_catalog.=) " LEASE_LOCK_CLASS "::pg_catalog.oid"
					"   AND k.objid OPERATOR(pg_catalog.=) $1::pg_catalog.int4::pg_catalog.oid"
					"   AND k.objsubid OPERATOR(pg_catalog.=) 2"
					"   AND (l.released_at IS NOT NULL OR l.expires_at OPERATOR(pg_catalog.<) pg_catalog.now())",
					2, (const char *const[]) {id, psprintf("%d", keeper)}, &res, err))
	{
		if (!coord_connected())
			return ACQUIRE_ERROR;
		/* not allowed to end that session: this worker ID stays taken */
		ereport(LOG,
				(errmsg("snowflake: worker ID %s: could not end the coordinator session that holds the lock of its expired lease: %s",
						id, err),
				 errhint("Let the servers of a fleet use one coordinator role, or grant it pg_signal_backend.")));
		return ACQUIRE_HELD;
	}
	if (res.nrows == 0)
		return ACQUIRE_HELD;
	ereport(LOG,
			(errmsg("snowflake: worker ID %s: ended coordinator session %s, which held the lock of an expired lease",
					id, COORD_VALUE(&res, 0, 0))));
	for (attempt = 0; attempt < 20; attempt++)
	{
		pg_usleep(100 * 1000);
		if (!try_lock(id, &got, &keeper, err))
			return ACQUIRE_ERROR;
		if (got || keeper == 0)
		{
			*locked = got;
			return ACQUIRE_OK;
		}
	}
	return ACQUIRE_HELD;
}

/* Give up the advisory lock of worker ID "id" if this session holds it. */
static bool
unlock(const char *id, bool locked, char *err)
{
	const char *params[1] = {id};

	if (!locked)
		return true;
	return coord_exec("SELECT pg_catalog.pg_advisory_unlock(" LEASE_LOCK_CLASS ", $1::pg_catalog.int4)",
					  1, params, NULL, err);
}

/*
 * Lease worker ID "worker_id" for slot i.  On ACQUIRE_HELD, "holder"
 * says who holds it.
 *
 * One statement on the row takes it over and raises its floor: the floor
 * (last_minted_at) becomes the greatest of itself and the previous
 * holder's minting_until, so nothing a previous holder may have minted is
 * forgotten, and minting_until becomes this holder's cap.
 */
static AcquireResult
acquire_one(int i, int32 worker_id, char *holder, size_t holder_len, char *err)
{
	char		id[16];
	const char *params[8];
	int64		ttl,
				renew_every,
				margin;
	int64		sent;
	int64		sent_wall;
	int64		floor_ms = -1;
	bool		locked;
	CoordResult res;
	AcquireResult got;

	snprintf(id, sizeof(id), "%d", worker_id);
	got = take_lock(id, &locked, err);
	if (got == ACQUIRE_HELD)
		describe_holder(id, holder, holder_len);
	if (got != ACQUIRE_OK)
		return got;

	lease_timing(&ttl, &renew_every, &margin);
	sent = mono_ms();
	sent_wall = wall_unix_ms();
	params[0] = id;
	params[1] = identity_sysid;
	params[2] = identity_host;
	params[3] = identity_port;
	params[4] = cluster_name ? cluster_name : "";
	params[5] = identity_pid;
	params[6] = psprintf(INT64_FORMAT, ttl);
	params[7] = psprintf(INT64_FORMAT, sent_wall + ttl - margin);
	if (!coord_exec("INSERT INTO " LEASE_TABLE " AS l (worker_id, holder_system_id, holder_host,"
					"   holder_port, holder_cluster_name, holder_pid, acquired_at, renewed_at,"
					"   expires_at, fencing_token, minting_until)"
					" VALUES ($1::pg_catalog.int4, $2, $3, $4::pg_catalog.int4, $5, $6::pg_catalog.int4,"
					"   pg_catalog.now(), pg_catalog.now(),"
					"   pg_catalog.now() OPERATOR(pg_catalog.+)"
					"     pg_catalog.make_interval(secs => $7::pg_catalog.float8 OPERATOR(pg_catalog./) 1000),"
					"   1, " MS_TO_TS("$8") ")"
					" ON CONFLICT (worker_id) DO UPDATE SET"
					"   holder_system_id = excluded.holder_system_id,"
					"   holder_host = excluded.holder_host,"
					"   holder_port = excluded.holder_port,"
					"   holder_cluster_name = excluded.holder_cluster_name,"
					"   holder_pid = excluded.holder_pid,"
					"   acquired_at = excluded.acquired_at,"
					"   renewed_at = excluded.renewed_at,"
					"   expires_at = excluded.expires_at,"
					"   fencing_token = l.fencing_token OPERATOR(pg_catalog.+) 1,"
					"   last_minted_at = GREATEST(l.last_minted_at, l.minting_until),"
					"   minting_until = excluded.minting_until,"
					"   released_at = NULL"
					" WHERE l.released_at IS NOT NULL OR l.expires_at OPERATOR(pg_catalog.<) pg_catalog.now()"
					" RETURNING l.fencing_token, " TS_TO_US("l.expires_at") ","
					"   " TS_TO_MS("l.last_minted_at") ", " TS_TO_US("l.acquired_at") ","
					"   " TS_TO_MS("l.minting_until"),
					8, params, &res, err))
	{
		char		err2[COORD_ERRLEN];

		/* the lock stays with this session; a new session drops it */
		(void) unlock(id, locked, err2);
		return ACQUIRE_ERROR;
	}
	if (res.nrows == 0)
	{
		/* a live lease whose holder's session is gone: wait for expiry */
		describe_holder(id, holder, holder_len);
		if (!unlock(id, locked, err))
			return ACQUIRE_ERROR;
		return ACQUIRE_HELD;
	}

	if (COORD_VALUE(&res, 0, 2) != NULL)
		floor_ms = strtoi64(COORD_VALUE(&res, 0, 2), NULL, 10) -
			snowflake_cluster_layout.epoch_ms;
	mine[i].worker_id = worker_id;
	mine[i].token = strtoi64(COORD_VALUE(&res, 0, 0), NULL, 10);
	mine[i].acquired_us = strtoi64(COORD_VALUE(&res, 0, 3), NULL, 10);
	mine[i].cap_ms = strtoi64(COORD_VALUE(&res, 0, 4), NULL, 10) -
		snowflake_cluster_layout.epoch_ms;
	mine[i].locked = locked;
	mine[i].published = false;
	mine[i].deadline = sent + ttl - margin;
	mine[i].floor_ms = floor_ms;
	bind_slot(i, worker_id, floor_ms);
	set_renewed(i, SNOWFLAKE_LEASE_WAITING, mine[i].token,
				unix_us_to_timestamptz(strtoi64(COORD_VALUE(&res, 0, 1), NULL, 10)),
				unix_us_to_timestamptz(sent_wall * 1000), floor_ms);
	ereport(LOG,
			(errmsg("snowflake: leased worker ID %d (fencing token " INT64_FORMAT ")",
					worker_id, mine[i].token),
			 floor_ms >= 0 ?
			 errdetail("Its previous holders minted up to %s at most; this server mints above that.",
					   snowflake_units_text(&snowflake_cluster_layout, floor_ms)) : 0));
	return ACQUIRE_OK;
}

static bool
holds(int32 worker_id)
{
	int			i;

	for (i = 0; i < snowflake_shared->nslots; i++)
		if (mine[i].worker_id == worker_id)
			return true;
	return false;
}

/* Lease a worker ID for every slot that has none. */
static bool
acquire(char *err)
{
	SnowflakeShared *sh = snowflake_shared;
	int			missing = 0;
	int			i;
	char		holder[256];

	for (i = 0; i < sh->nslots; i++)
		if (mine[i].worker_id < 0)
			missing++;
	if (missing == 0)
		return true;

	if (snowflake_first_worker_id >= 0)
	{
		/* pinned: slot i takes worker ID N + i, or nothing */
		for (i = 0; i < sh->nslots; i++)
		{
			int32		want = region_prefix() | (snowflake_first_worker_id + i);

			if (mine[i].worker_id >= 0)
				continue;
			switch (acquire_one(i, want, holder, sizeof(holder), err))
			{
				case ACQUIRE_OK:
					break;
				case ACQUIRE_HELD:
					set_holder(i, want, holder);
					break;
				case ACQUIRE_ERROR:
					return false;
			}
		}
		return true;
	}
	else
	{
		char		first[16];
		char		last[16];
		char		limit[16];
		const char *params[7];
		int64		ttl,
					renew_every,
					margin;
		int			round;

		snprintf(first, sizeof(first), "%d", region_prefix());
		snprintf(last, sizeof(last), "%d", region_prefix() + local_ids() - 1);
		snprintf(limit, sizeof(limit), "%d", missing + 8);
		params[0] = first;
		params[1] = last;
		params[2] = limit;
		params[3] = identity_sysid;
		params[4] = identity_host;
		params[5] = identity_port;
		lease_timing(&ttl, &renew_every, &margin);
		params[6] = psprintf(INT64_FORMAT, wall_unix_ms() + ttl);

		/*
		 * Servers starting together race for the same candidates; whoever
		 * loses a race asks for fresh candidates, a few times.
		 */
		for (round = 0; round < 8; round++)
		{
			CoordResult res;
			int			r = 0;
			bool		exhausted = false;

			/*
			 * Free worker IDs, leaving out those whose floor is further
			 * ahead of this server's clock than a lease lasts: a previous
			 * holder's clock ran ahead, and this server would wait for it.
			 */
			if (!coord_exec("SELECT g.w FROM pg_catalog.generate_series($1::pg_catalog.int4, $2::pg_catalog.int4) AS g(w)"
							" LEFT JOIN " LEASE_TABLE " l ON l.worker_id OPERATOR(pg_catalog.=) g.w"
							" WHERE (l.worker_id IS NULL OR l.released_at IS NOT NULL"
							"        OR l.expires_at OPERATOR(pg_catalog.<) pg_catalog.now())"
							"   AND (GREATEST(l.last_minted_at, l.minting_until) IS NULL"
							"        OR GREATEST(l.last_minted_at, l.minting_until)"
							"           OPERATOR(pg_catalog.<) " MS_TO_TS("$7") ")"
							" ORDER BY (l.holder_system_id OPERATOR(pg_catalog.=) $4"
							"           AND l.holder_host OPERATOR(pg_catalog.=) $5"
							"           AND l.holder_port OPERATOR(pg_catalog.=) $6::pg_catalog.int4) IS NOT TRUE,"
							"          l.worker_id IS NOT NULL, l.expires_at, g.w"
							" LIMIT $3::pg_catalog.int4",
							7, params, &res, err))
				return false;

			for (i = 0; i < sh->nslots && !exhausted; i++)
			{
				bool		done = false;

				if (mine[i].worker_id >= 0)
					continue;
				while (!done && r < res.nrows)
				{
					int32		want = pg_strtoint32(COORD_VALUE(&res, r, 0));

					r++;
					if (holds(want))
						continue;
					switch (acquire_one(i, want, holder, sizeof(holder), err))
					{
						case ACQUIRE_OK:
							done = true;
							break;
						case ACQUIRE_HELD:
							break;
						case ACQUIRE_ERROR:
							return false;
					}
				}
				if (!done)
					exhausted = true;
			}
			if (!exhausted)
				return true;
			if (res.nrows < missing + 8)
				break;			/* every free worker ID was tried */
		}
		for (i = 0; i < sh->nslots; i++)
			if (mine[i].worker_id < 0)
				set_state(i, SNOWFLAKE_LEASE_NONE, -1);
		snprintf(err, COORD_ERRLEN,
				 "no free worker ID is left among the %d worker IDs of this server's region",
				 local_ids());
		return false;
	}
}

/*
 * Release the leases of slot "only" (or of every slot: -1), which have
 * stopped minting: report the last millisecond each minted, which only
 * raises the worker ID's floor, and lower minting_until, this holder's own
 * cap, to the release time.  Returns the worker IDs released, as a list,
 * or NULL on failure (err says why).
 */
static char *
release_leases(int only, char *err)
{
	const char *params[6];
	CoordResult res;
	StringInfoData list;
	int			r;

	if (held_leases(params, only) == 0)
		return "";
	params[0] = psprintf(INT64_FORMAT, wall_unix_ms());
	if (!coord_exec("UPDATE " LEASE_TABLE " AS l"
					" SET released_at = pg_catalog.now(), expires_at = pg_catalog.now(),"
					REPORT_MINTED
					"     minting_until = " MS_TO_TS("$1")
					HELD_ROWS
					" RETURNING l.worker_id",
					6, params, &res, err))
		return NULL;
	initStringInfo(&list);
	for (r = 0; r < res.nrows; r++)
		appendStringInfo(&list, "%s%s", r > 0 ? ", " : "", COORD_VALUE(&res, r, 0));
	return list.data;
}

/*
 * Give slot i's lease back: its previous holder's clock ran so far ahead
 * that the slot would wait longer than a lease lasts.  The worker ID keeps
 * its floor; acquire() passes over it and leases another.
 */
static void
give_up(int i)
{
	char		err[COORD_ERRLEN];
	char		id[16];
	int32		worker_id = mine[i].worker_id;
	int64		floor_ms = mine[i].floor_ms;

	unpublish(i);
	pg_memory_barrier();
	if (release_leases(i, err) == NULL)
	{
		ereport(LOG,
				(errmsg("snowflake: could not give back worker ID %d; it expires by itself: %s",
						worker_id, err)));
	}
	snprintf(id, sizeof(id), "%d", worker_id);
	(void) unlock(id, mine[i].locked, err);
	mine[i].worker_id = -1;
	mine[i].locked = false;
	set_state(i, SNOWFLAKE_LEASE_STARTING, -1);
	next_acquire_at = 0;
	ereport(LOG,
			(errmsg("snowflake: gave back worker ID %d: its previous holders minted up to %s, further ahead of this server's clock than a lease lasts",
					worker_id,
					snowflake_units_text(&snowflake_cluster_layout, floor_ms)),
			 errhint("Check the clocks of the fleet (NTP); another free worker ID is leased instead.")));
}

/* Publish leases whose previous holders' time the clock has passed. */
static int64
publish_ready(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		now = wall_unix_ms() - snowflake_cluster_layout.epoch_ms;
	int64		mono = mono_ms();
	int64		wait = RETRY_MS;
	int			i;

	for (i = 0; i < sh->nslots; i++)
	{
		if (mine[i].worker_id < 0 || mine[i].published)
			continue;

		/*
		 * A backend's clock reading may be a millisecond old; 2 ms above the
		 * floor, none can read at or below it.  The global floor makes sure.
		 */
		if (mine[i].floor_ms >= 0 && now <= mine[i].floor_ms + 2)
		{
			int64		ttl,
						renew_every,
						margin;

			/*
			 * A previous holder's clock ran far ahead: rather than wait for
			 * it, take another free worker ID (the pinned one is waited for).
			 */
			lease_timing(&ttl, &renew_every, &margin);
			if (snowflake_first_worker_id < 0 && mine[i].floor_ms - now > ttl)
			{
				give_up(i);
				continue;
			}
			wait = Min(wait, mine[i].floor_ms + 3 - now);
			continue;
		}
		if (mine[i].floor_ms >= 0)
			snowflake_atomic_raise_u64(&sh->max_ms, (uint64) mine[i].floor_ms + 1);
		if (mono >= mine[i].deadline)
			continue;			/* renewal will bring it back */
		pg_write_barrier();
		publish(i);
		set_state(i, SNOWFLAKE_LEASE_HELD, mine[i].worker_id);
	}
	return Max(1, wait);
}

/* Show leases past their deadline as expired. */
static void
refresh_states(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int64		mono = mono_ms();
	int			i;

	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeLeaseInfo *info = snowflake_lease_info(i);

		if (mine[i].worker_id < 0 || !mine[i].published)
			continue;
		SpinLockAcquire(&sh->lease_mutex);
		info->state = mono >= mine[i].deadline ?
			SNOWFLAKE_LEASE_EXPIRED : SNOWFLAKE_LEASE_HELD;
		SpinLockRelease(&sh->lease_mutex);
	}
}

static void
round_done(void)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->lease_mutex);
	sh->lease_round_done = true;
	SpinLockRelease(&sh->lease_mutex);
}

void
snowflake_lease_keeper_start(void)
{
	SnowflakeShared *sh = snowflake_shared;
	int			i;

	mine = MemoryContextAllocZero(TopMemoryContext, sizeof(LocalLease) * sh->nslots);
	tick_cxt = AllocSetContextCreate(TopMemoryContext, "snowflake lease keeper",
									 ALLOCSET_DEFAULT_SIZES);
	snprintf(identity_sysid, sizeof(identity_sysid), UINT64_FORMAT,
			 GetSystemIdentifier());
	if (gethostname(identity_host, sizeof(identity_host)) != 0)
		strlcpy(identity_host, "unknown", sizeof(identity_host));
	identity_host[sizeof(identity_host) - 1] = '\0';
	snprintf(identity_port, sizeof(identity_port), "%d", PostPortNumber);
	snprintf(identity_pid, sizeof(identity_pid), "%d", (int) PostmasterPid);

	/*
	 * A lease keeper that restarts finds the leases of its predecessor in
	 * shared memory: keep them, and renew them with their fencing tokens.
	 */
	SpinLockAcquire(&sh->lease_mutex);
	sh->lease_round_done = false;
	sh->keeper_latch = MyLatch;
	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeLeaseInfo *info = snowflake_lease_info(i);
		SnowflakeSlotData *s = &sh->slots[i].d;

		mine[i].worker_id = -1;
		mine[i].floor_ms = -1;
		if (s->worker_id >= 0 && info->fencing_token > 0 &&
			(info->state == SNOWFLAKE_LEASE_HELD ||
			 info->state == SNOWFLAKE_LEASE_EXPIRED ||
			 info->state == SNOWFLAKE_LEASE_WAITING))
		{
			mine[i].worker_id = s->worker_id;
			mine[i].token = info->fencing_token;
			mine[i].acquired_us = info->acquired_us;
			mine[i].cap_ms = (int64) pg_atomic_read_u64(&s->cap_ms);
			mine[i].floor_ms = info->floor_ms;
			mine[i].deadline = (int64) pg_atomic_read_u64(&s->deadline_ms);
			mine[i].published = mine[i].deadline != 0;
		}
	}
	SpinLockRelease(&sh->lease_mutex);
}

/* before_shmem_exit callback of the lease keeper. */
void
snowflake_lease_keeper_stop(void)
{
	SnowflakeShared *sh = snowflake_shared;

	SpinLockAcquire(&sh->lease_mutex);
	sh->keeper_latch = NULL;
	SpinLockRelease(&sh->lease_mutex);
}

/*
 * One round of the lease keeper: connect, renew when due, lease what is
 * missing.  Returns how long to sleep, in ms.
 */
int64
snowflake_lease_keeper_tick(void)
{
	SnowflakeShared *sh = snowflake_shared;
	MemoryContext oldcxt;
	char		err[COORD_ERRLEN];
	int64		now;
	int64		ttl,
				renew_every,
				margin;
	int64		sleep_ms = ACQUIRE_RETRY_MS;
	bool		ok = true;
	bool		missing = false;
	bool		reached = true;
	int			i;

	if (RecoveryInProgress())
	{
		for (i = 0; i < sh->nslots; i++)
			set_state(i, SNOWFLAKE_LEASE_STANDBY, -1);
		round_done();
		was_standby = true;
		return ACQUIRE_RETRY_MS;
	}
	if (was_standby)
	{
		/* promoted: minting waits for this server's first leases */
		was_standby = false;
		SpinLockAcquire(&sh->lease_mutex);
		sh->lease_round_done = false;
		SpinLockRelease(&sh->lease_mutex);
		for (i = 0; i < sh->nslots; i++)
			set_state(i, SNOWFLAKE_LEASE_STARTING, -1);
	}

	MemoryContextReset(tick_cxt);
	oldcxt = MemoryContextSwitchTo(tick_cxt);
	lease_timing(&ttl, &renew_every, &margin);
	err[0] = '\0';

	if (!coord_connect(err))
		ok = reached = false;
	if (ok && coord_take_fresh())
	{
		/* a new session: the advisory locks must be taken again */
		table_ready = false;
		for (i = 0; i < sh->nslots; i++)
			mine[i].locked = false;
		next_renew_at = 0;
	}
	if (ok)
		ok = ensure_table(err) && relock(err);

	/* a renewal interval shortened by a reload applies at once */
	next_renew_at = Min(next_renew_at, last_renew_sent + renew_every);
	/* a backend whose slots the clock has carried past their caps */
	if (pg_atomic_exchange_u32(&sh->renew_wanted, 0) != 0)
		next_renew_at = 0;
	now = mono_ms();
	if (ok && now >= next_renew_at)
	{
		last_renew_sent = now;
		if (renew(err))
			next_renew_at = now + renew_every;
		else
			ok = false;
	}
	for (i = 0; i < sh->nslots; i++)
		if (mine[i].worker_id < 0)
			missing = true;
	if (ok && missing && now >= next_acquire_at)
	{
		if (!acquire(err))
			ok = false;
		next_acquire_at = now + ACQUIRE_RETRY_MS;
	}

	sleep_ms = Min(sleep_ms, publish_ready());
	refresh_states();
	round_done();

	if (ok)
	{
		if (failing_since >= 0)
			ereport(LOG,
					(errmsg("snowflake: the coordinator answers again after " INT64_FORMAT " ms",
							mono_ms() - failing_since)));
		failing_since = -1;
		logged_err[0] = '\0';
		set_error("");
	}
	else
	{
		int64		mono = mono_ms();

		/* slots that have not leased anything yet could not: say so */
		for (i = 0; i < sh->nslots; i++)
		{
			SnowflakeLeaseInfo *info = snowflake_lease_info(i);

			SpinLockAcquire(&sh->lease_mutex);
			if (mine[i].worker_id < 0 && info->state == SNOWFLAKE_LEASE_STARTING)
				info->state = SNOWFLAKE_LEASE_NONE;
			SpinLockRelease(&sh->lease_mutex);
		}
		set_error(err);
		/* the same problem is logged once a minute, not every second */
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
	MemoryContextSwitchTo(oldcxt);

	/* wake for the next renewal, and retry failures soon */
	now = mono_ms();
	if (!ok)
		return Min(sleep_ms, RETRY_MS);
	if (next_renew_at > now)
		sleep_ms = Min(sleep_ms, next_renew_at - now);
	else
		sleep_ms = Min(sleep_ms, 1);
	return Max(1, sleep_ms);
}

/*
 * Release every lease at shutdown: stop minting under them first, then
 * report the last millisecond minted and the release time.
 */
void
snowflake_lease_keeper_release(void)
{
	SnowflakeShared *sh = snowflake_shared;
	char		err[COORD_ERRLEN];
	char	   *released;
	int			i;

	if (mine == NULL)
		return;
	MemoryContextSwitchTo(tick_cxt);
	for (i = 0; i < sh->nslots; i++)
		if (mine[i].worker_id >= 0)
			unpublish(i);
	pg_memory_barrier();

	released = release_leases(-1, err);
	if (released == NULL)
	{
		ereport(LOG,
				(errmsg("snowflake: could not release worker ID leases; they expire by themselves: %s",
						err)));
		return;
	}
	if (released[0] != '\0')
		ereport(LOG,
				(errmsg("snowflake: released worker ID%s %s",
						strchr(released, ',') ? "s" : "", released)));
	for (i = 0; i < sh->nslots; i++)
	{
		if (mine[i].worker_id >= 0)
			set_state(i, SNOWFLAKE_LEASE_STARTING, -1);
		mine[i].worker_id = -1;
	}
	if (!coord_embedded())
	{
		(void) coord_exec("SELECT pg_catalog.pg_advisory_unlock_all()", 0, NULL, NULL, err);
		coord_disconnect();
	}
}
