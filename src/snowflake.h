/*-------------------------------------------------------------------------
 *
 * snowflake.h
 *		Declarations shared by every part of the snowflake extension:
 *		configuration (GUC variables), SQLSTATEs of refusals, and the
 *		cluster layout.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_H
#define SNOWFLAKE_H

#include "layout.h"

/*
 * SQLSTATEs of the extension's own refusals (class SF).  Bad input uses the
 * standard codes (22003, 22008, 22023, 42704); not being preloaded is 55000.
 */
#define ERRCODE_SNOWFLAKE_CLOCK_REGRESSION	MAKE_SQLSTATE('S','F','0','0','1')
#define ERRCODE_SNOWFLAKE_NO_WORKER_ID		MAKE_SQLSTATE('S','F','0','0','2')
#define ERRCODE_SNOWFLAKE_FENCED			MAKE_SQLSTATE('S','F','0','0','3')
#define ERRCODE_SNOWFLAKE_STANDBY			MAKE_SQLSTATE('S','F','0','0','4')
#define ERRCODE_SNOWFLAKE_TIME_EXHAUSTED	MAKE_SQLSTATE('S','F','0','0','5')
#define ERRCODE_SNOWFLAKE_LAYOUT_CHANGED	MAKE_SQLSTATE('S','F','0','0','6')
#define ERRCODE_SNOWFLAKE_HIGH_WATER		MAKE_SQLSTATE('S','F','0','0','7')
#define ERRCODE_SNOWFLAKE_HELD_ELSEWHERE	MAKE_SQLSTATE('S','F','0','0','8')

/* Configuration, see snowflake.c for meaning, units and limits. */
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
extern int	snowflake_high_water_horizon;
extern char *snowflake_database;
extern char *snowflake_coordinator;
extern int	snowflake_lease_ttl;
extern int	snowflake_lease_renew_interval;
extern int	snowflake_fencing_margin;

/* The layout this cluster mints with; set once in _PG_init. */
extern SnowflakeLayout snowflake_cluster_layout;

/* True when loaded through shared_preload_libraries. */
extern bool snowflake_preloaded;

extern void snowflake_require_preload(void);
extern void snowflake_require_valid_layout(void);
extern void snowflake_register_workers(void);
extern bool snowflake_warn_if_time_runs_out(void);

#endif							/* SNOWFLAKE_H */
