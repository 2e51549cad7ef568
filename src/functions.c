/*-------------------------------------------------------------------------
 *
 * functions.c
 *		The SQL-callable functions: minting, decoding and encoding, layout
 *		definitions and status.
 *
 * Layouts are looked up by name: the built-in ones in layout.c, the rest in
 * the extension's snowflake_layout table, cached per backend.  A defined
 * layout can be neither changed nor replaced, which is what lets the
 * decoding functions be IMMUTABLE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "generator.h"
#include "layout.h"
#include "lease.h"
#include "snowflake.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(snowflake_nextval);
PG_FUNCTION_INFO_V1(snowflake_batch);
PG_FUNCTION_INFO_V1(snowflake_decode);
PG_FUNCTION_INFO_V1(snowflake_timestamp);
PG_FUNCTION_INFO_V1(snowflake_worker_id);
PG_FUNCTION_INFO_V1(snowflake_sequence);
PG_FUNCTION_INFO_V1(snowflake_encode);
PG_FUNCTION_INFO_V1(snowflake_from_timestamp);
PG_FUNCTION_INFO_V1(snowflake_define_layout);
PG_FUNCTION_INFO_V1(snowflake_status);

/*
 * Layouts from the snowflake_layout table seen by this backend.  Only rows
 * of committed transactions are cached; the whole cache is dropped when the
 * table's relcache entry is invalidated (the extension dropped, the table
 * altered).  Rows cannot be updated or deleted (a trigger refuses).
 */
static HTAB *defined_layouts = NULL;
static Oid	layout_table_oid = InvalidOid;
static bool layout_callback_registered = false;

static void
layout_cache_invalidate(Datum arg, Oid relid)
{
	if (defined_layouts != NULL &&
		(relid == InvalidOid || relid == layout_table_oid))
	{
		hash_destroy(defined_layouts);
		defined_layouts = NULL;
	}
}

/* Namespace of the extension: the schema of the function being called. */
static Oid
extension_namespace(FunctionCallInfo fcinfo)
{
	return get_func_namespace(fcinfo->flinfo->fn_oid);
}

static const char *
extension_schema(FunctionCallInfo fcinfo)
{
	return quote_identifier(get_namespace_name(extension_namespace(fcinfo)));
}

static const SnowflakeLayout *
lookup_defined_layout(FunctionCallInfo fcinfo, const char *name)
{
	SnowflakeLayout *entry;
	bool		found;
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	SnowflakeLayout layout;
	const char *why = NULL;
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;
	TransactionId xmin;
	TimestampTz epoch;
	Interval   *unit;
	int64		unit_us;

	if (strlen(name) >= SNOWFLAKE_LAYOUT_NAME_LEN)
		return NULL;
	if (!layout_callback_registered)
	{
		CacheRegisterRelcacheCallback(layout_cache_invalidate, (Datum) 0);
		layout_callback_registered = true;
	}
	if (defined_layouts == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = SNOWFLAKE_LAYOUT_NAME_LEN;
		ctl.entrysize = sizeof(SnowflakeLayout);
		defined_layouts = hash_create("snowflake layouts", 16, &ctl,
									  HASH_ELEM | HASH_STRINGS);
		layout_table_oid = get_relname_relid("snowflake_layout",
											 extension_namespace(fcinfo));
	}
	entry = hash_search(defined_layouts, name, HASH_FIND, NULL);
	if (entry)
		return entry;

	/*
	 * The columns come back as they are stored and are converted in C, with
	 * the checks snowflake_define_layout() applies: this runs in any
	 * session, under its search_path, so the query uses no operator or
	 * function a schema of the caller's could stand in for (an exact match
	 * such as numeric * integer in a schema on the path wins over
	 * pg_catalog's), and a row inserted by hand cannot wrap or round.
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT epoch, time_unit,"
					 " time_bits, worker_bits, sequence_bits, sequence_above_worker,"
					 " xmin"
					 " FROM %s.snowflake_layout WHERE name OPERATOR(pg_catalog.=) $1",
					 extension_schema(fcinfo));
	args[0] = CStringGetTextDatum(name);

	SPI_connect();
	if (SPI_execute_with_args(sql.data, 1, argtypes, args, NULL, true, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not read snowflake_layout");
	if (SPI_processed == 0)
	{
		SPI_finish();
		return NULL;
	}
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memset(&layout, 0, sizeof(layout));
	strlcpy(layout.name, name, sizeof(layout.name));
	epoch = DatumGetTimestampTz(SPI_getbinval(row, desc, 1, &isnull));
	/* the interval lives in SPI's memory: convert it before SPI_finish */
	unit = DatumGetIntervalP(SPI_getbinval(row, desc, 2, &isnull));
	if (TIMESTAMP_NOT_FINITE(epoch) || epoch % 1000 != 0)
		why = "Its epoch is not a finite timestamp in whole milliseconds.";
	else if (unit->month != 0)
		why = "Its time unit has months, which are not a fixed length.";
	else if (!snowflake_interval_us(unit, &unit_us))
		why = "Its time unit's days and time add up to a number of microseconds outside the range of a bigint.";
	else if (unit_us <= 0 || unit_us % 1000 != 0)
		why = "Its time unit is not a positive, whole number of milliseconds.";
	else
	{
		layout.epoch_ms = epoch / 1000 + SNOWFLAKE_PG_EPOCH_UNIX_MS;
		layout.unit_ms = unit_us / 1000;
	}
	layout.time_bits = DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull));
	layout.worker_bits = DatumGetInt32(SPI_getbinval(row, desc, 4, &isnull));
	layout.sequence_bits = DatumGetInt32(SPI_getbinval(row, desc, 5, &isnull));
	layout.sequence_above_worker = DatumGetBool(SPI_getbinval(row, desc, 6, &isnull));
	xmin = DatumGetTransactionId(SPI_getbinval(row, desc, 7, &isnull));
	SPI_finish();

	if (why != NULL || !snowflake_layout_finish(&layout, &why))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snowflake layout \"%s\" in table snowflake_layout is invalid", name),
				 errdetail("%s", why),
				 errhint("Define layouts with snowflake_define_layout(), which checks them, rather than adding rows to the table.")));

	/* defined by our own transaction: it may yet roll back, so don't cache */
	if (TransactionIdIsCurrentTransactionId(xmin))
	{
		SnowflakeLayout *copy = palloc(sizeof(SnowflakeLayout));

		*copy = layout;
		return copy;
	}

	entry = hash_search(defined_layouts, name, HASH_ENTER, &found);
	*entry = layout;
	return entry;
}

/*
 * The layout named by argument argno: the cluster's own when the argument
 * is absent or NULL, else a built-in or defined layout.  Unknown names are
 * an error (42704).
 */
static const SnowflakeLayout *
get_layout_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;
	const SnowflakeLayout *layout;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
	{
		snowflake_require_valid_layout();
		return &snowflake_cluster_layout;
	}

	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(name, "snowflake") == 0)
		snowflake_require_valid_layout();
	layout = snowflake_builtin_layout(name);
	if (layout == NULL)
		layout = lookup_defined_layout(fcinfo, name);
	if (layout == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("snowflake layout \"%s\" does not exist", name),
				 errhint("The built-in layouts are snowflake, twitter, discord, instagram, sonyflake and pgedge; snowflake_define_layout() adds others.")));
	return layout;
}

/*
 * The last ID this session got from snowflake_nextval() or snowflake_batch().
 * Each mint is above every ID the session minted before, but a batch hands
 * out its runs one row at a time, and other minting may come between two of
 * its rows (a cursor, another function in the same target list): the rest
 * of its run is then below what the session already got.
 */
static int64 session_last_id = -1;

Datum
snowflake_nextval(PG_FUNCTION_ARGS)
{
	int64		id;

	snowflake_mint(1, &id);
	session_last_id = id;
	PG_RETURN_INT64(id);
}

/* Between calls of snowflake_batch: IDs left to return, and the current run. */
typedef struct BatchState
{
	int64		left;			/* IDs still to mint */
	int64		next_id;		/* next ID of the current run */
	int			run_left;		/* IDs left in the current run */
} BatchState;

/*
 * snowflake_batch(count): count IDs, strictly increasing.  Value-per-call,
 * like generate_series: the IDs are minted in runs (up to the rest of a
 * slot's millisecond at once) and returned one by one.  A run overtaken by
 * other minting in this session is dropped and the rest minted anew, so the
 * IDs the session gets, in the order it gets them, keep increasing.  (A plan
 * that collects the rows first, as a function in FROM does, mints them all
 * before returning any.)
 */
Datum
snowflake_batch(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	BatchState *state;

	if (SRF_IS_FIRSTCALL())
	{
		int32		count = PG_GETARG_INT32(0);
		MemoryContext oldcontext;

		if (count < 1 || count > snowflake_max_batch)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("snowflake_batch count %d is out of range", count),
					 errdetail("The count must be between 1 and snowflake.max_batch = %d.",
							   snowflake_max_batch),
					 errhint("Ask for several smaller batches.")));
		snowflake_require_preload();

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		state = palloc0(sizeof(BatchState));
		state->left = count;
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (BatchState *) funcctx->user_fctx;

	/* the session got a later ID since this run was minted: drop the run */
	if (unlikely(state->run_left > 0 && state->next_id <= session_last_id))
	{
		state->left += state->run_left;
		state->run_left = 0;
	}
	if (state->run_left == 0)
	{
		if (state->left == 0)
			SRF_RETURN_DONE(funcctx);
		state->run_left = snowflake_mint((int) Min(state->left, PG_INT32_MAX),
										 &state->next_id);
		state->left -= state->run_left;
	}
	state->run_left--;
	session_last_id = state->next_id++;
	SRF_RETURN_NEXT(funcctx, Int64GetDatum(session_last_id));
}

Datum
snowflake_decode(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int32		region;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	layout = get_layout_arg(fcinfo, 1);
	snowflake_decode_id(layout, PG_GETARG_INT64(0), &f);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	values[0] = TimestampTzGetDatum(snowflake_timestamp_from_units(layout, f.units));
	values[1] = Int32GetDatum(f.worker_id);
	values[2] = Int32GetDatum(f.sequence);
	region = snowflake_region_of(layout, f.worker_id);
	if (region < 0)
		nulls[3] = true;
	else
		values[3] = Int32GetDatum(region);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Decode argument 0 with the layout of argument 1; false if the ID is NULL. */
static bool
decode_arg(FunctionCallInfo fcinfo, const SnowflakeLayout **layout,
		   SnowflakeFields *f)
{
	if (PG_ARGISNULL(0))
		return false;
	*layout = get_layout_arg(fcinfo, 1);
	snowflake_decode_id(*layout, PG_GETARG_INT64(0), f);
	return true;
}

Datum
snowflake_timestamp(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (!decode_arg(fcinfo, &layout, &f))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(snowflake_timestamp_from_units(layout, f.units));
}

Datum
snowflake_worker_id(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (!decode_arg(fcinfo, &layout, &f))
		PG_RETURN_NULL();
	PG_RETURN_INT32(f.worker_id);
}

Datum
snowflake_sequence(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (!decode_arg(fcinfo, &layout, &f))
		PG_RETURN_NULL();
	PG_RETURN_INT32(f.sequence);
}

Datum
snowflake_encode(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	layout = get_layout_arg(fcinfo, 3);
	f.units = snowflake_units_from_timestamp(layout, PG_GETARG_TIMESTAMPTZ(0));
	f.worker_id = PG_GETARG_INT32(1);
	f.sequence = PG_GETARG_INT32(2);
	PG_RETURN_INT64(snowflake_encode_fields(layout, &f));
}

Datum
snowflake_from_timestamp(PG_FUNCTION_ARGS)
{
	const SnowflakeLayout *layout;
	SnowflakeFields f;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	layout = get_layout_arg(fcinfo, 1);
	f.units = snowflake_units_from_timestamp(layout, PG_GETARG_TIMESTAMPTZ(0));
	f.worker_id = 0;
	f.sequence = 0;
	PG_RETURN_INT64(snowflake_encode_fields(layout, &f));
}

static void
invalid_layout_argument(const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", message),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("See the arguments of snowflake_define_layout() in the documentation.")));
}

/*
 * snowflake_define_layout(name, epoch, time_bits, worker_bits,
 *						   sequence_bits, time_unit, sequence_above_worker)
 */
Datum
snowflake_define_layout(PG_FUNCTION_ARGS)
{
	SnowflakeLayout layout;
	char	   *name;
	TimestampTz epoch;
	Interval   *unit;
	int64		unit_us;
	const char *why;
	StringInfoData sql;
	const char *schema = extension_schema(fcinfo);
	Oid			table_oid;
	Oid			argtypes[7] = {TEXTOID, TIMESTAMPTZOID, INT4OID, INT4OID,
	INT4OID, INTERVALOID, BOOLOID};
	Datum		args[7];
	int			i;

	/* Only a superuser or the extension's owner (who owns the table). */
	table_oid = get_relname_relid("snowflake_layout", extension_namespace(fcinfo));
	if (!OidIsValid(table_oid))
		elog(ERROR, "table snowflake_layout of extension snowflake is missing");
#if PG_VERSION_NUM >= 160000
	if (!object_ownercheck(RelationRelationId, table_oid, GetUserId()))
#else
	if (!pg_class_ownercheck(table_oid, GetUserId()))
#endif
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to define a snowflake layout"),
				 errhint("Only a superuser or the owner of the snowflake extension may define layouts.")));

	for (i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("snowflake_define_layout arguments must not be NULL"),
					 errhint("Pass every argument, or leave out the ones with defaults.")));

	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	epoch = PG_GETARG_TIMESTAMPTZ(1);
	unit = PG_GETARG_INTERVAL_P(5);

	if (name[0] == '\0' || strlen(name) >= SNOWFLAKE_LAYOUT_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snowflake layout name must have 1 to %d characters",
						SNOWFLAKE_LAYOUT_NAME_LEN - 1),
				 errhint("Choose a shorter name.")));
	if (snowflake_is_builtin_layout_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("snowflake layout \"%s\" already exists", name),
				 errdetail("\"%s\" is a built-in layout.", name),
				 errhint("Choose another name.")));
	if (TIMESTAMP_NOT_FINITE(epoch) || epoch % 1000 != 0)
		invalid_layout_argument("snowflake layout epoch must be a finite timestamp in whole milliseconds",
								NULL);
	if (unit->month != 0)
		invalid_layout_argument("snowflake layout time unit must be a positive, whole number of milliseconds",
								"Months and years are not a fixed length; use days, hours, seconds or milliseconds.");
	/* 22008, as PostgreSQL's own interval arithmetic reports an overflow */
	if (!snowflake_interval_us(unit, &unit_us))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake layout time unit is out of range"),
				 errdetail("Its days and time add up to a number of microseconds outside the range of a bigint."),
				 errhint("Choose a positive unit short enough for the layout's whole time range to fit in the timestamps PostgreSQL can represent.")));
	if (unit_us <= 0 || unit_us % 1000 != 0)
		invalid_layout_argument("snowflake layout time unit must be a positive, whole number of milliseconds",
								NULL);

	memset(&layout, 0, sizeof(layout));
	strlcpy(layout.name, name, sizeof(layout.name));
	layout.epoch_ms = epoch / 1000 + SNOWFLAKE_PG_EPOCH_UNIX_MS;
	layout.unit_ms = unit_us / 1000;
	layout.time_bits = PG_GETARG_INT32(2);
	layout.worker_bits = PG_GETARG_INT32(3);
	layout.sequence_bits = PG_GETARG_INT32(4);
	layout.sequence_above_worker = PG_GETARG_BOOL(6);
	if (!snowflake_layout_finish(&layout, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid snowflake layout \"%s\": %d time, %d worker and %d sequence bits",
						name, layout.time_bits, layout.worker_bits,
						layout.sequence_bits),
				 errdetail("%s", why),
				 errhint("See the arguments of snowflake_define_layout() in the documentation.")));

	SPI_connect();

	initStringInfo(&sql);
	/* the caller's search_path must not pick the operator: see lookup_defined_layout() */
	appendStringInfo(&sql,
					 "SELECT 1 FROM %s.snowflake_layout WHERE name OPERATOR(pg_catalog.=) $1",
					 schema);
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args(sql.data, 1, argtypes, args, NULL, false, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not read snowflake_layout");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("snowflake layout \"%s\" already exists", name),
				 errdetail("A defined layout cannot be changed, since IDs already decoded with it would change meaning."),
				 errhint("Choose another name.")));

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s.snowflake_layout (name, epoch, time_bits,"
					 " worker_bits, sequence_bits, time_unit, sequence_above_worker)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7)", schema);
	for (i = 0; i < 7; i++)
		args[i] = PG_GETARG_DATUM(i);
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args(sql.data, 7, argtypes, args, NULL, false, 0)
		!= SPI_OK_INSERT)
		elog(ERROR, "could not insert into snowflake_layout");
	SPI_finish();

	PG_RETURN_VOID();
}

static Datum
timestamp_of_ms(int64 ms)
{
	return TimestampTzGetDatum(snowflake_timestamp_from_units(&snowflake_cluster_layout, ms));
}

static const char *
clock_state_name(SnowflakeClockState state)
{
	switch (state)
	{
		case SNOWFLAKE_CLOCK_OK:
			return "ok";
		case SNOWFLAKE_CLOCK_BEHIND:
			return "behind";
		case SNOWFLAKE_CLOCK_UNKNOWN:
			break;
	}
	return "unknown";
}

static uint64
sum_counters(pg_atomic_uint64 *counters)
{
	uint64		total = 0;
	int			i;

	for (i = 0; i < SNOWFLAKE_N_CAUSES; i++)
		total += pg_atomic_read_u64(&counters[i]);
	return total;
}

#define Uint64Datum(v) Int64GetDatum((int64) (v))

Datum
snowflake_status(PG_FUNCTION_ARGS)
{
#define STATUS_COLS 22
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SnowflakeShared *sh;
	uint64		seq_max = (UINT64CONST(1) << snowflake_cluster_layout.sequence_bits) - 1;
	int64		mark;
	SnowflakeClockState clock_state;
	TimestampTz wall_now;
	int64		mono_now;
	int			i;

	snowflake_require_preload();
	sh = snowflake_shared;
	InitMaterializedSRF(fcinfo, 0);
	wall_now = GetCurrentTimestamp();
	mono_now = snowflake_clock_ns(CLOCK_MONOTONIC) / 1000000;

	mark = (int64) pg_atomic_read_u64(&sh->hwm_ms);
	SpinLockAcquire(&sh->guard_mutex);
	clock_state = sh->clock_state;
	SpinLockRelease(&sh->guard_mutex);

	for (i = 0; i < sh->nslots; i++)
	{
		SnowflakeSlotData *s = &sh->slots[i].d;
		Datum		values[STATUS_COLS];
		bool		nulls[STATUS_COLS];
		uint64		state = pg_atomic_read_u64(&s->state);
		uint64		issued = pg_atomic_read_u64(&s->ids_before);
		SnowflakeLeaseInfo lease;
		uint64		deadline;
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		if (state != SNOWFLAKE_SLOT_EMPTY)
			issued += (state & seq_max) + 1;

		SpinLockAcquire(&sh->lease_mutex);
		lease = *snowflake_lease_info(i);
		SpinLockRelease(&sh->lease_mutex);
		deadline = pg_atomic_read_u64(&s->deadline_ms);

		values[c++] = Int32GetDatum(i);
		if (lease.worker_id < 0)
			nulls[c++] = true;
		else
			values[c++] = Int32GetDatum(lease.worker_id);
		/* a lease the keeper still shows as held may have just run out */
		if (lease.state == SNOWFLAKE_LEASE_HELD && deadline != 0 &&
			(uint64) mono_now >= deadline)
			lease.state = SNOWFLAKE_LEASE_EXPIRED;
		values[c++] = CStringGetTextDatum(snowflake_lease_state_name(lease.state));
		if (lease.expires_at == 0)
			nulls[c++] = true;
		else
			values[c++] = TimestampTzGetDatum(lease.expires_at);
		if (deadline == 0)
			nulls[c++] = true;
		else
			values[c++] = TimestampTzGetDatum(wall_now +
											  ((int64) deadline - mono_now) * 1000);
		if (state == SNOWFLAKE_SLOT_EMPTY)
			nulls[c++] = true;
		else
			values[c++] = timestamp_of_ms((int64) (state >> snowflake_cluster_layout.sequence_bits));
		if (mark == 0)
			nulls[c++] = true;
		else
			values[c++] = timestamp_of_ms(mark);
		values[c++] = Uint64Datum(issued);
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->ms_saturated));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->clock_steps_back));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->max_regression_ms));
		values[c++] = Uint64Datum(sum_counters(s->waits));
		values[c++] = Uint64Datum(sum_counters(s->refusals));
		values[c++] = TimestampTzGetDatum(snowflake_layout_ends_at(&snowflake_cluster_layout));
		values[c++] = Int32GetDatum((int32) pg_atomic_read_u32(&s->sessions));
		values[c++] = CStringGetTextDatum(clock_state_name(clock_state));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&sh->clock_steps_forward));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->waits[SNOWFLAKE_CAUSE_CLOCK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->waits[SNOWFLAKE_CAUSE_MARK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->refusals[SNOWFLAKE_CAUSE_CLOCK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->refusals[SNOWFLAKE_CAUSE_MARK]));
		values[c++] = Uint64Datum(pg_atomic_read_u64(&s->refusals[SNOWFLAKE_CAUSE_OTHER]));
		Assert(c == STATUS_COLS);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
