/*-------------------------------------------------------------------------
 *
 * worker_session.c
 *		The database session of a background worker: settings no database
 *		or role setting may change, and the bracket of every transaction.
 *
 * Both workers run as the bootstrap superuser in a database ordinary roles
 * may use, so nothing those roles can set or create may change what the
 * workers execute: every session setting that could (search_path first of
 * all, then the defaults a database or role setting can change) is pinned
 * with PGC_S_OVERRIDE, which no ALTER DATABASE/ROLE ... SET outranks, and
 * every SQL statement the workers run names its objects with their schema
 * (worker_session.h has the schema of their state and the check of its
 * owner).  Each worker transaction goes through
 * snowflake_worker_xact_begin() and _end() (or _abort()), which also
 * enforce statement_timeout: PostgreSQL arms it only for statements from a
 * client, never for SPI in a background worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "worker_session.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

/*
 * Pin every setting of this worker's session that a database or role
 * setting could otherwise change under it (see the file header).
 */
void
snowflake_worker_pin_settings(const char *statement_timeout)
{
	static const char *const pinned[][2] = {
		{"search_path", "pg_catalog, pg_temp"},
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"default_transaction_deferrable", "off"},
		{"idle_in_transaction_session_timeout", "0"},
		{"default_tablespace", ""},
		{"default_table_access_method", "heap"},
		{"check_function_bodies", "on"},
		{"DateStyle", "ISO, YMD"},
		{"IntervalStyle", "postgres"},
		{"TimeZone", "UTC"},
		{"extra_float_digits", "1"},
		{"client_min_messages", "warning"},
		/* the mark and embedded lease rows must be on disk before use */
		{"synchronous_commit", "local"},
		/* a lock held on a state table is a problem to report, not a hang */
		{"lock_timeout", "1s"},
	};
	int			i;

	for (i = 0; i < lengthof(pinned); i++)
		SetConfigOption(pinned[i][0], pinned[i][1], PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", statement_timeout, PGC_SUSET,
					PGC_S_OVERRIDE);
}

/*
 * Start a worker transaction with SPI connected, a snapshot, and
 * statement_timeout armed.  End it with snowflake_worker_xact_end(), or on
 * error with snowflake_worker_xact_abort().
 */
void
snowflake_worker_xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
}

void
snowflake_worker_xact_end(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
snowflake_worker_xact_abort(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
}
