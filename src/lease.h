/*-------------------------------------------------------------------------
 *
 * lease.h
 *		Worker ID leases: the lease keeper (background worker) and what the
 *		minting path asks of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_LEASE_H
#define SNOWFLAKE_LEASE_H

#include "generator.h"

extern void snowflake_check_worker_id_config(void);
extern void snowflake_lease_await(SnowflakeSlot *home);
extern const char *snowflake_lease_state_name(SnowflakeLeaseState state);

/* the lease keeper's side, run by its background worker (worker.c) */
extern void snowflake_lease_keeper_start(void);
extern void snowflake_lease_keeper_stop(void);
extern int64 snowflake_lease_keeper_tick(void);
extern void snowflake_lease_keeper_release(void);

#endif							/* SNOWFLAKE_LEASE_H */
