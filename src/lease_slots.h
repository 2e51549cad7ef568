/*-------------------------------------------------------------------------
 *
 * lease_slots.h
 *		What the lease keeper publishes in shared memory (lease_slots.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_LEASE_SLOTS_H
#define SNOWFLAKE_LEASE_SLOTS_H

#include "shmem.h"

extern void snowflake_slot_bind(int i, int32 worker_id, int64 floor_ms);
extern void snowflake_slot_unpublish(int i);
extern void snowflake_slot_publish(int i, int64 cap_ms, int64 deadline_ms);
extern int64 snowflake_slot_last_minted_ms(int i);

extern void snowflake_lease_info_set_error(const char *err);
extern void snowflake_lease_info_set_round_done(bool done);
extern void snowflake_lease_info_set_state(int i, SnowflakeLeaseState state,
										   int32 worker_id);
extern void snowflake_lease_info_set_lease(int i, const SnowflakeLeaseInfo *lease);
extern void snowflake_lease_info_set_holder(int i, int32 worker_id,
											const char *holder);
extern void snowflake_lease_info_mark_unleased(void);
extern void snowflake_lease_info_set_keeper_latch(Latch *latch);

#endif							/* SNOWFLAKE_LEASE_SLOTS_H */
