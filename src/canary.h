/*-------------------------------------------------------------------------
 *
 * canary.h
 *		The duplicate canary on the lease keeper's side: its tables on the
 *		coordinator, sending the samples, parking this server when a
 *		sampled ID turns out minted twice, and the boot probe of a newly
 *		leased worker ID.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_CANARY_H
#define SNOWFLAKE_CANARY_H

/* What the boot probe says of a newly leased worker ID. */
typedef enum SnowflakeProbeResult
{
	SNOWFLAKE_PROBE_CLEAR,		/* no sample above its floor: mint */
	SNOWFLAKE_PROBE_REFUSED,	/* a sample above its floor: do not */
	SNOWFLAKE_PROBE_ERROR
} SnowflakeProbeResult;

extern void snowflake_canary_ensure(void);
extern void snowflake_canary_round(void);
extern SnowflakeProbeResult snowflake_canary_probe(int32 worker_id,
												   int64 floor_unix_ms,
												   char *why, size_t whylen,
												   char *err);

#endif							/* SNOWFLAKE_CANARY_H */
