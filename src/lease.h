/*-------------------------------------------------------------------------
 *
 * lease.h
 *		Worker ID leases: the lease keeper's state machine, run by its
 *		background worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_LEASE_H
#define SNOWFLAKE_LEASE_H

extern void snowflake_lease_keeper_start(void);
extern void snowflake_lease_keeper_stop(void);
extern int64 snowflake_lease_keeper_tick(void);
extern void snowflake_lease_keeper_release(void);

#endif							/* SNOWFLAKE_LEASE_H */
