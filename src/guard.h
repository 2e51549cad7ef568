/*-------------------------------------------------------------------------
 *
 * guard.h
 *		The clock guard and the durable high-water mark, run by the
 *		background worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_GUARD_H
#define SNOWFLAKE_GUARD_H

extern void snowflake_guard_start(void);
extern void snowflake_guard_stop(void);
extern void snowflake_guard_watch_clock(void);
extern int64 snowflake_guard_keep_mark(void);
extern void snowflake_guard_shutdown(void);
extern void snowflake_describe_layout(char *buf, size_t len);

#endif							/* SNOWFLAKE_GUARD_H */
