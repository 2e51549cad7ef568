/*-------------------------------------------------------------------------
 *
 * config.c
 *		The extension's settings and the cluster layout built from them.
 *
 * snowflake_define_settings() (from _PG_init) defines every GUC, builds
 * the cluster layout from the layout settings and records why it is
 * invalid, if it is: a server that preloads the library refuses to start
 * with a layout typed wrong (snowflake_require_valid_layout), while a
 * backend that only loads it for decoding keeps working.  Nothing here
 * touches shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "config.h"

#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

int			snowflake_worker_slots = 8;
int			snowflake_first_worker_id = -1;
char	   *snowflake_epoch = NULL;
int			snowflake_worker_bits = 10;
int			snowflake_sequence_bits = 12;
int			snowflake_region_bits = 0;
int			snowflake_region = 0;
int			snowflake_max_clock_wait = 20;
int			snowflake_max_batch = 1000000;
bool		snowflake_clock_borrow = false;
int			snowflake_clock_step_policy = SNOWFLAKE_STEP_REFUSE;
int			snowflake_spare_worker_ids = 1;
int			snowflake_high_water_horizon = 1000;
int			snowflake_idle_after = 30000;
char	   *snowflake_database = NULL;
char	   *snowflake_coordinator = NULL;
int			snowflake_lease_ttl = 30000;
int			snowflake_lease_renew_interval = 10000;
int			snowflake_fencing_margin = 5000;
char	   *snowflake_reserved_worker_ids = NULL;
bool		snowflake_track_callers = true;
int			snowflake_max_callers = 1000;
int			snowflake_lease_history_retention = 30 * 86400;
int			snowflake_canary_every = 10000;
int			snowflake_canary_retention = 3600;

/*
 * The duplicate canary samples IDs whose hash is below this (canary_ring.h):
 * 2^32 / snowflake.canary_every, 0 when the canary is off.
 */
uint64		snowflake_canary_threshold = (UINT64CONST(1) << 32) / 10000;

static const struct config_enum_entry clock_step_policy_options[] = {
	{"refuse", SNOWFLAKE_STEP_REFUSE, false},
	{"spare", SNOWFLAKE_STEP_SPARE, false},
	{NULL, 0, false}
};

/*
 * Slots in shared memory: snowflake.worker_slots, and with
 * snowflake.clock_step_policy = spare the spare slots after them.  Each
 * leases a worker ID.
 */
int
snowflake_slot_count(void)
{
	return snowflake_worker_slots +
		(snowflake_clock_step_policy == SNOWFLAKE_STEP_SPARE ?
		 snowflake_spare_worker_ids : 0);
}

static void
assign_canary_every(int newval, void *extra)
{
	snowflake_canary_threshold = newval > 0 ? (UINT64CONST(1) << 32) / (uint64) newval : 0;
}

/* The epoch GUC parsed by its check hook, in Unix milliseconds. */
static int64 epoch_unix_ms;

/* Parse a timestamptz literal without raising errors; false if invalid. */
static bool
parse_timestamptz(const char *str, TimestampTz *result)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tt;
	fsec_t		fsec;
	int			tz;
#if PG_VERSION_NUM >= 160000
	DateTimeErrorExtra extra;
#endif

	if (str == NULL ||
		ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0)
		return false;
#if PG_VERSION_NUM >= 160000
	if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz, &extra) != 0)
		return false;
#else
	if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0)
		return false;
#endif
	if (dtype != DTK_DATE)
		return false;
	return tm2timestamp(&tt, fsec, &tz, result) == 0;
}

/*
 * Layout settings are accepted by the GUC machinery whatever they say and
 * checked by build_cluster_layout(): PostgreSQL applies a rejected value of
 * an extension's setting from postgresql.conf as a mere WARNING, keeping the
 * default, and a layout typed wrong must stop the server instead of quietly
 * becoming the layout it records.  The epoch is parsed here; INT64_MIN in
 * the extra means it did not parse.
 */
static bool
check_epoch(char **newval, void **extra, GucSource source)
{
	TimestampTz ts;
	int64	   *ms;

	ms = (int64 *) malloc(sizeof(int64));
	if (ms == NULL)
		return false;
	if (parse_timestamptz(*newval, &ts) && ts % 1000 == 0)
		*ms = ts / 1000 + SNOWFLAKE_PG_EPOCH_UNIX_MS;
	else
		*ms = PG_INT64_MIN;
	*extra = ms;
	return true;
}

static void
assign_epoch(const char *newval, void *extra)
{
	epoch_unix_ms = *(int64 *) extra;
}

/*
 * snowflake.reserved_worker_ids: worker IDs the lease keeper never leases,
 * kept for backfilling history (backfill.c).  A list of IDs and ranges,
 * such as '1000-1023, 7'.  Like the layout settings, the check hook accepts
 * anything and records why a value is invalid: a server that preloads the
 * library refuses to start with it (snowflake_check_worker_id_config),
 * rather than PostgreSQL keeping the default with a mere WARNING.
 */
#define MAX_RESERVED_RANGES 64

typedef struct ReservedWorkerIds
{
	int			nranges;
	int32		lo[MAX_RESERVED_RANGES];
	int32		hi[MAX_RESERVED_RANGES];
	char		error[200];		/* why the value is invalid, or "" */
} ReservedWorkerIds;

static ReservedWorkerIds *reserved_ids = NULL;

/* Parse one worker ID at *p, skipping blanks; false if there is none. */
static bool
parse_reserved_id(const char **p, int32 *id)
{
	char	   *end;
	long		v;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	v = strtol(*p, &end, 10);
	if (errno != 0 || v > PG_INT32_MAX)
		return false;
	*id = (int32) v;
	*p = end;
	while (**p == ' ' || **p == '\t')
		(*p)++;
	return true;
}

static bool
check_reserved_worker_ids(char **newval, void **extra, GucSource source)
{
	ReservedWorkerIds *r = calloc(1, sizeof(ReservedWorkerIds));
	const char *p = *newval ? *newval : "";

	if (r == NULL)
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p != '\0' && r->error[0] == '\0')
	{
		int32		lo;
		int32		hi;

		if (!parse_reserved_id(&p, &lo))
		{
			snprintf(r->error, sizeof(r->error),
					 "expected a worker ID at \"%s\"", p);
			break;
		}
		hi = lo;
		if (*p == '-')
		{
			p++;
			if (!parse_reserved_id(&p, &hi) || hi < lo)
			{
				snprintf(r->error, sizeof(r->error),
						 "a range is two worker IDs, the lower first, as in 1000-1023");
				break;
			}
		}
		if (r->nranges == MAX_RESERVED_RANGES)
			snprintf(r->error, sizeof(r->error), "more than %d ranges",
					 MAX_RESERVED_RANGES);
		else
		{
			r->lo[r->nranges] = lo;
			r->hi[r->nranges] = hi;
			r->nranges++;
		}
		if (*p == ',')
		{
			p++;
			if (*p == '\0')
				snprintf(r->error, sizeof(r->error), "a comma ends the list");
		}
		else if (*p != '\0' && r->error[0] == '\0')
			snprintf(r->error, sizeof(r->error),
					 "expected a comma or the end at \"%s\"", p);
	}
	*extra = r;
	return true;
}

static void
assign_reserved_worker_ids(const char *newval, void *extra)
{
	reserved_ids = (ReservedWorkerIds *) extra;
}

/* Is this server-local worker ID (region bits excluded) reserved? */
static bool
local_id_reserved(int64 local_id)
{
	int			i;

	if (reserved_ids == NULL || reserved_ids->error[0] != '\0')
		return false;
	for (i = 0; i < reserved_ids->nranges; i++)
		if (local_id >= reserved_ids->lo[i] && local_id <= reserved_ids->hi[i])
			return true;
	return false;
}

/*
 * Is a whole worker field (region bits included) reserved?  Only IDs of
 * this server's region are: another region's IDs are not its to reserve.
 */
bool
snowflake_worker_id_reserved(int32 worker_field)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	int			local_bits = layout->worker_bits - layout->region_bits;

	if (worker_field < 0 || (worker_field >> local_bits) !=
		(layout->region_bits > 0 ? snowflake_region : 0))
		return false;
	return local_id_reserved(worker_field & ((1 << local_bits) - 1));
}

/* How many worker IDs are reserved, counting overlaps twice (a bound). */
int64
snowflake_reserved_count(void)
{
	int64		n = 0;
	int			i;

	if (reserved_ids == NULL || reserved_ids->error[0] != '\0')
		return 0;
	for (i = 0; i < reserved_ids->nranges; i++)
		n += (int64) reserved_ids->hi[i] - reserved_ids->lo[i] + 1;
	return n;
}

/*
 * At start: the list parses, fits the worker field, and no pinned slot
 * (snowflake.worker_id) lands on a reserved ID.  local_bits and the
 * pinned range as snowflake_check_worker_id_config computed them.
 */
static void
check_reserved_config(int local_bits, int64 first, int64 last)
{
	int64		id;
	int			i;

	if (reserved_ids == NULL)
		return;
	if (reserved_ids->error[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for snowflake.reserved_worker_ids: \"%s\"",
						snowflake_reserved_worker_ids),
				 errdetail("%s.", reserved_ids->error),
				 errhint("List worker IDs and ranges separated by commas, as in '1000-1023, 7'.")));
	for (i = 0; i < reserved_ids->nranges; i++)
		if (reserved_ids->hi[i] >= (INT64CONST(1) << local_bits))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reserved worker ID %d does not fit in %d worker bits",
							reserved_ids->hi[i], local_bits),
					 errhint("Reserve worker IDs from 0 to %d in snowflake.reserved_worker_ids.",
							 (1 << local_bits) - 1)));
	if (snowflake_first_worker_id < 0)
		return;
	for (id = first; id <= last; id++)
		if (local_id_reserved(id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("snowflake.worker_id pins slot " INT64_FORMAT " onto worker ID " INT64_FORMAT ", which snowflake.reserved_worker_ids reserves",
							id - first, id),
					 errdetail("snowflake.worker_id = %d and %d slots pin worker IDs " INT64_FORMAT " to " INT64_FORMAT "; reserved: %s.",
							   snowflake_first_worker_id, snowflake_slot_count(),
							   first, last, snowflake_reserved_worker_ids),
					 errhint("Reserved worker IDs are never used for live minting: pin worker IDs outside them, or reserve others.")));
}

/* One call per setting, in the order of the documentation; long, not deep. */
static void
define_gucs(void)
{
	/*
	 * Settings fixed at server start can only be defined while preloading;
	 * loaded later (decoding only), they are read when the library loads.
	 */
	GucContext	fixed = process_shared_preload_libraries_in_progress ?
		PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomIntVariable("snowflake.worker_slots",
							"Sequence slots, and so worker IDs, this server holds.",
							"Each slot mints up to 2^sequence_bits IDs per millisecond.",
							&snowflake_worker_slots,
							8, 1, 1024,
							fixed, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.worker_id",
							"Worker ID the first slot leases; the others lease the next IDs.",
							"-1 leases free worker IDs automatically.",
							&snowflake_first_worker_id,
							-1, -1, (1 << 20) - 1,
							fixed, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("snowflake.epoch",
							   "Epoch of the cluster's ID layout.",
							   "A timestamp with time zone; fixed at server start.",
							   &snowflake_epoch,
							   "2024-01-01 00:00:00+00",
							   fixed, 0,
							   check_epoch, assign_epoch, NULL);
	DefineCustomIntVariable("snowflake.worker_bits",
							"Bits of the worker field in the cluster's ID layout.",
							"Region bits, if any, are the top bits of this field.",
							&snowflake_worker_bits,
							10, PG_INT32_MIN, PG_INT32_MAX,
							fixed, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.sequence_bits",
							"Bits of the sequence field in the cluster's ID layout.",
							"The time field gets the rest of 63 bits.",
							&snowflake_sequence_bits,
							12, PG_INT32_MIN, PG_INT32_MAX,
							fixed, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.region_bits",
							"Bits at the top of the worker field that hold the region.",
							NULL,
							&snowflake_region_bits,
							0, PG_INT32_MIN, PG_INT32_MAX,
							fixed, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.region",
							"This server's region, placed in the region bits.",
							NULL,
							&snowflake_region,
							0, PG_INT32_MIN, PG_INT32_MAX,
							fixed, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.max_clock_wait",
							"Largest backward clock step that minting waits out.",
							"A larger step refuses minting until the clock has caught up.",
							&snowflake_max_clock_wait,
							20, 0, 10000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.max_batch",
							"Largest count snowflake_batch() accepts.",
							NULL,
							&snowflake_max_batch,
							1000000, 1, 100000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("snowflake.clock_borrow",
							 "After a backward clock step, first use the sequence numbers left in the last minted millisecond.",
							 "Then wait or refuse as snowflake.max_clock_wait says.",
							 &snowflake_clock_borrow,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("snowflake.clock_step_policy",
							 "What minting does when the clock steps back further than snowflake.max_clock_wait.",
							 "refuse: refuse (SQLSTATE SF001) until the clock has caught up. spare: go on minting under a spare worker ID, above what any holder of it minted; IDs then do not increase across the step.",
							 &snowflake_clock_step_policy,
							 SNOWFLAKE_STEP_REFUSE,
							 clock_step_policy_options,
							 fixed, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.spare_worker_ids",
							"Spare worker IDs the lease keeper holds besides the slots' ones, with snowflake.clock_step_policy = spare.",
							"Each is a slot that mints only while the clock is behind the highest minted millisecond by more than snowflake.max_clock_wait.",
							&snowflake_spare_worker_ids,
							1, 1, 64,
							fixed, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.high_water_horizon",
							"How far ahead of the clock the durable high-water mark runs.",
							"After an immediate shutdown, a crash or a promotion, minting waits until the clock passes the mark, at most this long when the clock is right; a clean shutdown stores the mark at the last minted millisecond.",
							&snowflake_high_water_horizon,
							1000, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.idle_after",
							"How long without minting before the server counts as idle.",
							"An idle server advances no high-water mark and, with an embedded coordinator, renews no lease, so it writes no WAL; the first mint after it pays one commit. 0: never idle.",
							&snowflake_idle_after,
							30000, 0, 86400000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("snowflake.database",
							   "Database where the background worker keeps its state.",
							   "The worker creates schema snowflake_state there.",
							   &snowflake_database,
							   "postgres",
							   fixed, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("snowflake.coordinator",
							   "Connection string of the coordinator that leases worker IDs to a fleet.",
							   "Empty: the coordination table lives in snowflake.database of this server.",
							   &snowflake_coordinator,
							   "",
							   fixed, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.lease_ttl",
							"How long a worker ID lease lasts unless renewed.",
							NULL,
							&snowflake_lease_ttl,
							30000, 1000, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.lease_renew_interval",
							"How often worker ID leases are renewed.",
							"Keep it below snowflake.lease_ttl minus snowflake.fencing_margin.",
							&snowflake_lease_renew_interval,
							10000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.fencing_margin",
							"How long before its lease expires a slot stops minting unless renewed.",
							"It covers the difference in clock rates between this server and the coordinator.",
							&snowflake_fencing_margin,
							5000, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("snowflake.reserved_worker_ids",
							   "Worker IDs never leased for live minting, kept for backfilling history.",
							   "A list of worker IDs and ranges, such as '1000-1023, 7'; see snowflake_backfill_id().",
							   &snowflake_reserved_worker_ids,
							   "",
							   fixed, GUC_SUPERUSER_ONLY,
							   check_reserved_worker_ids, assign_reserved_worker_ids, NULL);

	/* per-caller counters, snowflake_callers (callers.c) */
	DefineCustomBoolVariable("snowflake.track_callers",
							 "Counts IDs, batches, waits and refusals per database and role.",
							 "Shown by the snowflake_callers view.",
							 &snowflake_track_callers,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("snowflake.max_callers",
							"Largest number of (database, role) pairs snowflake_callers keeps apart.",
							"Callers beyond it are counted together in a row with NULL database and role.",
							&snowflake_max_callers,
							1000, 10, 100000,
							fixed, 0,
							NULL, NULL, NULL);

	/* the lease history on the coordinator (lease_table.c) */
	DefineCustomIntVariable("snowflake.lease_history_retention",
							"How long ended leases stay in snowflake_state.lease_history.",
							"The lease keeper deletes older ones when it connects; 0 keeps them for ever.",
							&snowflake_lease_history_retention,
							30 * 86400, 0, PG_INT32_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	/* the duplicate canary (canary_ring.c, canary.c) */
	DefineCustomIntVariable("snowflake.canary_every",
							"Samples about one minted ID in this many for the duplicate canary.",
							"The same IDs are sampled on every server; the lease keeper sends them to the coordinator, where an ID sampled twice means a duplicate.  0 turns sampling off.",
							&snowflake_canary_every,
							10000, 0, PG_INT32_MAX,
							PGC_SIGHUP, 0,
							NULL, assign_canary_every, NULL);
	DefineCustomIntVariable("snowflake.canary_retention",
							"How long the duplicate canary's samples stay on the coordinator.",
							"The lease keeper deletes older ones about once a minute; 0 keeps them for ever.",
							&snowflake_canary_retention,
							3600, 0, PG_INT32_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("snowflake");
}

/* Why the configured layout is invalid, or NULL. */
static char *layout_error = NULL;

static void
layout_invalid(const char *fmt,...) pg_attribute_printf(1, 2);

static void
layout_invalid(const char *fmt,...)
{
	va_list		args;
	char		buf[512];

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	if (layout_error == NULL)
		layout_error = MemoryContextStrdup(TopMemoryContext, buf);
}

static void
check_range(const char *name, int value, int min, int max)
{
	if (value < min || value > max)
		layout_invalid("%s = %d is outside the valid range %d to %d.",
					   name, value, min, max);
}

/* Build the cluster layout from the GUCs; sets layout_error if invalid. */
static void
build_cluster_layout(void)
{
	SnowflakeLayout *layout = &snowflake_cluster_layout;
	const char *why;

	check_range("snowflake.worker_bits", snowflake_worker_bits, 1, 22);
	check_range("snowflake.sequence_bits", snowflake_sequence_bits, 1, 22);
	check_range("snowflake.region_bits", snowflake_region_bits, 0, snowflake_worker_bits - 1);
	check_range("snowflake.region", snowflake_region, 0, PG_INT32_MAX);
	if (epoch_unix_ms == PG_INT64_MIN)
		layout_invalid("snowflake.epoch = '%s' is not a finite timestamp with time zone in whole milliseconds, such as '2024-01-01 00:00:00+00'.",
					   snowflake_epoch);
	if (layout_error != NULL)
		return;

	memset(layout, 0, sizeof(*layout));
	strlcpy(layout->name, "snowflake", sizeof(layout->name));
	layout->epoch_ms = epoch_unix_ms;
	layout->unit_ms = 1;
	layout->worker_bits = snowflake_worker_bits;
	layout->sequence_bits = snowflake_sequence_bits;
	layout->region_bits = snowflake_region_bits;
	layout->time_bits = 63 - snowflake_worker_bits - snowflake_sequence_bits;
	layout->sequence_above_worker = false;

	if (layout->time_bits < 20)
		layout_invalid("%d worker bits and %d sequence bits leave %d time bits; at least 20 are needed.",
					   snowflake_worker_bits, snowflake_sequence_bits, layout->time_bits);
	else if (!snowflake_layout_finish(layout, &why))
		layout_invalid("%s", why);
}

/* Raise the error of an invalid configured layout, if any. */
void
snowflake_require_valid_layout(void)
{
	if (layout_error != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid snowflake layout configuration"),
				 errdetail("%s", layout_error),
				 errhint("Correct the snowflake.* settings in postgresql.conf.")));
}

/*
 * Warn from a year ahead that the time field runs out; true if it warned.
 * Minting refuses once it has run out; the server still starts.
 */
bool
snowflake_warn_if_time_runs_out(void)
{
	TimestampTz ends = snowflake_layout_ends_at(&snowflake_cluster_layout);
	TimestampTz now = GetCurrentTimestamp();

	if (ends - now >= INT64CONST(365) * USECS_PER_DAY)
		return false;
	ereport(WARNING,
			(errmsg("snowflake: the time field of the ID layout runs out at %s",
					snowflake_ts_text(ends)),
			 errdetail("After that instant no ID can be minted without overflowing %d time bits.",
					   snowflake_cluster_layout.time_bits),
			 errhint("Plan a migration to a layout with a later epoch or more time bits.")));
	return true;
}

/* Define every setting and build the cluster layout; from _PG_init. */
void
snowflake_define_settings(void)
{
	define_gucs();
	build_cluster_layout();
}

/* Called from _PG_init: refuse a configuration whose IDs do not fit. */
void
snowflake_check_worker_id_config(void)
{
	const SnowflakeLayout *layout = &snowflake_cluster_layout;
	int			local_bits = layout->worker_bits - layout->region_bits;
	int64		first = snowflake_first_worker_id < 0 ? 0 : snowflake_first_worker_id;
	int64		last = first + snowflake_slot_count() - 1;

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
	if (last >= (INT64CONST(1) << local_bits))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 snowflake_first_worker_id < 0 ?
				 errmsg("%d slots need more worker IDs than %d worker bits hold",
						snowflake_slot_count(), local_bits) :
				 errmsg("worker IDs " INT64_FORMAT " to " INT64_FORMAT " do not fit in %d worker bits",
						first, last, local_bits),
				 errdetail("snowflake.worker_slots = %d slots and %d spare slots each lease a worker ID; snowflake.worker_id = %d.",
						   snowflake_worker_slots,
						   snowflake_slot_count() - snowflake_worker_slots,
						   snowflake_first_worker_id),
				 errhint("Lower snowflake.worker_id, snowflake.worker_slots or snowflake.spare_worker_ids, or give the layout more worker bits.")));
	check_reserved_config(local_bits, first, last);
}
