/*-------------------------------------------------------------------------
 *
 * worker_ids.c
 *		Binding sequence slots to worker IDs.
 *
 * Slot i takes worker ID base + i, where base is snowflake.worker_id (or 0
 * when it is -1), inside this server's region: with region bits, the worker
 * field is (snowflake.region << local bits) | local ID.  Worker IDs are
 * fixed for the life of the shared memory segment; they are written once,
 * while the caller holds AddinShmemInitLock, and read without locks.
 *
 * Every server of a fleet must be given its own range of worker IDs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "snowflake.h"
#include "worker_ids.h"

static int
first_local_id(void)
{
	return snowflake_first_worker_id < 0 ? 0 : snowflake_first_worker_id;
}

/* Called from _PG_init: refuse a configuration whose IDs do not fit. */
void
snowflake_check_worker_id_config(void)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	int			local_bits = layout->worker_bits - layout->region_bits;
	int64		local_ids = INT64CONST(1) << local_bits;
	int64		last = (int64) first_local_id() + snowflake_worker_slots - 1;

	if (layout->region_bits > 0 &&
		snowflake_region >= (1 << layout->region_bits))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snowflake.region %d does not fit in snowflake.region_bits = %d",
						snowflake_region, layout->region_bits),
				 errhint("Use a region from 0 to %d, or more region bits.",
						 (1 << layout->region_bits) - 1)));
	if (layout->region_bits == 0 && snowflake_region != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snowflake.region is set but snowflake.region_bits is 0"),
				 errhint("Set snowflake.region_bits to give the worker field a region.")));
	if (last >= local_ids)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("worker IDs %d to " INT64_FORMAT " do not fit in %d worker bits",
						first_local_id(), last, local_bits),
				 errdetail("snowflake.worker_slots = %d slots take consecutive worker IDs from snowflake.worker_id = %d.",
						   snowflake_worker_slots, snowflake_first_worker_id),
				 errhint("Lower snowflake.worker_id or snowflake.worker_slots, or give the layout more worker bits.")));
}

/* Caller holds AddinShmemInitLock and is initialising shared memory. */
void
snowflake_assign_worker_ids(SnowflakeShared *sh)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	int			local_bits = layout->worker_bits - layout->region_bits;
	int32		region_prefix = (int32) snowflake_region << local_bits;
	int			i;

	for (i = 0; i < sh->nslots; i++)
		sh->slots[i].d.worker_id = region_prefix | (first_local_id() + i);
}
