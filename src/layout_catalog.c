/*-------------------------------------------------------------------------
 *
 * layout_catalog.c
 *		Layouts by name: the built-in ones (layout.c) and those defined with
 *		snowflake_define_layout() in the extension's snowflake_layout table,
 *		cached per backend.
 *
 * A defined layout can be neither changed nor replaced (a trigger refuses),
 * which is what lets the decoding functions be IMMUTABLE.  The catalog is
 * read through SPI in the calling session; its statements name pg_catalog's
 * operators, so a session's search_path cannot change what they do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "config.h"
#include "layout.h"
#include "layout_catalog.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(snowflake_define_layout);

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

/*
 * A defined layout by name, from the cache or the catalog (NULL if there is
 * none).  Long because each column read back is checked again as
 * snowflake_define_layout() checked it: a row is user data.
 */
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
const SnowflakeLayout *
snowflake_layout_arg(FunctionCallInfo fcinfo, int argno)
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
 *
 * Long because it checks its arguments one by one, each with its own
 * error, before the one INSERT.
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

