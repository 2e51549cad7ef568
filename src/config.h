/*-------------------------------------------------------------------------
 *
 * config.h
 *		The extension's settings (GUCs) and the cluster layout built from
 *		them.
 *
 * Everything here is set in _PG_init and read by every part of the
 * extension; layout settings are fixed at server start, timing settings
 * reload with SIGHUP.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_CONFIG_H
#define SNOWFLAKE_CONFIG_H

#include "layout.h"

/* snowflake.clock_step_policy */
typedef enum SnowflakeStepPolicy
{
	SNOWFLAKE_STEP_REFUSE,
	SNOWFLAKE_STEP_SPARE
} SnowflakeStepPolicy;

/* Configuration, see config.c for meaning, units and limits. */
extern int	snowflake_worker_slots;
extern int	snowflake_first_worker_id;
extern char *snowflake_epoch;
extern int	snowflake_worker_bits;
extern int	snowflake_sequence_bits;
extern int	snowflake_region_bits;
extern int	snowflake_region;
extern int	snowflake_max_clock_wait;
extern int	snowflake_max_batch;
extern bool snowflake_clock_borrow;
extern int	snowflake_clock_step_policy;
extern int	snowflake_spare_worker_ids;
extern int	snowflake_high_water_horizon;
extern int	snowflake_idle_after;
extern char *snowflake_database;
extern char *snowflake_coordinator;
extern int	snowflake_lease_ttl;
extern int	snowflake_lease_renew_interval;
extern int	snowflake_fencing_margin;
extern char *snowflake_reserved_worker_ids;
extern bool snowflake_track_callers;
extern int	snowflake_max_callers;
extern int	snowflake_lease_history_retention;
extern int	snowflake_canary_every;
extern int	snowflake_canary_retention;
extern uint64 snowflake_canary_threshold;

extern int	snowflake_slot_count(void);
extern void snowflake_define_settings(void);
extern void snowflake_require_valid_layout(void);
extern void snowflake_check_worker_id_config(void);
extern bool snowflake_warn_if_time_runs_out(void);
extern bool snowflake_worker_id_reserved(int32 worker_field);
extern int64 snowflake_reserved_count(void);

#endif							/* SNOWFLAKE_CONFIG_H */
