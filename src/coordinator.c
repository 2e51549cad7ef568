/*-------------------------------------------------------------------------
 *
 * coordinator.c
 *		Running statements against the coordination table.
 *
 * Embedded (snowflake.coordinator empty): the table lives in the database
 * the lease keeper is connected to (snowflake.database), and each statement
 * runs through SPI in a transaction of its own.  Session-level advisory
 * locks then belong to the lease keeper's own backend.
 *
 * Fleet: the lease keeper holds one libpq connection to the coordinator
 * named by snowflake.coordinator.  Every wait on the socket goes through
 * the latch, with a time limit, so a coordinator that hangs is treated like
 * one that is down: the connection is dropped and made again later.
 *
 * Every session runs with search_path = pg_catalog, pg_temp: embedded, the
 * lease keeper's own session is pinned so (worker.c); on a coordinator,
 * the connection asks for it in its startup packet, which no database or
 * role setting outranks, so no object a coordinator role creates can stand
 * in for one the statements name.
 *
 * Parameters are passed as text and cast in the SQL; results come back as
 * text, allocated in the caller's memory context.  Nothing here raises an
 * error: every function returns false and fills "err" (COORD_ERRLEN bytes)
 * instead, so the caller decides what a failure means for its leases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "config.h"
#include "coordinator.h"
#include "worker_session.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"


/* How long one connection attempt or one statement may take, in ms. */
#define COORD_TIMEOUT_MS	5000

static PGconn *conn = NULL;
static bool fresh = false;		/* a new session: locks must be taken again */
static int	previous_pid = 0;	/* backend PID of the last session dropped */
static bool embedded_started = false;

bool
snowflake_coord_embedded(void)
{
	return snowflake_coordinator == NULL || snowflake_coordinator[0] == '\0';
}

/* libpq's messages end with a newline; keep one line. */
static void
set_err(char *err, const char *prefix, const char *msg)
{
	size_t		len;

	char	   *p;

	snprintf(err, COORD_ERRLEN, "%s%s", prefix, msg ? msg : "");
	/* one line: libpq continues its messages on indented lines */
	for (p = err; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	len = strlen(err);
	while (len > 0 && err[len - 1] == ' ')
		err[--len] = '\0';
}

void
snowflake_coord_disconnect(void)
{
	if (conn != NULL)
	{
		previous_pid = PQbackendPID(conn);
		PQfinish(conn);
	}
	conn = NULL;
}

/*
 * The coordinator's backend PID of the session dropped last, or 0.  A
 * session dropped because it stopped answering may live on, holding its
 * advisory locks, until the coordinator notices.
 */
int
snowflake_coord_previous_pid(void)
{
	return snowflake_coord_embedded() ? 0 : previous_pid;
}

/* Whether there is a session with the coordinator now. */
bool
snowflake_coord_connected(void)
{
	return snowflake_coord_embedded() || (conn != NULL && PQstatus(conn) == CONNECTION_OK);
}

/* True once after each new session with the coordinator. */
bool
snowflake_coord_take_fresh(void)
{
	bool		was = fresh;

	fresh = false;
	return was;
}

static void
ignore_notice(void *arg, const PGresult *res)
{
}

/* Wait until the socket is ready, the deadline passes (false), or the latch. */
static bool
wait_socket(bool for_write, int64 deadline, char *err)
{
	for (;;)
	{
		int64		left = deadline - snowflake_monotonic_ms();
		int			rc;

		if (left <= 0)
		{
			set_err(err, "", "the coordinator did not answer in time");
			return false;
		}
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH |
							   (for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
							   PQsocket(conn), (long) left, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (rc & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			return true;
	}
}

/*
 * Make sure there is a session with the coordinator.  Embedded, the lease
 * keeper's own backend is the session.
 */
bool
snowflake_coord_connect(char *err)
{
	const char *keywords[5];
	const char *values[5];
	int64		deadline;

	if (snowflake_coord_embedded())
	{
		if (!embedded_started)
			fresh = embedded_started = true;
		return true;
	}
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return true;
	snowflake_coord_disconnect();

	/* the connection string comes last, so that its settings win */
	keywords[0] = "application_name";
	values[0] = "snowflake lease keeper";
	keywords[1] = "connect_timeout";
	values[1] = "5";
	keywords[2] = "options";
	values[2] = "-c search_path=pg_catalog,pg_temp";
	keywords[3] = "dbname";
	values[3] = snowflake_coordinator;
	keywords[4] = NULL;
	values[4] = NULL;

	conn = PQconnectStartParams(keywords, values, 1);
	if (conn == NULL)
	{
		set_err(err, "", "out of memory");
		return false;
	}
	deadline = snowflake_monotonic_ms() + COORD_TIMEOUT_MS;
	for (;;)
	{
		PostgresPollingStatusType st;

		if (PQstatus(conn) == CONNECTION_BAD)
			break;
		st = PQconnectPoll(conn);
		if (st == PGRES_POLLING_OK || st == PGRES_POLLING_FAILED)
			break;
		if (!wait_socket(st == PGRES_POLLING_WRITING, deadline, err))
		{
			snowflake_coord_disconnect();
			return false;
		}
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		set_err(err, "", PQerrorMessage(conn));
		snowflake_coord_disconnect();
		return false;
	}
	PQsetNoticeReceiver(conn, ignore_notice, NULL);
	fresh = true;

	/* a statement stuck on the coordinator must not hold the leases up */
	if (!snowflake_coord_exec("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false),"
					" pg_catalog.set_config('statement_timeout', '5s', false),"
					" pg_catalog.set_config('lock_timeout', '2s', false),"
					" pg_catalog.set_config('default_transaction_read_only', 'off', false),"
					" pg_catalog.set_config('idle_in_transaction_session_timeout', '0', false)",
					0, NULL, NULL, err))
	{
		snowflake_coord_disconnect();
		return false;
	}
	return true;
}

static bool
exec_libpq(const char *sql, int nparams, const char *const *params,
		   CoordResult *res, char *err)
{
	int64		deadline = snowflake_monotonic_ms() + COORD_TIMEOUT_MS;
	PGresult   *last = NULL;
	PGresult   *r;
	ExecStatusType st;

	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
	{
		set_err(err, "", PQerrorMessage(conn));
		snowflake_coord_disconnect();
		return false;
	}
	for (;;)
	{
		while (PQisBusy(conn))
		{
			if (!wait_socket(false, deadline, err) || !PQconsumeInput(conn))
			{
				if (conn != NULL && PQstatus(conn) != CONNECTION_OK)
					set_err(err, "", PQerrorMessage(conn));
				if (last)
					PQclear(last);
				snowflake_coord_disconnect();
				return false;
			}
		}
		r = PQgetResult(conn);
		if (r == NULL)
			break;
		if (last)
			PQclear(last);
		last = r;
	}
	if (last == NULL)
	{
		set_err(err, "", PQerrorMessage(conn));
		snowflake_coord_disconnect();
		return false;
	}
	st = PQresultStatus(last);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		set_err(err, "", PQresultErrorMessage(last));
		PQclear(last);
		if (PQstatus(conn) != CONNECTION_OK)
			snowflake_coord_disconnect();
		return false;
	}
	if (res != NULL)
	{
		int			i;
		int			j;

		res->nrows = PQntuples(last);
		res->ncols = PQnfields(last);
		res->values = palloc0(sizeof(char *) * Max(1, res->nrows * res->ncols));
		for (i = 0; i < res->nrows; i++)
			for (j = 0; j < res->ncols; j++)
				if (!PQgetisnull(last, i, j))
					COORD_VALUE(res, i, j) = pstrdup(PQgetvalue(last, i, j));
	}
	PQclear(last);
	return true;
}

static bool
exec_spi(const char *sql, int nparams, const char *const *params,
		 CoordResult *res, char *err)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		Oid		   *types = palloc(sizeof(Oid) * Max(1, nparams));
		Datum	   *args = palloc(sizeof(Datum) * Max(1, nparams));
		char	   *nulls = palloc(Max(1, nparams) + 1);
		int			rc;
		int			i;

		for (i = 0; i < nparams; i++)
		{
			types[i] = TEXTOID;
			args[i] = params[i] ? CStringGetTextDatum(params[i]) : (Datum) 0;
			nulls[i] = params[i] ? ' ' : 'n';
		}
		nulls[nparams] = '\0';

		snowflake_worker_xact_begin(sql);

		rc = SPI_execute_with_args(sql, nparams, types, args, nulls, false, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute_with_args failed: %s",
				 SPI_result_code_string(rc));
		if (res != NULL)
		{
			int			j;

			res->nrows = SPI_tuptable ? (int) SPI_processed : 0;
			res->ncols = SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0;
			res->values = MemoryContextAllocZero(caller,
												 sizeof(char *) * Max(1, res->nrows * res->ncols));
			for (i = 0; i < res->nrows; i++)
				for (j = 0; j < res->ncols; j++)
				{
					char	   *v = SPI_getvalue(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, j + 1);

					if (v != NULL)
						COORD_VALUE(res, i, j) = MemoryContextStrdup(caller, v);
				}
		}
		snowflake_worker_xact_end();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		snowflake_worker_xact_abort();
		set_err(err, "", edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	return ok;
}

/*
 * Run one statement; parameters are text (NULL for SQL NULL) and are cast
 * in the SQL.  "res" may be NULL when the rows do not matter.
 */
bool
snowflake_coord_exec(const char *sql, int nparams, const char *const *params,
		   CoordResult *res, char *err)
{
	if (snowflake_coord_embedded())
		return exec_spi(sql, nparams, params, res, err);
	if (conn == NULL)
	{
		/* a new session is made only by snowflake_coord_connect(), never silently */
		set_err(err, "", "not connected to the coordinator");
		return false;
	}
	return exec_libpq(sql, nparams, params, res, err);
}
