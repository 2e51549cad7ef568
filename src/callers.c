/*-------------------------------------------------------------------------
 *
 * callers.c
 *		Per-caller counters: IDs minted, batches, waits and refusals per
 *		database and role, shown by snowflake_callers() and reset by
 *		snowflake_callers_reset().
 *
 * Two parts, both in shared memory of their own:
 *
 * - One live entry per backend (indexed by MyBackendId), written only by
 *	 its backend.  The minting path adds to it with an atomic store and no
 *	 lock (snowflake_caller_count in callers.h), so the view costs the
 *	 minting path one compare and one store to a line no other backend
 *	 writes.
 * - A bounded hash table keyed by (database, role), as pg_stat_statements
 *	 keeps its entries: a live entry is folded into it when its backend
 *	 changes database or role (SET ROLE, a SECURITY DEFINER function) and
 *	 when the backend exits.  When the table is full, callers it has no
 *	 room for are counted together in a row with NULL database and role.
 *
 * Locking: callers_lock (an LWLock of its own tranche) covers the hash
 * table, the key of every live entry and every live entry's "base".
 * Shared: a read (snowflake_callers).  Exclusive: a fold, a key change and
 * a reset.  A live entry's "count" only rises and is written by its owner
 * without the lock; a reader takes count - base, so a read may miss an
 * increment made at the same moment, never count one twice, and a reset
 * (base := count) never races with the owner's stores.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "callers.h"

#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(snowflake_callers);
PG_FUNCTION_INFO_V1(snowflake_callers_reset);

typedef struct CallerKey
{
	Oid			dbid;			/* InvalidOid with userid InvalidOid: the
								 * row of callers the table had no room for */
	Oid			userid;
} CallerKey;

typedef struct CallerEntry
{
	CallerKey	key;
	uint64		count[SNOWFLAKE_CALLER_N_COUNTERS];
} CallerEntry;

/* One live entry per backend, each on a cache line of its own. */
typedef union CallerLiveSlot
{
	SnowflakeCallerLive live;
	char		pad[PG_CACHE_LINE_SIZE];
} CallerLiveSlot;

StaticAssertDecl(sizeof(SnowflakeCallerLive) <= PG_CACHE_LINE_SIZE,
				 "a live caller entry must fit a cache line");

typedef struct CallersShared
{
	LWLock	   *lock;
	TimestampTz reset_at;		/* under lock */
	int			nlive;
	CallerLiveSlot live[FLEXIBLE_ARRAY_MEMBER];
} CallersShared;

SnowflakeCallerLive *snowflake_my_caller = NULL;

static CallersShared *callers = NULL;
static HTAB *caller_table = NULL;

/* Backends that may count: every process with a backend ID. */
static int
live_entries(void)
{
#if PG_VERSION_NUM >= 150000
	return MaxBackends;
#else
	return MaxConnections + autovacuum_max_workers + 1 +
		max_worker_processes + max_wal_senders;
#endif
}

Size
snowflake_callers_shmem_size(void)
{
	Size		size;

	size = add_size(offsetof(CallersShared, live),
					mul_size(live_entries(), sizeof(CallerLiveSlot)));
	/* one more entry: the row of callers the table had no room for */
	size = add_size(size, hash_estimate_size(snowflake_max_callers + 1,
											 sizeof(CallerEntry)));
	return size;
}

void
snowflake_callers_shmem_request(void)
{
	RequestNamedLWLockTranche("snowflake_callers", 1);
}

/* Called under AddinShmemInitLock, by shmem.c. */
void
snowflake_callers_shmem_init(void)
{
	HASHCTL		info;
	bool		found;

	callers = ShmemInitStruct("snowflake callers",
							  add_size(offsetof(CallersShared, live),
									   mul_size(live_entries(), sizeof(CallerLiveSlot))),
							  &found);
	if (!found)
	{
		int			i;

		callers->lock = &(GetNamedLWLockTranche("snowflake_callers"))->lock;
		callers->reset_at = GetCurrentTimestamp();
		callers->nlive = live_entries();
		for (i = 0; i < callers->nlive; i++)
		{
			SnowflakeCallerLive *e = &callers->live[i].live;
			int			c;

			e->dbid = InvalidOid;
			e->userid = InvalidOid;
			for (c = 0; c < SNOWFLAKE_CALLER_N_COUNTERS; c++)
			{
				pg_atomic_init_u64(&e->count[c], 0);
				e->base[c] = 0;
			}
		}
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(CallerKey);
	info.entrysize = sizeof(CallerEntry);
	caller_table = ShmemInitHash("snowflake callers table",
								 snowflake_max_callers + 1,
								 snowflake_max_callers + 1,
								 &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * Add a live entry's counts since its base to its caller's row, and move
 * the base up.  Callers lock held exclusively.
 */
static void
fold_live(SnowflakeCallerLive *e)
{
	uint64		delta[SNOWFLAKE_CALLER_N_COUNTERS];
	bool		any = false;
	CallerKey	key;
	CallerEntry *entry;
	bool		found;
	int			c;

	if (!OidIsValid(e->dbid))
		return;
	for (c = 0; c < SNOWFLAKE_CALLER_N_COUNTERS; c++)
	{
		uint64		now = pg_atomic_read_u64(&e->count[c]);

		delta[c] = now - e->base[c];
		e->base[c] = now;
		any |= delta[c] != 0;
	}
	if (!any)
		return;

	memset(&key, 0, sizeof(key));
	key.dbid = e->dbid;
	key.userid = e->userid;
	entry = hash_search(caller_table, &key, HASH_FIND, NULL);
	if (entry == NULL &&
		hash_get_num_entries(caller_table) < snowflake_max_callers)
		entry = hash_search(caller_table, &key, HASH_ENTER_NULL, &found);
	else
		found = true;
	if (entry == NULL)
	{
		/* no room: the row of everyone else */
		memset(&key, 0, sizeof(key));
		entry = hash_search(caller_table, &key, HASH_ENTER_NULL, &found);
		if (entry == NULL)
			return;				/* cannot happen: its room is reserved */
	}
	if (!found)
		memset(entry->count, 0, sizeof(entry->count));
	for (c = 0; c < SNOWFLAKE_CALLER_N_COUNTERS; c++)
		entry->count[c] += delta[c];
}

/* At exit: what this backend counted goes into the table. */
static void
fold_at_exit(int code, Datum arg)
{
	SnowflakeCallerLive *e = snowflake_my_caller;

	if (e == NULL || callers == NULL)
		return;
	LWLockAcquire(callers->lock, LW_EXCLUSIVE);
	fold_live(e);
	e->dbid = InvalidOid;
	e->userid = InvalidOid;
	LWLockRelease(callers->lock);
	snowflake_my_caller = NULL;
}

/*
 * The first count of this backend, or the first under another database or
 * role: fold what the entry counted under its old key, and key it anew.
 * Returns this backend's entry, or NULL where there is none (no shared
 * memory, no backend ID).
 */
SnowflakeCallerLive *
snowflake_callers_switch(void)
{
	SnowflakeCallerLive *e = snowflake_my_caller;

	if (callers == NULL || MyBackendId < 1 || MyBackendId > callers->nlive)
		return NULL;
	if (e == NULL)
	{
		e = &callers->live[MyBackendId - 1].live;
		before_shmem_exit(fold_at_exit, (Datum) 0);
	}
	LWLockAcquire(callers->lock, LW_EXCLUSIVE);
	fold_live(e);
	e->dbid = MyDatabaseId;
	e->userid = GetUserId();
	LWLockRelease(callers->lock);
	snowflake_my_caller = e;
	return e;
}

/* One output row per caller, summed from the table and the live entries. */
typedef struct CallerSum
{
	CallerKey	key;
	uint64		count[SNOWFLAKE_CALLER_N_COUNTERS];
} CallerSum;

static void
add_to_sums(HTAB *sums, CallerKey key, const uint64 *count)
{
	CallerSum  *sum;
	bool		found;
	int			c;

	sum = hash_search(sums, &key, HASH_ENTER, &found);
	if (!found)
		memset(sum->count, 0, sizeof(sum->count));
	for (c = 0; c < SNOWFLAKE_CALLER_N_COUNTERS; c++)
		sum->count[c] += count[c];
}

/*
 * snowflake_callers(): one row per database and role.  Roles with the
 * privileges of pg_read_all_stats see every row; others their own.
 */
Datum
snowflake_callers(PG_FUNCTION_ARGS)
{
#define CALLERS_COLS 7
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	HASHCTL		info;
	HTAB	   *sums;
	HASH_SEQ_STATUS seq;
	CallerEntry *entry;
	CallerSum  *sum;
	TimestampTz reset_at;
	int			i;

	if (callers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("snowflake must be loaded via \"shared_preload_libraries\""),
				 errhint("Add snowflake to shared_preload_libraries in postgresql.conf and restart the server.")));
	InitMaterializedSRF(fcinfo, 0);

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(CallerKey);
	info.entrysize = sizeof(CallerSum);
	info.hcxt = CurrentMemoryContext;
	sums = hash_create("snowflake callers sums", 64, &info,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	LWLockAcquire(callers->lock, LW_SHARED);
	reset_at = callers->reset_at;
	hash_seq_init(&seq, caller_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
		add_to_sums(sums, entry->key, entry->count);
	for (i = 0; i < callers->nlive; i++)
	{
		SnowflakeCallerLive *e = &callers->live[i].live;
		uint64		delta[SNOWFLAKE_CALLER_N_COUNTERS];
		CallerKey	key;
		int			c;

		if (!OidIsValid(e->dbid))
			continue;
		for (c = 0; c < SNOWFLAKE_CALLER_N_COUNTERS; c++)
			delta[c] = pg_atomic_read_u64(&e->count[c]) - e->base[c];
		memset(&key, 0, sizeof(key));
		key.dbid = e->dbid;
		key.userid = e->userid;
		/* a caller the table has no room for is counted with the others */
		if (hash_search(caller_table, &key, HASH_FIND, NULL) == NULL &&
			hash_get_num_entries(caller_table) >= snowflake_max_callers)
			memset(&key, 0, sizeof(key));
		add_to_sums(sums, key, delta);
	}
	LWLockRelease(callers->lock);

	hash_seq_init(&seq, sums);
	while ((sum = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[CALLERS_COLS];
		bool		nulls[CALLERS_COLS];
		char	   *dbname;
		int			c = 0;
		int			k;

		if (!all && sum->key.userid != GetUserId())
			continue;
		memset(nulls, 0, sizeof(nulls));
		dbname = OidIsValid(sum->key.dbid) ? get_database_name(sum->key.dbid) : NULL;
		if (dbname == NULL)
			nulls[c++] = true;
		else
			values[c++] = CStringGetTextDatum(dbname);
		if (!OidIsValid(sum->key.userid))
			nulls[c++] = true;
		else
		{
			char	   *role = GetUserNameFromId(sum->key.userid, true);

			if (role == NULL)
				nulls[c++] = true;
			else
				values[c++] = CStringGetTextDatum(role);
		}
		for (k = 0; k < SNOWFLAKE_CALLER_N_COUNTERS; k++)
			values[c++] = Int64GetDatum((int64) sum->count[k]);
		values[c++] = TimestampTzGetDatum(reset_at);
		Assert(c == CALLERS_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* snowflake_callers_reset(): every count back to zero. */
Datum
snowflake_callers_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	CallerEntry *entry;
	int			i;

	if (callers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("snowflake must be loaded via \"shared_preload_libraries\""),
				 errhint("Add snowflake to shared_preload_libraries in postgresql.conf and restart the server.")));
	LWLockAcquire(callers->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, caller_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(caller_table, &entry->key, HASH_REMOVE, NULL);
	for (i = 0; i < callers->nlive; i++)
	{
		SnowflakeCallerLive *e = &callers->live[i].live;
		int			c;

		for (c = 0; c < SNOWFLAKE_CALLER_N_COUNTERS; c++)
			e->base[c] = pg_atomic_read_u64(&e->count[c]);
	}
	callers->reset_at = GetCurrentTimestamp();
	LWLockRelease(callers->lock);
	PG_RETURN_VOID();
}
