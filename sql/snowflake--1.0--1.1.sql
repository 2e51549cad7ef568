/* snowflake--1.0--1.1.sql */

\echo Use "ALTER EXTENSION snowflake UPDATE TO '1.1'" to load this file. \quit

-- snowflake_status: idle_resumes, minting resumed after the server was idle
-- (snowflake.idle_after).  The 1.0 definition keeps working with the 1.1
-- library until this runs: it calls the C function snowflake_status, which
-- returns the 22 columns of 1.0.
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
	OUT idle_resumes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'snowflake_status_1_1'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE VIEW snowflake_status AS SELECT * FROM snowflake_status();
GRANT SELECT ON snowflake_status TO PUBLIC;
