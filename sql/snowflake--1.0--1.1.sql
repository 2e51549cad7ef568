/* snowflake--1.0--1.1.sql */

\echo Use "ALTER EXTENSION snowflake UPDATE TO '1.1'" to load this file. \quit

-- snowflake_status gains columns: ms_minted, saturation_ratio,
-- ids_elsewhere, last_renewal_at, renewal_latency_ms, fencing_left_ms, the
-- clock's synchronisation and the lease keeper's last problem.
DROP VIEW snowflake_status;
DROP FUNCTION snowflake_status();
CREATE FUNCTION snowflake_status(
	OUT slot integer,
	OUT worker_id integer,
	OUT lease_state text,
	OUT lease_expires_at timestamptz,
	OUT fencing_deadline timestamptz,
	OUT last_timestamp timestamptz,
	OUT high_water_mark timestamptz,
	OUT ids_issued bigint,
	OUT ms_saturated bigint,
	OUT clock_regressions bigint,
	OUT max_regression_ms bigint,
	OUT waits bigint,
	OUT refusals bigint,
	OUT time_field_ends_at timestamptz,
	OUT sessions integer,
	OUT clock_state text,
	OUT clock_steps_forward bigint,
	OUT waits_clock bigint,
	OUT waits_high_water bigint,
	OUT refusals_clock bigint,
	OUT refusals_high_water bigint,
	OUT refusals_other bigint,
	OUT ms_minted bigint,
	OUT saturation_ratio double precision,
	OUT ids_elsewhere bigint,
	OUT last_renewal_at timestamptz,
	OUT renewal_latency_ms double precision,
	OUT fencing_left_ms bigint,
	OUT clock_synchronized boolean,
	OUT clock_est_error_ms double precision,
	OUT clock_max_error_ms double precision,
	OUT lease_error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'snowflake_status_1_1'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE VIEW snowflake_status AS SELECT * FROM snowflake_status();
GRANT SELECT ON snowflake_status TO PUBLIC;

-- Observability (1.1): callers and the fleet

CREATE FUNCTION snowflake_callers(
	OUT database text,
	OUT role text,
	OUT ids bigint,
	OUT batches bigint,
	OUT waits bigint,
	OUT refusals bigint,
	OUT since timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'snowflake_callers'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION snowflake_callers() IS
	'IDs, batches, waits and refusals per database and role since the last reset';

CREATE VIEW snowflake_callers AS SELECT * FROM snowflake_callers();
GRANT SELECT ON snowflake_callers TO PUBLIC;

CREATE FUNCTION snowflake_callers_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'snowflake_callers_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION snowflake_callers_reset() FROM PUBLIC;

-- Every holder of worker IDs in this database's coordination table (the
-- coordinator's, or the embedded one in snowflake.database): what it holds,
-- its last renewal, and its wall clock against this server's and against
-- the median of the live holders.  Reads snowflake_state.worker_lease as
-- the extension's owner; for pg_monitor and superusers.
CREATE FUNCTION snowflake_fleet(
	OUT holder_system_id text,
	OUT holder_host text,
	OUT holder_port integer,
	OUT holder_cluster_name text,
	OUT holder_pid integer,
	OUT live boolean,
	OUT worker_ids integer[],
	OUT last_renewal_at timestamptz,
	OUT expires_at timestamptz,
	OUT renewal_latency_ms double precision,
	OUT holder_clock timestamptz,
	OUT clock_offset_ms double precision,
	OUT skew_ms double precision)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fleet$
BEGIN
	IF to_regclass('snowflake_state.worker_lease') IS NULL THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_attribute
				   WHERE attrelid = 'snowflake_state.worker_lease'::regclass
					 AND attname = 'holder_clock' AND NOT attisdropped) THEN
		-- a table no server has added the clock report to yet
		RETURN QUERY EXECUTE $q$
			SELECT l.holder_system_id, l.holder_host, l.holder_port,
				   l.holder_cluster_name, l.holder_pid,
				   bool_or(l.expires_at > now()),
				   array_agg(l.worker_id ORDER BY l.worker_id),
				   max(l.renewed_at), max(l.expires_at),
				   NULL::float8, NULL::timestamptz, NULL::float8, NULL::float8
			FROM snowflake_state.worker_lease l
			WHERE l.released_at IS NULL
			GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 5$q$;
		RETURN;
	END IF;
	RETURN QUERY EXECUTE $q$
		WITH latest AS (
			SELECT DISTINCT ON (l.holder_system_id, l.holder_host, l.holder_port,
								l.holder_cluster_name, l.holder_pid)
				   l.holder_system_id, l.holder_host, l.holder_port,
				   l.holder_cluster_name, l.holder_pid, l.renew_latency_ms,
				   l.holder_clock,
				   extract(epoch FROM l.holder_clock - l.renewed_at) * 1000
					 + coalesce(l.renew_latency_ms, 0) / 2 AS clock_offset_ms
			FROM snowflake_state.worker_lease l
			WHERE l.released_at IS NULL
			ORDER BY l.holder_system_id, l.holder_host, l.holder_port,
					 l.holder_cluster_name, l.holder_pid, l.renewed_at DESC
		), holders AS (
			SELECT l.holder_system_id, l.holder_host, l.holder_port,
				   l.holder_cluster_name, l.holder_pid,
				   bool_or(l.expires_at > now()) AS live,
				   array_agg(l.worker_id ORDER BY l.worker_id) AS worker_ids,
				   max(l.renewed_at) AS last_renewal_at,
				   max(l.expires_at) AS expires_at
			FROM snowflake_state.worker_lease l
			WHERE l.released_at IS NULL
			GROUP BY 1, 2, 3, 4, 5
		), joined AS (
			SELECT h.*, x.renew_latency_ms, x.holder_clock, x.clock_offset_ms
			FROM holders h JOIN latest x USING (holder_system_id, holder_host,
												 holder_port, holder_cluster_name,
												 holder_pid)
		)
		SELECT j.holder_system_id, j.holder_host, j.holder_port,
			   j.holder_cluster_name, j.holder_pid, j.live, j.worker_ids,
			   j.last_renewal_at, j.expires_at, j.renew_latency_ms,
			   j.holder_clock, j.clock_offset_ms,
			   j.clock_offset_ms - (SELECT percentile_cont(0.5) WITHIN GROUP
										(ORDER BY m.clock_offset_ms)
									FROM joined m WHERE m.live)
		FROM joined j
		ORDER BY 1, 2, 3, 5$q$;
END
$fleet$;
REVOKE EXECUTE ON FUNCTION snowflake_fleet() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION snowflake_fleet() TO pg_monitor;
COMMENT ON FUNCTION snowflake_fleet() IS
	'Holders of worker IDs in this database''s coordination table, with their renewal latency and clock skew';

CREATE VIEW snowflake_fleet AS SELECT * FROM snowflake_fleet();
REVOKE ALL ON snowflake_fleet FROM PUBLIC;
GRANT SELECT ON snowflake_fleet TO pg_monitor;
