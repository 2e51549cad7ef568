/*-------------------------------------------------------------------------
 *
 * lease_table.h
 *		Every statement the lease keeper runs on the coordination table
 *		snowflake_state.worker_lease, one named function each.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_LEASE_TABLE_H
#define SNOWFLAKE_LEASE_TABLE_H

/* This server, as its leases name it on the coordinator. */
typedef struct SnowflakeHolder
{
	char		system_id[32];
	char		host[256];
	char		port[16];
	char		postmaster_pid[16];
	const char *cluster_name;
} SnowflakeHolder;

/* One lease this server holds, as renewal and release report it. */
typedef struct SnowflakeLeaseRef
{
	int32		worker_id;
	int64		token;			/* fencing token */
	int64		acquired_us;	/* acquired_at, Unix microseconds */
	int64		last_unix_ms;	/* last millisecond minted, or -1 */
} SnowflakeLeaseRef;

/* A renewal's answer for one lease. */
typedef struct SnowflakeRenewal
{
	int32		worker_id;
	int64		expires_us;		/* expires_at, Unix microseconds */
	int64		cap_unix_ms;	/* minting_until as acknowledged */
} SnowflakeRenewal;

/* A takeover's answer. */
typedef struct SnowflakeTakeover
{
	int64		token;
	int64		expires_us;
	int64		acquired_us;
	int64		cap_unix_ms;
	int64		floor_unix_ms;	/* what previous holders may have minted
								 * up to; -1 for a worker ID never leased */
} SnowflakeTakeover;

typedef enum SnowflakeTakeResult
{
	SNOWFLAKE_TAKE_OK,
	SNOWFLAKE_TAKE_HELD,		/* its lease is live */
	SNOWFLAKE_TAKE_ERROR
} SnowflakeTakeResult;

extern bool snowflake_lease_quarantine_table;

extern bool snowflake_lease_table_ensure(char *err);
extern bool snowflake_lease_lock_try(int32 worker_id, bool *got,
									 int *keeper_pid, char *err);
extern bool snowflake_lease_lock_release(int32 worker_id, char *err);
extern void snowflake_lease_locks_release_all(void);
extern bool snowflake_lease_end_expired_holder(int32 worker_id, int keeper_pid,
											   int *ended_pid, char *err);
extern bool snowflake_coordinator_end_session(int pid, char *err);
extern void snowflake_lease_describe_holder(int32 worker_id, char *buf,
											size_t len);
extern SnowflakeTakeResult snowflake_lease_take_over(int32 worker_id,
													 const SnowflakeHolder *me,
													 int64 ttl_ms,
													 int64 cap_unix_ms,
													 SnowflakeTakeover *out,
													 char *err);
extern bool snowflake_leases_renew(const SnowflakeLeaseRef *refs, int n,
								   const SnowflakeHolder *me,
								   int64 cap_unix_ms, int64 ttl_ms,
								   int64 clock_unix_ms, int64 last_latency_us,
								   SnowflakeRenewal **renewed, int *nrenewed,
								   char *err);
extern char *snowflake_leases_release(const SnowflakeLeaseRef *refs, int n,
									  const SnowflakeHolder *me,
									  int64 now_unix_ms, char *err);
extern bool snowflake_free_worker_ids(int32 first, int32 last, int limit,
									  const SnowflakeHolder *me,
									  int64 floor_limit_unix_ms,
									  int32 **ids, int *nids, char *err);

#endif							/* SNOWFLAKE_LEASE_TABLE_H */
