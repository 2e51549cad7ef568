/*-------------------------------------------------------------------------
 *
 * layout.h
 *		ID layout math: where the time, worker and sequence fields sit in a
 *		64-bit ID, and conversion between IDs, timestamps and fields.
 *
 * Nothing here touches shared memory or the catalog; every function is a
 * pure computation over a SnowflakeLayout, so decoding works in any backend,
 * preloaded or not.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_LAYOUT_H
#define SNOWFLAKE_LAYOUT_H

#include "datatype/timestamp.h"

#define SNOWFLAKE_LAYOUT_NAME_LEN 64

/* Milliseconds from the Unix epoch to the PostgreSQL epoch (2000-01-01). */
#define SNOWFLAKE_PG_EPOCH_UNIX_MS	INT64CONST(946684800000)

typedef struct SnowflakeLayout
{
	char		name[SNOWFLAKE_LAYOUT_NAME_LEN];
	int64		epoch_ms;		/* Unix milliseconds of the epoch */
	int64		unit_ms;		/* milliseconds per time unit, >= 1 */
	int			time_bits;
	int			worker_bits;	/* whole worker field, region bits included */
	int			sequence_bits;
	int			region_bits;	/* top bits of the worker field, 0 = none */
	bool		sequence_above_worker;	/* sonyflake puts sequence above machine */

	/* Derived by snowflake_layout_finish(). */
	int			time_shift;
	int			worker_shift;
	int			sequence_shift;
	int64		max_units;		/* largest time value an ID may carry */
} SnowflakeLayout;

/* Decoded fields of one ID. */
typedef struct SnowflakeFields
{
	int64		units;			/* time units since the layout's epoch */
	int32		worker_id;
	int32		sequence;
} SnowflakeFields;

/* The layout this cluster mints with; set once in _PG_init (config.c). */
extern PGDLLIMPORT SnowflakeLayout snowflake_cluster_layout;

extern bool snowflake_layout_finish(SnowflakeLayout *layout, const char **why);
extern bool snowflake_interval_us(const Interval *interval, int64 *us);
extern const SnowflakeLayout *snowflake_builtin_layout(const char *name);
extern bool snowflake_is_builtin_layout_name(const char *name);

extern void snowflake_decode_id(const SnowflakeLayout *layout, int64 id,
								SnowflakeFields *fields);
extern int64 snowflake_encode_fields(const SnowflakeLayout *layout,
									 const SnowflakeFields *fields);
extern int64 snowflake_units_from_timestamp(const SnowflakeLayout *layout,
											TimestampTz ts);
extern TimestampTz snowflake_timestamp_from_units(const SnowflakeLayout *layout,
												  int64 units);
extern TimestampTz snowflake_layout_ends_at(const SnowflakeLayout *layout);
extern int32 snowflake_region_of(const SnowflakeLayout *layout, int32 worker_id);
extern int32 snowflake_region_prefix(const SnowflakeLayout *layout, int32 region);
extern int32 snowflake_local_worker_ids(const SnowflakeLayout *layout);
extern char *snowflake_units_text(const SnowflakeLayout *layout, int64 units);
extern char *snowflake_ts_text(TimestampTz ts);

/* Compose an ID for the cluster layout; caller has range-checked the parts. */
static inline int64
snowflake_compose(const SnowflakeLayout *layout, int64 units, int32 worker_id,
				  int32 sequence)
{
	return (int64) (((uint64) units << layout->time_shift) |
					((uint64) worker_id << layout->worker_shift) |
					((uint64) sequence << layout->sequence_shift));
}

#endif							/* SNOWFLAKE_LAYOUT_H */
