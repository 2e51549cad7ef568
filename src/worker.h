/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The background workers: registration (from _PG_init) and their
 *		main functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_WORKER_H
#define SNOWFLAKE_WORKER_H

extern void snowflake_register_workers(void);

extern PGDLLEXPORT void snowflake_worker_main(Datum main_arg);
extern PGDLLEXPORT void snowflake_lease_worker_main(Datum main_arg);

#endif							/* SNOWFLAKE_WORKER_H */
