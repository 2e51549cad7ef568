/*-------------------------------------------------------------------------
 *
 * mint_wait.h
 *		The slow side of minting: waits, refusals, and the extension's own
 *		SQLSTATEs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_MINT_WAIT_H
#define SNOWFLAKE_MINT_WAIT_H

#include "shmem.h"

/*
 * SQLSTATEs of the extension's refusals to mint (class SF), all raised in
 * mint_wait.c.  Bad input uses the standard codes (22003, 22008, 22023,
 * 42704); not being preloaded is 55000.  Adoption has SF009 and SF010
 * (adoption.c) and SF011 (snowflake_adopt_column, in SQL).  SF012: the
 * duplicate canary parked the server (canary.c sets it, mint_wait.c
 * refuses).
 */
#define ERRCODE_SNOWFLAKE_CLOCK_REGRESSION	MAKE_SQLSTATE('S','F','0','0','1')
#define ERRCODE_SNOWFLAKE_NO_WORKER_ID		MAKE_SQLSTATE('S','F','0','0','2')
#define ERRCODE_SNOWFLAKE_FENCED			MAKE_SQLSTATE('S','F','0','0','3')
#define ERRCODE_SNOWFLAKE_STANDBY			MAKE_SQLSTATE('S','F','0','0','4')
#define ERRCODE_SNOWFLAKE_TIME_EXHAUSTED	MAKE_SQLSTATE('S','F','0','0','5')
#define ERRCODE_SNOWFLAKE_LAYOUT_CHANGED	MAKE_SQLSTATE('S','F','0','0','6')
#define ERRCODE_SNOWFLAKE_HIGH_WATER		MAKE_SQLSTATE('S','F','0','0','7')
#define ERRCODE_SNOWFLAKE_HELD_ELSEWHERE	MAKE_SQLSTATE('S','F','0','0','8')
#define ERRCODE_SNOWFLAKE_PARKED			MAKE_SQLSTATE('S','F','0','1','2')

extern int64 snowflake_clock_catch_up(SnowflakeSlot *home, int64 floor_ms,
									  bool may_borrow, bool *borrowed,
									  bool *on_spare);
extern bool snowflake_spare_await(void);
extern void snowflake_refuse_clock_step(SnowflakeSlot *home, int64 floor_ms,
										int64 now, bool no_spare)
			pg_attribute_noreturn();
extern void snowflake_count_regression(int64 floor_ms, int64 behind_ms);
extern void snowflake_await_mark(SnowflakeSlot *home, int64 ms);
extern void snowflake_lease_await(SnowflakeSlot *home);
extern void snowflake_refuse_standby(SnowflakeSlot *home) pg_attribute_noreturn();
extern void snowflake_refuse_time_range(int64 now) pg_attribute_noreturn();

#endif							/* SNOWFLAKE_MINT_WAIT_H */
