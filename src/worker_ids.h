/*-------------------------------------------------------------------------
 *
 * worker_ids.h
 *		Where each sequence slot's worker ID comes from.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_WORKER_IDS_H
#define SNOWFLAKE_WORKER_IDS_H

#include "generator.h"

extern void snowflake_check_worker_id_config(void);
extern void snowflake_assign_worker_ids(SnowflakeShared *sh);

#endif							/* SNOWFLAKE_WORKER_IDS_H */
