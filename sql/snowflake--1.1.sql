/* snowflake--1.1.sql */

\echo Use "CREATE EXTENSION snowflake" to load this file. \quit

-- Layouts added with snowflake_define_layout(); dumped by pg_dump.
CREATE TABLE snowflake_layout (
	name text PRIMARY KEY,
	epoch timestamptz NOT NULL,
	time_bits integer NOT NULL,
	worker_bits integer NOT NULL,
	sequence_bits integer NOT NULL,
	time_unit interval NOT NULL DEFAULT '1 millisecond',
	sequence_above_worker boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE snowflake_layout IS
	'ID layouts added with snowflake_define_layout(); never changed once defined';
SELECT pg_catalog.pg_extension_config_dump('snowflake_layout', '');
REVOKE ALL ON snowflake_layout FROM PUBLIC;
GRANT SELECT ON snowflake_layout TO PUBLIC;

-- A layout is never changed or removed: expression indexes and IDs already
-- decoded depend on it.
CREATE FUNCTION snowflake_layout_immutable()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	RAISE EXCEPTION 'snowflake layouts cannot be changed or removed'
		USING ERRCODE = 'object_in_use',
		      DETAIL = 'Expression indexes and IDs already decoded depend on a layout staying as it was defined.',
		      HINT = 'Define a layout under a new name with snowflake_define_layout().';
END
$$;
CREATE TRIGGER snowflake_layout_immutable
	BEFORE UPDATE OR DELETE ON snowflake_layout
	FOR EACH ROW EXECUTE FUNCTION snowflake_layout_immutable();
CREATE TRIGGER snowflake_layout_no_truncate
	BEFORE TRUNCATE ON snowflake_layout
	FOR EACH STATEMENT EXECUTE FUNCTION snowflake_layout_immutable();

-- Minting

CREATE FUNCTION snowflake_nextval()
RETURNS bigint
AS 'MODULE_PATHNAME', 'snowflake_nextval'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION snowflake_nextval() IS
	'mints one snowflake ID, above every ID this session got before';

CREATE FUNCTION snowflake_batch(count integer)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'snowflake_batch'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
ROWS 1000;
COMMENT ON FUNCTION snowflake_batch(integer) IS
	'mints count snowflake IDs, strictly increasing';

-- Decoding and encoding

CREATE FUNCTION snowflake_decode(id bigint, layout text DEFAULT NULL,
	OUT ts timestamptz, OUT worker_id integer, OUT sequence integer,
	OUT region integer)
RETURNS record
AS 'MODULE_PATHNAME', 'snowflake_decode'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION snowflake_timestamp(id bigint, layout text DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'snowflake_timestamp'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION snowflake_worker_id(id bigint, layout text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'snowflake_worker_id'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION snowflake_sequence(id bigint, layout text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'snowflake_sequence'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION snowflake_encode(ts timestamptz, worker_id integer,
	sequence integer, layout text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'snowflake_encode'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION snowflake_from_timestamp(ts timestamptz, layout text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'snowflake_from_timestamp'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION snowflake_from_timestamp(timestamptz, text) IS
	'smallest ID any worker can mint at ts: WHERE id >= snowflake_from_timestamp(...)';

CREATE FUNCTION snowflake_define_layout(name text, epoch timestamptz,
	time_bits integer, worker_bits integer, sequence_bits integer,
	time_unit interval DEFAULT '1 millisecond',
	sequence_above_worker boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'snowflake_define_layout'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION snowflake_define_layout(text, timestamptz, integer,
	integer, integer, interval, boolean) FROM PUBLIC;

-- State

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
