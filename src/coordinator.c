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
static bool read_only_dropped = false;	/* the last session was read-only */

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
		/* an attempt that never had a session does not count */
		if (PQbackendPID(conn) != 0)
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

/* The number of entries of a comma-separated libpq host or port list. */
static int
csv_length(const char *list)
{
	int			n = 1;

	if (list == NULL || list[0] == '\0')
		return 0;
	for (; *list; list++)
		if (*list == ',')
			n++;
	return n;
}

/* Entry i of a comma-separated list, palloc'd ("" when out of range). */
static char *
csv_entry(const char *list, int i)
{
	const char *end;

	if (list == NULL)
		return "";
	while (i-- > 0)
	{
		list = strchr(list, ',');
		if (list == NULL)
			return "";
		list++;
	}
	end = strchr(list, ',');
	return pnstrdup(list, end ? end - list : strlen(list));
}

/*
 * One connection attempt with the given parameters, waiting at most
 * timeout_ms; on success "conn" is the new session.
 */
static bool
connect_once(const char *const *keywords, const char *const *values,
			 int64 timeout_ms, char *err)
{
	int64		deadline;

	conn = PQconnectStartParams(keywords, values, 0);
	if (conn == NULL)
	{
		set_err(err, "", "out of memory");
		return false;
	}
	deadline = snowflake_monotonic_ms() + timeout_ms;
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
			char		who[COORD_ERRLEN];

			snprintf(who, sizeof(who), "the coordinator at %s port %s did not answer in time",
					 PQhost(conn) ? PQhost(conn) : "?", PQport(conn) ? PQport(conn) : "?");
			set_err(err, "", who);
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
	return true;
}

/*
 * Make sure there is a session with the coordinator.  Embedded, the lease
 * keeper's own backend is the session.
 *
 * A connection string may name several hosts (an HA coordinator:
 * "host=a,b,c", see docs/fleet.md).  libpq tries them in turn, but when it
 * is driven asynchronously, as here, it never gives up on a host that
 * accepts the connection and then says nothing (a stalled server, a host
 * gone from the network): each host is therefore tried on its own, with its
 * own time limit (connect_timeout, else COORD_TIMEOUT_MS), starting with the
 * one that worked last.  target_session_attrs defaults to read-write, so a
 * standby (or a primary being demoted) is passed over: lease statements
 * only ever fail there.  A session that turns out read-only anyway (with
 * target_session_attrs=any) is dropped, and its host tried last.
 */
bool
snowflake_coord_connect(char *err)
{
	static int	first_host = 0; /* the host that worked last */
	PQconninfoOption *opts;
	PQconninfoOption *o;
	const char **keywords;
	const char **values;
	const char *hosts = NULL;
	const char *hostaddrs = NULL;
	const char *ports = NULL;
	int64		timeout_ms = COORD_TIMEOUT_MS;
	char	   *msg = NULL;
	int			nhosts;
	int			nopts = 0;
	int			base;
	int			k;
	bool		plain;

	if (snowflake_coord_embedded())
	{
		if (!embedded_started)
			fresh = embedded_started = true;
		return true;
	}
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return true;
	snowflake_coord_disconnect();

	/* a plain database name is a connection string too, as for libpq */
	plain = strchr(snowflake_coordinator, '=') == NULL &&
		strncmp(snowflake_coordinator, "postgres://", 11) != 0 &&
		strncmp(snowflake_coordinator, "postgresql://", 13) != 0;
	opts = PQconninfoParse(plain ? "" : snowflake_coordinator, &msg);
	if (opts == NULL)
	{
		set_err(err, "invalid snowflake.coordinator: ", msg ? msg : "out of memory");
		if (msg)
			PQfreemem(msg);
		return false;
	}
	for (o = opts; o->keyword != NULL; o++)
		nopts++;
	keywords = palloc0(sizeof(char *) * (nopts + 8));
	values = palloc0(sizeof(char *) * (nopts + 8));

	/* defaults first: the connection string's own settings come later and win */
	keywords[0] = "application_name";
	values[0] = SNOWFLAKE_KEEPER_NAME;
	keywords[1] = "options";
	values[1] = "-c search_path=pg_catalog,pg_temp";
	keywords[2] = "target_session_attrs";
	values[2] = "read-write";
	base = 3;
	for (o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			hosts = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddrs = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			ports = o->val;
		else
		{
			if (strcmp(o->keyword, "connect_timeout") == 0 && atoi(o->val) > 0)
				timeout_ms = Max(2, atoi(o->val)) * (int64) 1000;
			keywords[base] = o->keyword;
			values[base] = o->val;
			base++;
		}
	}
	if (plain && snowflake_coordinator[0] != '\0')
	{
		keywords[base] = "dbname";
		values[base] = snowflake_coordinator;
		base++;
	}
	nhosts = Max(1, Max(csv_length(hosts), csv_length(hostaddrs)));
	/* a host found read-only (target_session_attrs=any) is tried last */
	if (read_only_dropped)
		first_host++;
	read_only_dropped = false;
	if (first_host >= nhosts)
		first_host = 0;

	for (k = 0; k < nhosts; k++)
	{
		int			h = (first_host + k) % nhosts;
		int			n = base;

		if (hosts)
		{
			keywords[n] = "host";
			values[n++] = nhosts > 1 ? csv_entry(hosts, h) : hosts;
		}
		if (hostaddrs)
		{
			keywords[n] = "hostaddr";
			values[n++] = nhosts > 1 ? csv_entry(hostaddrs, h) : hostaddrs;
		}
		if (ports)
		{
			keywords[n] = "port";
			values[n++] = csv_length(ports) > 1 ? csv_entry(ports, h) : ports;
		}
		keywords[n] = NULL;
		values[n] = NULL;
		if (connect_once(keywords, values, timeout_ms, err))
		{
			first_host = h;
			break;
		}
	}
	PQconninfoFree(opts);
	if (conn == NULL)
		return false;

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
		const char *state = PQresultErrorField(last, PG_DIAG_SQLSTATE);

		/*
		 * A read-only coordinator (a standby, or a primary being demoted in
		 * a failover) can do nothing for the leases: drop the session, so
		 * that the next attempt looks for the read-write one.  No lease is
		 * given up for it.
		 */
		if (state != NULL && strcmp(state, "25006") == 0)
		{
			set_err(err, "the coordinator is read-only (a failover?): ",
					PQresultErrorMessage(last));
			PQclear(last);
			snowflake_coord_disconnect();
			read_only_dropped = true;
			return false;
		}
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
