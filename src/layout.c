/*-------------------------------------------------------------------------
 *
 * layout.c
 *		ID layout math and the built-in layouts.
 *
 * A layout says how many bits the time, worker and sequence fields take,
 * in which order, from which epoch and in which time unit.  This file owns
 * the table of built-in layouts (twitter, discord, instagram, sonyflake,
 * pgedge) and the conversions between IDs, fields and timestamps.  Every
 * conversion checks its input against the layout and raises a clear error
 * rather than returning a wrong or wrapped value.  Arithmetic on epochs,
 * units and timestamps is overflow-checked (common/int.h): a layout comes
 * from user input, and a product that wrapped would pass every later range
 * check as a small, plausible number.
 *
 * The cluster's own layout ("snowflake") is built from the settings at load
 * time by config.c and kept in snowflake_cluster_layout, defined here; it never changes while
 * the server runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "layout.h"

#include "common/int.h"
#include "utils/timestamp.h"

/* The layout this cluster mints with; set once in _PG_init (config.c). */
SnowflakeLayout snowflake_cluster_layout;


static SnowflakeLayout builtin_layouts[] = {
	/* name, epoch (Unix ms), unit, time, worker, sequence, region, seq above */
	{"twitter", INT64CONST(1288834974657), 1, 41, 10, 12, 0, false},
	{"discord", INT64CONST(1420070400000), 1, 42, 10, 12, 0, false},
	{"instagram", INT64CONST(1314220021721), 1, 41, 13, 10, 0, false},
	{"sonyflake", INT64CONST(1409529600000), 10, 39, 16, 8, 0, true},
	{"pgedge", INT64CONST(1672531200000), 1, 41, 10, 12, 0, false},
};

static bool builtins_ready = false;

/*
 * Check a layout's widths, epoch and unit and fill in its derived fields.
 * Returns false and sets *why (a complete sentence) if the widths cannot
 * describe a non-negative bigint or a time value has no timestamp.
 */
bool
snowflake_layout_finish(SnowflakeLayout *layout, const char **why)
{
	int			total = layout->time_bits + layout->worker_bits +
		layout->sequence_bits;

	if (layout->time_bits < 1 || layout->worker_bits < 0 ||
		layout->sequence_bits < 0)
	{
		*why = "Every field needs a non-negative width and the time field at least one bit.";
		return false;
	}
	if (layout->worker_bits > 31 || layout->sequence_bits > 31)
	{
		*why = "Worker and sequence fields are at most 31 bits wide.";
		return false;
	}
	if (total != 63 && total != 64)
	{
		*why = "Time, worker and sequence bits must add up to 63 or 64.";
		return false;
	}
	if (layout->region_bits < 0 || layout->region_bits > layout->worker_bits)
	{
		*why = "Region bits must fit inside the worker field.";
		return false;
	}
	if (layout->unit_ms < 1)
	{
		*why = "The time unit must be a whole, positive number of milliseconds.";
		return false;
	}

	if (layout->sequence_above_worker)
	{
		layout->worker_shift = 0;
		layout->sequence_shift = layout->worker_bits;
	}
	else
	{
		layout->sequence_shift = 0;
		layout->worker_shift = layout->sequence_bits;
	}
	layout->time_shift = layout->worker_bits + layout->sequence_bits;

	/* The sign bit stays clear: a 64-bit layout loses its top time value bit. */
	layout->max_units = (int64) (PG_INT64_MAX >> layout->time_shift);
	if (layout->time_bits < 63 &&
		layout->max_units > (INT64CONST(1) << layout->time_bits) - 1)
		layout->max_units = (INT64CONST(1) << layout->time_bits) - 1;

	/*
	 * The epoch and the end of the last time unit must be valid timestamps;
	 * then every time value in between has one too, and the conversions
	 * below cannot overflow for a decoded ID.  A 63- or 64-bit time field
	 * has max_units = PG_INT64_MAX, so even the unit count past the end needs
	 * a check.
	 */
	{
		int64		epoch_ms;
		int64		epoch_us;
		int64		span_units;
		int64		span_ms;
		int64		end_ms;
		int64		end_us;

		if (pg_sub_s64_overflow(layout->epoch_ms, SNOWFLAKE_PG_EPOCH_UNIX_MS, &epoch_ms) ||
			pg_mul_s64_overflow(epoch_ms, 1000, &epoch_us) ||
			!IS_VALID_TIMESTAMP(epoch_us) ||
			pg_add_s64_overflow(layout->max_units, 1, &span_units) ||
			pg_mul_s64_overflow(span_units, layout->unit_ms, &span_ms) ||
			pg_add_s64_overflow(epoch_ms, span_ms, &end_ms) ||
			pg_mul_s64_overflow(end_ms, 1000, &end_us) ||
			!IS_VALID_TIMESTAMP(end_us))
		{
			*why = "The layout's time range runs outside the timestamps PostgreSQL can represent.";
			return false;
		}
	}
	return true;
}

/*
 * An interval's length in microseconds, for a layout's time unit.  Returns
 * false if its days and time add up to more than a bigint holds: summed
 * unchecked they wrap, and a wrapped unit (2147483647 days
 * -298651767:41:44.48284 comes out as 1 ms) passes every later check as a
 * short one.  Months have no fixed length: the caller refuses them first.
 */
bool
snowflake_interval_us(const Interval *interval, int64 *us)
{
	Assert(interval->month == 0);
	return !pg_mul_s64_overflow((int64) interval->day, USECS_PER_DAY, us) &&
		!pg_add_s64_overflow(*us, interval->time, us);
}

static void
builtins_init(void)
{
	int			i;

	for (i = 0; i < lengthof(builtin_layouts); i++)
	{
		const char *why;

		if (!snowflake_layout_finish(&builtin_layouts[i], &why))
			elog(ERROR, "built-in layout \"%s\" is invalid: %s",
				 builtin_layouts[i].name, why);
	}
	builtins_ready = true;
}

bool
snowflake_is_builtin_layout_name(const char *name)
{
	int			i;

	if (strcmp(name, "snowflake") == 0)
		return true;
	for (i = 0; i < lengthof(builtin_layouts); i++)
		if (strcmp(name, builtin_layouts[i].name) == 0)
			return true;
	return false;
}

/* The built-in layout of that name, or NULL. */
const SnowflakeLayout *
snowflake_builtin_layout(const char *name)
{
	int			i;

	if (strcmp(name, "snowflake") == 0)
		return &snowflake_cluster_layout;
	if (!builtins_ready)
		builtins_init();
	for (i = 0; i < lengthof(builtin_layouts); i++)
		if (strcmp(name, builtin_layouts[i].name) == 0)
			return &builtin_layouts[i];
	return NULL;
}

/* Split a non-negative ID into its fields; negative IDs are an error. */
void
snowflake_decode_id(const SnowflakeLayout *layout, int64 id,
					SnowflakeFields *fields)
{
	uint64		u = (uint64) id;

	if (id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake ID " INT64_FORMAT " is negative", id),
				 errdetail("IDs of layout \"%s\" are non-negative bigints.",
						   layout->name),
				 errhint("Check that the value is a snowflake ID and not a sum, difference or hash.")));

	fields->units = (int64) (u >> layout->time_shift);
	if (fields->units > layout->max_units)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake ID " INT64_FORMAT " is outside layout \"%s\"",
						id, layout->name),
				 errdetail("Its time field is past the last value the layout allows."),
				 errhint("Check that the ID belongs to this layout.")));
	fields->worker_id = (int32) ((u >> layout->worker_shift) &
								 ((UINT64CONST(1) << layout->worker_bits) - 1));
	fields->sequence = (int32) ((u >> layout->sequence_shift) &
								((UINT64CONST(1) << layout->sequence_bits) - 1));
}

/* Build an ID from fields, checking that each one fits. */
int64
snowflake_encode_fields(const SnowflakeLayout *layout,
						const SnowflakeFields *fields)
{
	int64		max_worker = (INT64CONST(1) << layout->worker_bits) - 1;
	int64		max_sequence = (INT64CONST(1) << layout->sequence_bits) - 1;

	if (fields->worker_id < 0 || fields->worker_id > max_worker)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("worker_id %d does not fit layout \"%s\"",
						fields->worker_id, layout->name),
				 errdetail("The worker field has %d bits: 0 to " INT64_FORMAT ".",
						   layout->worker_bits, max_worker),
				 errhint("Pass a worker ID in that range, or the layout the ID belongs to.")));
	if (fields->sequence < 0 || fields->sequence > max_sequence)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sequence %d does not fit layout \"%s\"",
						fields->sequence, layout->name),
				 errdetail("The sequence field has %d bits: 0 to " INT64_FORMAT ".",
						   layout->sequence_bits, max_sequence),
				 errhint("Pass a sequence in that range, or the layout the ID belongs to.")));
	Assert(fields->units >= 0 && fields->units <= layout->max_units);
	return snowflake_compose(layout, fields->units, fields->worker_id,
							 fields->sequence);
}

/*
 * Time units since the layout's epoch for a timestamp, rounded down.  A
 * timestamp before the epoch or past the layout's last time value is an
 * error (22008).
 */
int64
snowflake_units_from_timestamp(const SnowflakeLayout *layout, TimestampTz ts)
{
	int64		unix_ms;
	int64		since_epoch;

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for layout \"%s\"", layout->name),
				 errdetail("Infinite timestamps have no snowflake ID."),
				 errhint("Use a finite timestamp.")));

	/*
	 * floor division: microseconds before 2000 round toward the past.  A
	 * finite timestamp and the epoch both lie inside PostgreSQL's range, so
	 * the sums do not overflow; checking them anyway keeps a wrapped
	 * difference from ever passing for one in range.
	 */
	unix_ms = ts >= 0 ? ts / 1000 : -((-(ts + 1)) / 1000) - 1;
	if (pg_add_s64_overflow(unix_ms, SNOWFLAKE_PG_EPOCH_UNIX_MS, &unix_ms) ||
		pg_sub_s64_overflow(unix_ms, layout->epoch_ms, &since_epoch) ||
		since_epoch < 0 || since_epoch / layout->unit_ms > layout->max_units)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp %s is out of range for layout \"%s\"",
						snowflake_ts_text(ts), layout->name),
				 errdetail("The layout covers %s to %s.",
						   snowflake_units_text(layout, 0),
						   snowflake_ts_text(snowflake_layout_ends_at(layout))),
				 errhint("Use a timestamp inside the layout's range, or a layout whose range covers it.")));
	return since_epoch / layout->unit_ms;
}

/*
 * The start of time value "units" of a finished layout; false if it has no
 * valid timestamp.  snowflake_layout_finish() made sure that every value
 * from 0 to max_units + 1 has one, so only values from elsewhere (a clock
 * reading past the layout's end) can fail.
 */
static bool
units_to_timestamp(const SnowflakeLayout *layout, int64 units, TimestampTz *ts)
{
	int64		epoch_ms;
	int64		ms;
	int64		us;

	if (pg_sub_s64_overflow(layout->epoch_ms, SNOWFLAKE_PG_EPOCH_UNIX_MS, &epoch_ms) ||
		pg_mul_s64_overflow(units, layout->unit_ms, &ms) ||
		pg_add_s64_overflow(ms, epoch_ms, &ms) ||
		pg_mul_s64_overflow(ms, 1000, &us) ||
		!IS_VALID_TIMESTAMP(us))
		return false;
	*ts = (TimestampTz) us;
	return true;
}

TimestampTz
snowflake_timestamp_from_units(const SnowflakeLayout *layout, int64 units)
{
	TimestampTz ts;

	if (!units_to_timestamp(layout, units, &ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time value " INT64_FORMAT " of layout \"%s\" is out of range",
						units, layout->name),
				 errdetail("Its timestamp would lie outside the timestamps PostgreSQL can represent."),
				 errhint("Check that the value belongs to this layout.")));
	return ts;
}

/* The last instant the layout's time field can represent. */
TimestampTz
snowflake_layout_ends_at(const SnowflakeLayout *layout)
{
	/* the end of max_units is the start of max_units + 1, checked valid */
	return snowflake_timestamp_from_units(layout, layout->max_units + 1) - 1;
}

/* A timestamp as text, in memory of its own (timestamptz_to_str reuses a buffer). */
char *
snowflake_ts_text(TimestampTz ts)
{
	return pstrdup(timestamptz_to_str(ts));
}

/*
 * A time value as text, for messages.  It never raises an error of its own,
 * which would replace the one being reported.
 */
char *
snowflake_units_text(const SnowflakeLayout *layout, int64 units)
{
	TimestampTz ts;

	if (!units_to_timestamp(layout, units, &ts))
		return psprintf("time value " INT64_FORMAT " (outside the timestamp range)",
						units);
	return snowflake_ts_text(ts);
}

/* Region of a worker field value, or -1 when the layout has no region bits. */
int32
snowflake_region_of(const SnowflakeLayout *layout, int32 worker_id)
{
	if (layout->region_bits == 0)
		return -1;
	return worker_id >> (layout->worker_bits - layout->region_bits);
}

/* The worker field of worker ID 0 of region "region": its region bits. */
int32
snowflake_region_prefix(const SnowflakeLayout *layout, int32 region)
{
	return region << (layout->worker_bits - layout->region_bits);
}

/* How many worker IDs one region has. */
int32
snowflake_local_worker_ids(const SnowflakeLayout *layout)
{
	return (int32) 1 << (layout->worker_bits - layout->region_bits);
}
