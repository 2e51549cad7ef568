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
	OUT ms_minted bigint,
	OUT saturation_ratio double precision,
	OUT ids_elsewhere bigint,
	OUT last_renewal_at timestamptz,
	OUT renewal_latency_ms double precision,
	OUT fencing_left_ms bigint,
	OUT clock_synchronized boolean,
	OUT clock_est_error_ms double precision,
	OUT clock_max_error_ms double precision,
	OUT lease_error text,
	OUT idle_resumes bigint,
	OUT spare boolean,
	OUT ids_on_spares bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'snowflake_status_1_1'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE VIEW snowflake_status AS SELECT * FROM snowflake_status();
GRANT SELECT ON snowflake_status TO PUBLIC;

-- JSON-safe IDs: the snowflake_id type and the 13-character text form

-- A snowflake_id is a bigint's 8 bytes that can never be negative.  It
-- prints as its decimal digits, and to_json/to_jsonb render it as a JSON
-- string (JavaScript's numbers lose precision above 2^53).  It casts to
-- bigint implicitly and without a function, so snowflake_decode() and the
-- other functions that take a bigint take it too; bigint and integer cast to
-- it on assignment (DEFAULT snowflake_nextval(), INSERT), checked for the
-- sign.  Comparison and hashing are the server's own bigint functions, in
-- operator families that also hold the operators against bigint, integer
-- and smallint: "id = 5", "id = bigint_column" and "id > $1" each resolve
-- to one operator and can use an index on the column.
CREATE TYPE snowflake_id;

CREATE FUNCTION snowflake_id_in(cstring) RETURNS snowflake_id
	AS 'MODULE_PATHNAME', 'snowflake_id_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION snowflake_id_out(snowflake_id) RETURNS cstring
	AS 'MODULE_PATHNAME', 'snowflake_id_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION snowflake_id_recv(internal) RETURNS snowflake_id
	AS 'MODULE_PATHNAME', 'snowflake_id_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION snowflake_id_send(snowflake_id) RETURNS bytea
	AS 'MODULE_PATHNAME', 'snowflake_id_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Category N (numeric), not preferred: UNION and COALESCE of a snowflake_id
-- and a bigint give a bigint, as they would for an integer and a bigint.
CREATE TYPE snowflake_id (
	INPUT = snowflake_id_in,
	OUTPUT = snowflake_id_out,
	RECEIVE = snowflake_id_recv,
	SEND = snowflake_id_send,
	INTERNALLENGTH = 8,
	PASSEDBYVALUE,
	ALIGNMENT = double,
	STORAGE = plain,
	CATEGORY = 'N'
);
COMMENT ON TYPE snowflake_id IS
	'a snowflake ID (a non-negative bigint) that JSON renders as a string';

CREATE FUNCTION snowflake_id(bigint) RETURNS snowflake_id
	AS 'MODULE_PATHNAME', 'snowflake_id_from_int8'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION snowflake_id(integer) RETURNS snowflake_id
	AS 'MODULE_PATHNAME', 'snowflake_id_from_int4'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (snowflake_id AS bigint) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (bigint AS snowflake_id) WITH FUNCTION snowflake_id(bigint) AS ASSIGNMENT;
CREATE CAST (integer AS snowflake_id) WITH FUNCTION snowflake_id(integer) AS ASSIGNMENT;

-- Comparison: the server's bigint functions, as the bits are a bigint's
-- snowflake_id against snowflake_id
CREATE FUNCTION snowflake_id_id_eq(snowflake_id, snowflake_id) RETURNS boolean
	AS 'int8eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_id_ne(snowflake_id, snowflake_id) RETURNS boolean
	AS 'int8ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_id_lt(snowflake_id, snowflake_id) RETURNS boolean
	AS 'int8lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_id_le(snowflake_id, snowflake_id) RETURNS boolean
	AS 'int8le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_id_gt(snowflake_id, snowflake_id) RETURNS boolean
	AS 'int8gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_id_ge(snowflake_id, snowflake_id) RETURNS boolean
	AS 'int8ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (FUNCTION = snowflake_id_id_eq, LEFTARG = snowflake_id, RIGHTARG = snowflake_id,
	COMMUTATOR = =, NEGATOR = <>,
	HASHES, MERGES,
	RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (FUNCTION = snowflake_id_id_ne, LEFTARG = snowflake_id, RIGHTARG = snowflake_id,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (FUNCTION = snowflake_id_id_lt, LEFTARG = snowflake_id, RIGHTARG = snowflake_id,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (FUNCTION = snowflake_id_id_le, LEFTARG = snowflake_id, RIGHTARG = snowflake_id,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (FUNCTION = snowflake_id_id_gt, LEFTARG = snowflake_id, RIGHTARG = snowflake_id,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (FUNCTION = snowflake_id_id_ge, LEFTARG = snowflake_id, RIGHTARG = snowflake_id,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE FUNCTION snowflake_id_id_cmp(snowflake_id, snowflake_id) RETURNS integer
	AS 'btint8cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- snowflake_id against bigint
CREATE FUNCTION snowflake_id_int8_eq(snowflake_id, bigint) RETURNS boolean
	AS 'int8eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int8_ne(snowflake_id, bigint) RETURNS boolean
	AS 'int8ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int8_lt(snowflake_id, bigint) RETURNS boolean
	AS 'int8lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int8_le(snowflake_id, bigint) RETURNS boolean
	AS 'int8le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int8_gt(snowflake_id, bigint) RETURNS boolean
	AS 'int8gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int8_ge(snowflake_id, bigint) RETURNS boolean
	AS 'int8ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (FUNCTION = snowflake_id_int8_eq, LEFTARG = snowflake_id, RIGHTARG = bigint,
	COMMUTATOR = =, NEGATOR = <>,
	HASHES, MERGES,
	RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (FUNCTION = snowflake_id_int8_ne, LEFTARG = snowflake_id, RIGHTARG = bigint,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (FUNCTION = snowflake_id_int8_lt, LEFTARG = snowflake_id, RIGHTARG = bigint,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (FUNCTION = snowflake_id_int8_le, LEFTARG = snowflake_id, RIGHTARG = bigint,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (FUNCTION = snowflake_id_int8_gt, LEFTARG = snowflake_id, RIGHTARG = bigint,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (FUNCTION = snowflake_id_int8_ge, LEFTARG = snowflake_id, RIGHTARG = bigint,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE FUNCTION snowflake_id_int8_cmp(snowflake_id, bigint) RETURNS integer
	AS 'btint8cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- bigint against snowflake_id
CREATE FUNCTION snowflake_int8_id_eq(bigint, snowflake_id) RETURNS boolean
	AS 'int8eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int8_id_ne(bigint, snowflake_id) RETURNS boolean
	AS 'int8ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int8_id_lt(bigint, snowflake_id) RETURNS boolean
	AS 'int8lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int8_id_le(bigint, snowflake_id) RETURNS boolean
	AS 'int8le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int8_id_gt(bigint, snowflake_id) RETURNS boolean
	AS 'int8gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int8_id_ge(bigint, snowflake_id) RETURNS boolean
	AS 'int8ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (FUNCTION = snowflake_int8_id_eq, LEFTARG = bigint, RIGHTARG = snowflake_id,
	COMMUTATOR = =, NEGATOR = <>,
	HASHES, MERGES,
	RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (FUNCTION = snowflake_int8_id_ne, LEFTARG = bigint, RIGHTARG = snowflake_id,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (FUNCTION = snowflake_int8_id_lt, LEFTARG = bigint, RIGHTARG = snowflake_id,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (FUNCTION = snowflake_int8_id_le, LEFTARG = bigint, RIGHTARG = snowflake_id,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (FUNCTION = snowflake_int8_id_gt, LEFTARG = bigint, RIGHTARG = snowflake_id,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (FUNCTION = snowflake_int8_id_ge, LEFTARG = bigint, RIGHTARG = snowflake_id,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE FUNCTION snowflake_int8_id_cmp(bigint, snowflake_id) RETURNS integer
	AS 'btint8cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- snowflake_id against integer
CREATE FUNCTION snowflake_id_int4_eq(snowflake_id, integer) RETURNS boolean
	AS 'int84eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int4_ne(snowflake_id, integer) RETURNS boolean
	AS 'int84ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int4_lt(snowflake_id, integer) RETURNS boolean
	AS 'int84lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int4_le(snowflake_id, integer) RETURNS boolean
	AS 'int84le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int4_gt(snowflake_id, integer) RETURNS boolean
	AS 'int84gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int4_ge(snowflake_id, integer) RETURNS boolean
	AS 'int84ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (FUNCTION = snowflake_id_int4_eq, LEFTARG = snowflake_id, RIGHTARG = integer,
	COMMUTATOR = =, NEGATOR = <>,
	HASHES, MERGES,
	RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (FUNCTION = snowflake_id_int4_ne, LEFTARG = snowflake_id, RIGHTARG = integer,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (FUNCTION = snowflake_id_int4_lt, LEFTARG = snowflake_id, RIGHTARG = integer,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (FUNCTION = snowflake_id_int4_le, LEFTARG = snowflake_id, RIGHTARG = integer,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (FUNCTION = snowflake_id_int4_gt, LEFTARG = snowflake_id, RIGHTARG = integer,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (FUNCTION = snowflake_id_int4_ge, LEFTARG = snowflake_id, RIGHTARG = integer,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE FUNCTION snowflake_id_int4_cmp(snowflake_id, integer) RETURNS integer
	AS 'btint84cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- integer against snowflake_id
CREATE FUNCTION snowflake_int4_id_eq(integer, snowflake_id) RETURNS boolean
	AS 'int48eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int4_id_ne(integer, snowflake_id) RETURNS boolean
	AS 'int48ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int4_id_lt(integer, snowflake_id) RETURNS boolean
	AS 'int48lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int4_id_le(integer, snowflake_id) RETURNS boolean
	AS 'int48le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int4_id_gt(integer, snowflake_id) RETURNS boolean
	AS 'int48gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int4_id_ge(integer, snowflake_id) RETURNS boolean
	AS 'int48ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (FUNCTION = snowflake_int4_id_eq, LEFTARG = integer, RIGHTARG = snowflake_id,
	COMMUTATOR = =, NEGATOR = <>,
	HASHES, MERGES,
	RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (FUNCTION = snowflake_int4_id_ne, LEFTARG = integer, RIGHTARG = snowflake_id,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (FUNCTION = snowflake_int4_id_lt, LEFTARG = integer, RIGHTARG = snowflake_id,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (FUNCTION = snowflake_int4_id_le, LEFTARG = integer, RIGHTARG = snowflake_id,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (FUNCTION = snowflake_int4_id_gt, LEFTARG = integer, RIGHTARG = snowflake_id,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (FUNCTION = snowflake_int4_id_ge, LEFTARG = integer, RIGHTARG = snowflake_id,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE FUNCTION snowflake_int4_id_cmp(integer, snowflake_id) RETURNS integer
	AS 'btint48cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- snowflake_id against smallint
CREATE FUNCTION snowflake_id_int2_eq(snowflake_id, smallint) RETURNS boolean
	AS 'int82eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int2_ne(snowflake_id, smallint) RETURNS boolean
	AS 'int82ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int2_lt(snowflake_id, smallint) RETURNS boolean
	AS 'int82lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int2_le(snowflake_id, smallint) RETURNS boolean
	AS 'int82le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int2_gt(snowflake_id, smallint) RETURNS boolean
	AS 'int82gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_id_int2_ge(snowflake_id, smallint) RETURNS boolean
	AS 'int82ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (FUNCTION = snowflake_id_int2_eq, LEFTARG = snowflake_id, RIGHTARG = smallint,
	COMMUTATOR = =, NEGATOR = <>,
	HASHES, MERGES,
	RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (FUNCTION = snowflake_id_int2_ne, LEFTARG = snowflake_id, RIGHTARG = smallint,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (FUNCTION = snowflake_id_int2_lt, LEFTARG = snowflake_id, RIGHTARG = smallint,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (FUNCTION = snowflake_id_int2_le, LEFTARG = snowflake_id, RIGHTARG = smallint,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (FUNCTION = snowflake_id_int2_gt, LEFTARG = snowflake_id, RIGHTARG = smallint,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (FUNCTION = snowflake_id_int2_ge, LEFTARG = snowflake_id, RIGHTARG = smallint,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE FUNCTION snowflake_id_int2_cmp(snowflake_id, smallint) RETURNS integer
	AS 'btint82cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- smallint against snowflake_id
CREATE FUNCTION snowflake_int2_id_eq(smallint, snowflake_id) RETURNS boolean
	AS 'int28eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int2_id_ne(smallint, snowflake_id) RETURNS boolean
	AS 'int28ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int2_id_lt(smallint, snowflake_id) RETURNS boolean
	AS 'int28lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int2_id_le(smallint, snowflake_id) RETURNS boolean
	AS 'int28le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int2_id_gt(smallint, snowflake_id) RETURNS boolean
	AS 'int28gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION snowflake_int2_id_ge(smallint, snowflake_id) RETURNS boolean
	AS 'int28ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (FUNCTION = snowflake_int2_id_eq, LEFTARG = smallint, RIGHTARG = snowflake_id,
	COMMUTATOR = =, NEGATOR = <>,
	HASHES, MERGES,
	RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (FUNCTION = snowflake_int2_id_ne, LEFTARG = smallint, RIGHTARG = snowflake_id,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (FUNCTION = snowflake_int2_id_lt, LEFTARG = smallint, RIGHTARG = snowflake_id,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (FUNCTION = snowflake_int2_id_le, LEFTARG = smallint, RIGHTARG = snowflake_id,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (FUNCTION = snowflake_int2_id_gt, LEFTARG = smallint, RIGHTARG = snowflake_id,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (FUNCTION = snowflake_int2_id_ge, LEFTARG = smallint, RIGHTARG = snowflake_id,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE FUNCTION snowflake_int2_id_cmp(smallint, snowflake_id) RETURNS integer
	AS 'btint28cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION snowflake_id_hash(snowflake_id) RETURNS integer
	AS 'hashint8' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION snowflake_id_hash_extended(snowflake_id, bigint) RETURNS bigint
	AS 'hashint8extended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

-- One btree family over snowflake_id, bigint, integer and smallint, as the
-- server's integer_ops is over the last three: a merge join sorts each side
-- with the family's own operators, and an index scan for "id = ANY(bigint[])"
-- sorts the array with them, so the integers' operators are members too
-- (they stay members of integer_ops, which the planner finds first for them).
CREATE OPERATOR CLASS snowflake_id_ops
	DEFAULT FOR TYPE snowflake_id USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 snowflake_id_id_cmp(snowflake_id, snowflake_id),
	FUNCTION 2 (snowflake_id, snowflake_id) pg_catalog.btint8sortsupport(internal),
	FUNCTION 4 (snowflake_id, snowflake_id) pg_catalog.btequalimage(oid);
ALTER OPERATOR FAMILY snowflake_id_ops USING btree ADD
	OPERATOR 1 < (snowflake_id, bigint),
	OPERATOR 2 <= (snowflake_id, bigint),
	OPERATOR 3 = (snowflake_id, bigint),
	OPERATOR 4 >= (snowflake_id, bigint),
	OPERATOR 5 > (snowflake_id, bigint),
	FUNCTION 1 snowflake_id_int8_cmp(snowflake_id, bigint),
	OPERATOR 1 < (bigint, snowflake_id),
	OPERATOR 2 <= (bigint, snowflake_id),
	OPERATOR 3 = (bigint, snowflake_id),
	OPERATOR 4 >= (bigint, snowflake_id),
	OPERATOR 5 > (bigint, snowflake_id),
	FUNCTION 1 snowflake_int8_id_cmp(bigint, snowflake_id),
	OPERATOR 1 < (snowflake_id, integer),
	OPERATOR 2 <= (snowflake_id, integer),
	OPERATOR 3 = (snowflake_id, integer),
	OPERATOR 4 >= (snowflake_id, integer),
	OPERATOR 5 > (snowflake_id, integer),
	FUNCTION 1 snowflake_id_int4_cmp(snowflake_id, integer),
	OPERATOR 1 < (integer, snowflake_id),
	OPERATOR 2 <= (integer, snowflake_id),
	OPERATOR 3 = (integer, snowflake_id),
	OPERATOR 4 >= (integer, snowflake_id),
	OPERATOR 5 > (integer, snowflake_id),
	FUNCTION 1 snowflake_int4_id_cmp(integer, snowflake_id),
	OPERATOR 1 < (snowflake_id, smallint),
	OPERATOR 2 <= (snowflake_id, smallint),
	OPERATOR 3 = (snowflake_id, smallint),
	OPERATOR 4 >= (snowflake_id, smallint),
	OPERATOR 5 > (snowflake_id, smallint),
	FUNCTION 1 snowflake_id_int2_cmp(snowflake_id, smallint),
	OPERATOR 1 < (smallint, snowflake_id),
	OPERATOR 2 <= (smallint, snowflake_id),
	OPERATOR 3 = (smallint, snowflake_id),
	OPERATOR 4 >= (smallint, snowflake_id),
	OPERATOR 5 > (smallint, snowflake_id),
	FUNCTION 1 snowflake_int2_id_cmp(smallint, snowflake_id),
	OPERATOR 1 pg_catalog.< (bigint, bigint),
	OPERATOR 2 pg_catalog.<= (bigint, bigint),
	OPERATOR 3 pg_catalog.= (bigint, bigint),
	OPERATOR 4 pg_catalog.>= (bigint, bigint),
	OPERATOR 5 pg_catalog.> (bigint, bigint),
	FUNCTION 1 pg_catalog.btint8cmp(bigint, bigint),
	OPERATOR 1 pg_catalog.< (bigint, integer),
	OPERATOR 2 pg_catalog.<= (bigint, integer),
	OPERATOR 3 pg_catalog.= (bigint, integer),
	OPERATOR 4 pg_catalog.>= (bigint, integer),
	OPERATOR 5 pg_catalog.> (bigint, integer),
	FUNCTION 1 pg_catalog.btint84cmp(bigint, integer),
	OPERATOR 1 pg_catalog.< (bigint, smallint),
	OPERATOR 2 pg_catalog.<= (bigint, smallint),
	OPERATOR 3 pg_catalog.= (bigint, smallint),
	OPERATOR 4 pg_catalog.>= (bigint, smallint),
	OPERATOR 5 pg_catalog.> (bigint, smallint),
	FUNCTION 1 pg_catalog.btint82cmp(bigint, smallint),
	FUNCTION 2 (bigint, bigint) pg_catalog.btint8sortsupport(internal),
	FUNCTION 4 (bigint, bigint) pg_catalog.btequalimage(oid),
	OPERATOR 1 pg_catalog.< (integer, bigint),
	OPERATOR 2 pg_catalog.<= (integer, bigint),
	OPERATOR 3 pg_catalog.= (integer, bigint),
	OPERATOR 4 pg_catalog.>= (integer, bigint),
	OPERATOR 5 pg_catalog.> (integer, bigint),
	FUNCTION 1 pg_catalog.btint48cmp(integer, bigint),
	OPERATOR 1 pg_catalog.< (integer, integer),
	OPERATOR 2 pg_catalog.<= (integer, integer),
	OPERATOR 3 pg_catalog.= (integer, integer),
	OPERATOR 4 pg_catalog.>= (integer, integer),
	OPERATOR 5 pg_catalog.> (integer, integer),
	FUNCTION 1 pg_catalog.btint4cmp(integer, integer),
	OPERATOR 1 pg_catalog.< (integer, smallint),
	OPERATOR 2 pg_catalog.<= (integer, smallint),
	OPERATOR 3 pg_catalog.= (integer, smallint),
	OPERATOR 4 pg_catalog.>= (integer, smallint),
	OPERATOR 5 pg_catalog.> (integer, smallint),
	FUNCTION 1 pg_catalog.btint42cmp(integer, smallint),
	FUNCTION 2 (integer, integer) pg_catalog.btint4sortsupport(internal),
	FUNCTION 4 (integer, integer) pg_catalog.btequalimage(oid),
	OPERATOR 1 pg_catalog.< (smallint, bigint),
	OPERATOR 2 pg_catalog.<= (smallint, bigint),
	OPERATOR 3 pg_catalog.= (smallint, bigint),
	OPERATOR 4 pg_catalog.>= (smallint, bigint),
	OPERATOR 5 pg_catalog.> (smallint, bigint),
	FUNCTION 1 pg_catalog.btint28cmp(smallint, bigint),
	OPERATOR 1 pg_catalog.< (smallint, integer),
	OPERATOR 2 pg_catalog.<= (smallint, integer),
	OPERATOR 3 pg_catalog.= (smallint, integer),
	OPERATOR 4 pg_catalog.>= (smallint, integer),
	OPERATOR 5 pg_catalog.> (smallint, integer),
	FUNCTION 1 pg_catalog.btint24cmp(smallint, integer),
	OPERATOR 1 pg_catalog.< (smallint, smallint),
	OPERATOR 2 pg_catalog.<= (smallint, smallint),
	OPERATOR 3 pg_catalog.= (smallint, smallint),
	OPERATOR 4 pg_catalog.>= (smallint, smallint),
	OPERATOR 5 pg_catalog.> (smallint, smallint),
	FUNCTION 1 pg_catalog.btint2cmp(smallint, smallint),
	FUNCTION 2 (smallint, smallint) pg_catalog.btint2sortsupport(internal),
	FUNCTION 4 (smallint, smallint) pg_catalog.btequalimage(oid);

-- The hash family likewise.  bigint, integer and smallint hash alike on
-- equal values, and a snowflake_id hashes as its bigint: a hash join or a
-- hashed IN can match a snowflake_id with any of them.
CREATE OPERATOR CLASS snowflake_id_hash_ops
	DEFAULT FOR TYPE snowflake_id USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 snowflake_id_hash(snowflake_id),
	FUNCTION 2 snowflake_id_hash_extended(snowflake_id, bigint);
ALTER OPERATOR FAMILY snowflake_id_hash_ops USING hash ADD
	OPERATOR 1 = (snowflake_id, bigint),
	OPERATOR 1 = (bigint, snowflake_id),
	OPERATOR 1 = (snowflake_id, integer),
	OPERATOR 1 = (integer, snowflake_id),
	OPERATOR 1 = (snowflake_id, smallint),
	OPERATOR 1 = (smallint, snowflake_id),
	OPERATOR 1 pg_catalog.= (bigint, bigint),
	OPERATOR 1 pg_catalog.= (bigint, integer),
	OPERATOR 1 pg_catalog.= (bigint, smallint),
	OPERATOR 1 pg_catalog.= (integer, bigint),
	OPERATOR 1 pg_catalog.= (integer, integer),
	OPERATOR 1 pg_catalog.= (integer, smallint),
	OPERATOR 1 pg_catalog.= (smallint, bigint),
	OPERATOR 1 pg_catalog.= (smallint, integer),
	OPERATOR 1 pg_catalog.= (smallint, smallint),
	FUNCTION 1 pg_catalog.hashint8(bigint),
	FUNCTION 2 pg_catalog.hashint8extended(bigint, bigint),
	FUNCTION 1 pg_catalog.hashint4(integer),
	FUNCTION 2 pg_catalog.hashint4extended(integer, bigint),
	FUNCTION 1 pg_catalog.hashint2(smallint),
	FUNCTION 2 pg_catalog.hashint2extended(smallint, bigint);

-- The text form: 13 characters of Crockford base32, zero-padded, so that
-- the byte order of the text (COLLATE "C") is the order of the IDs.
CREATE FUNCTION snowflake_to_text(id bigint) RETURNS text
	AS 'MODULE_PATHNAME', 'snowflake_to_text'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION snowflake_to_text(bigint) IS
	'the ID as 13 characters of Crockford base32, in the same order as the IDs';
CREATE FUNCTION snowflake_from_text(text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'snowflake_from_text'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION snowflake_from_text(text) IS
	'the ID of a 13-character text form made by snowflake_to_text()';
-- Adoption: converting serial/identity columns, backfilling history under
-- reserved worker IDs (snowflake.reserved_worker_ids).  See docs/adoption.md.

CREATE FUNCTION snowflake_backfill_id(ts timestamptz, worker_id integer, seq bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'snowflake_backfill_id'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION snowflake_backfill_id(timestamptz, integer, bigint) IS
	'ID of the seq''th row (from 0) of ts''s millisecond, under a worker ID reserved for backfilling';

CREATE FUNCTION snowflake_adopt_column(tbl regclass, col name,
	dry_run boolean DEFAULT true)
RETURNS TABLE (step integer, action text, statement text, applied boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	rel record;
	att record;
	qualified text;
	seq regclass;
	seq_kind text;
	def text;
	def_oid oid;
	others text;
	max_value bigint;
	probe bigint;
	bound bigint;
	stmts text[] := '{}';
	actions text[] := '{}';
	i integer;
BEGIN
	IF tbl IS NULL OR col IS NULL OR dry_run IS NULL THEN
		RAISE EXCEPTION 'snowflake_adopt_column needs a table, a column and dry_run true or false'
			USING ERRCODE = 'null_value_not_allowed',
			      HINT = 'Call it as snowflake_adopt_column(''schema.table'', ''column'') for a dry run, with dry_run => false to convert.';
	END IF;

	SELECT c.oid, c.relkind, c.relowner, n.nspname, c.relname
	  INTO rel
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	 WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	qualified := pg_catalog.format('%I.%I', rel.nspname, rel.relname);
	IF rel.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table', qualified
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Adopt a column of a table; a view or foreign table has no default of its own to change.';
	END IF;
	IF NOT pg_catalog.pg_has_role(rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table % to adopt its column', qualified
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Converting a column changes its default and its sequence, which only the table''s owner may do.',
			      HINT = 'Run it as the table''s owner (or a member of the owning role).';
	END IF;

	SELECT a.attnum, a.atttypid, a.attidentity, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
	  INTO att
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of table % does not exist', col, qualified
			USING ERRCODE = 'undefined_column';
	END IF;
	IF att.atttypid OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype THEN
		IF att.atttypid IN ('pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int2'::pg_catalog.regtype) THEN
			RAISE EXCEPTION 'column "%" of table % is %, too narrow for snowflake IDs', col, qualified, att.typ
				USING ERRCODE = 'datatype_mismatch',
				      DETAIL = 'Snowflake IDs are 64-bit; the column must be bigint.',
				      HINT = pg_catalog.format('Widen it first (this rewrites the table, and columns that reference it must be widened too): ALTER TABLE %s ALTER COLUMN %I TYPE bigint;', qualified, col);
		END IF;
		RAISE EXCEPTION 'column "%" of table % is %, not bigint', col, qualified, att.typ
			USING ERRCODE = 'datatype_mismatch',
			      HINT = 'Only a bigint column can be filled by snowflake_nextval().';
	END IF;

	-- No insert may slip in between the check and the switch.
	IF dry_run THEN
		EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', qualified);
	ELSE
		EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', qualified);
	END IF;

	-- Where the column's values come from now.
	SELECT d.oid, pg_catalog.pg_get_expr(d.adbin, d.adrelid)
	  INTO def_oid, def
	  FROM pg_catalog.pg_attrdef d
	 WHERE d.adrelid OPERATOR(pg_catalog.=) tbl AND d.adnum OPERATOR(pg_catalog.=) att.attnum;
	IF att.attidentity IN ('a', 'd') THEN
		seq_kind := CASE att.attidentity WHEN 'a' THEN 'identity (GENERATED ALWAYS)'
		                                 ELSE 'identity (GENERATED BY DEFAULT)' END;
		seq := pg_catalog.pg_get_serial_sequence(qualified, col)::pg_catalog.regclass;
	ELSIF def IS NOT NULL THEN
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
		            WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
		              AND dep.objid OPERATOR(pg_catalog.=) def_oid
		              AND dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
		              AND dep.refobjid OPERATOR(pg_catalog.=) '@extschema@.snowflake_nextval()'::pg_catalog.regprocedure) THEN
			RETURN QUERY SELECT 1, pg_catalog.format('column "%s" of table %s is already filled by snowflake_nextval(): nothing to do', col, qualified), NULL::text, false;
			RETURN;
		END IF;
		SELECT dep.refobjid::pg_catalog.regclass INTO seq
		  FROM pg_catalog.pg_depend dep
		  JOIN pg_catalog.pg_class s ON s.oid OPERATOR(pg_catalog.=) dep.refobjid AND s.relkind OPERATOR(pg_catalog.=) 'S'
		 WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
		   AND dep.objid OPERATOR(pg_catalog.=) def_oid
		   AND dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass;
		IF seq IS NULL OR def NOT LIKE 'nextval(%' THEN
			RAISE EXCEPTION 'column "%" of table % has default %, not a sequence''s nextval()', col, qualified, def
				USING ERRCODE = 'feature_not_supported',
				      DETAIL = 'Only a serial, bigserial or identity column, or one without a default, is converted.',
				      HINT = pg_catalog.format('If that default may go, drop it first: ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT;', qualified, col);
		END IF;
		seq_kind := 'default ' || def;
	ELSE
		seq_kind := 'no default';
	END IF;

	-- Anything else that uses the sequence would break silently.
	IF seq IS NOT NULL THEN
		SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(dep.classid, dep.objid, dep.objsubid), ', ')
		  INTO others
		  FROM pg_catalog.pg_depend dep
		 WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND dep.refobjid OPERATOR(pg_catalog.=) seq
		   AND dep.deptype OPERATOR(pg_catalog.=) 'n'
		   AND NOT (dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
		            AND dep.objid OPERATOR(pg_catalog.=) def_oid);
		IF others IS NOT NULL THEN
			RAISE EXCEPTION 'sequence % of column "%" of table % is used elsewhere too', seq, col, qualified
				USING ERRCODE = 'dependent_objects_still_exist',
				      DETAIL = 'Also used by: ' || others || '.',
				      HINT = 'Make those use their own sequence (or adopt them too) first; converting this column would leave them on a sequence no longer advanced by this table.';
		END IF;
	END IF;

	-- Every existing value must sort below every ID the server can mint
	-- from now on: no slot mints below the highest millisecond any slot
	-- has minted, so one ID minted now bounds them all from below (its
	-- millisecond's smallest ID), whatever the clock does afterwards.
	probe := @extschema@.snowflake_nextval();
	bound := @extschema@.snowflake_from_timestamp(@extschema@.snowflake_timestamp(probe));
	EXECUTE pg_catalog.format('SELECT pg_catalog.max(%I) FROM %s', col, qualified) INTO max_value;
	IF max_value IS NOT NULL AND max_value OPERATOR(pg_catalog.>=) bound THEN
		RAISE EXCEPTION 'column "%" of table % holds values up to %, not below the smallest ID this server can mint now (%)',
			col, qualified, max_value, bound
			USING ERRCODE = 'SF011',
			      DETAIL = 'New IDs would not sort above every existing value, and could equal one of them. Nothing was changed.',
			      HINT = 'Renumber the rows above the bound (for history, see snowflake_backfill_id() in docs/adoption.md), or give the column a new one.';
	END IF;
	actions := actions || pg_catalog.format('checked: the largest value of %I is %s, below %s, the smallest ID this server can mint from now on',
		col, COALESCE(max_value::text, 'none (no rows)'), bound);
	stmts := stmts || NULL::text;

	IF att.attidentity IN ('a', 'd') THEN
		actions := actions || pg_catalog.format('drop the %s of %I, with its sequence %s (last value %s)',
			seq_kind, col, seq, COALESCE((SELECT s.last_value::text FROM pg_catalog.pg_sequences s
			                               JOIN pg_catalog.pg_class c ON c.relname OPERATOR(pg_catalog.=) s.sequencename
			                               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
			                                 AND n.nspname OPERATOR(pg_catalog.=) s.schemaname
			                               WHERE c.oid OPERATOR(pg_catalog.=) seq), 'never used'));
		stmts := stmts || pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP IDENTITY', qualified, col);
	ELSIF seq IS NOT NULL THEN
		actions := actions || pg_catalog.format('drop the %s of %I', seq_kind, col);
		stmts := stmts || pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', qualified, col);
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
		            WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
		              AND dep.objid OPERATOR(pg_catalog.=) seq
		              AND dep.refobjid OPERATOR(pg_catalog.=) tbl
		              AND dep.refobjsubid OPERATOR(pg_catalog.=) att.attnum
		              AND dep.deptype OPERATOR(pg_catalog.=) 'a') THEN
			actions := actions || pg_catalog.format('detach sequence %s from %I; it is kept (DROP SEQUENCE %s once nothing needs it)', seq, col, seq);
			stmts := stmts || pg_catalog.format('ALTER SEQUENCE %s OWNED BY NONE', seq);
		END IF;
	END IF;
	actions := actions || pg_catalog.format('fill %I with snowflake_nextval() from now on', col);
	stmts := stmts || pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT @extschema@.snowflake_nextval()', qualified, col);

	FOR i IN 1 .. pg_catalog.array_length(actions, 1) LOOP
		IF NOT dry_run AND stmts[i] IS NOT NULL THEN
			EXECUTE stmts[i];
		END IF;
		step := i;
		action := actions[i];
		statement := stmts[i];
		applied := NOT dry_run AND stmts[i] IS NOT NULL;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION snowflake_adopt_column(regclass, name, boolean) IS
	'turns a serial, bigserial or identity column into one filled by snowflake_nextval(); dry_run (the default) only reports';

CREATE FUNCTION snowflake_raise_floor(ts timestamptz)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'snowflake_raise_floor'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION snowflake_raise_floor(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION snowflake_raise_floor(timestamptz) IS
	'this server mints no ID in or below ts''s millisecond, across restarts; returns the durable mark stored past it';

CREATE FUNCTION snowflake_restore_floor()
RETURNS TABLE (source text, max_id bigint, up_to timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	c record;
	m bigint;
	t timestamptz;
	top timestamptz;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
		RAISE EXCEPTION 'permission denied to restore the snowflake minting floor'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'It reads every table with snowflake IDs and raises the floor of the whole server.',
			      HINT = 'Run it as a superuser, in each database restored.';
	END IF;

	-- Every bigint column filled by snowflake_nextval() in this database.
	FOR c IN
		SELECT d.adrelid::pg_catalog.regclass AS tbl, a.attname
		  FROM pg_catalog.pg_attrdef d
		  JOIN pg_catalog.pg_depend dep
		    ON dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
		   AND dep.objid OPERATOR(pg_catalog.=) d.oid
		   AND dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
		   AND dep.refobjid OPERATOR(pg_catalog.=) '@extschema@.snowflake_nextval()'::pg_catalog.regprocedure
		  JOIN pg_catalog.pg_attribute a
		    ON a.attrelid OPERATOR(pg_catalog.=) d.adrelid AND a.attnum OPERATOR(pg_catalog.=) d.adnum
		 WHERE a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.int8'::pg_catalog.regtype
		 ORDER BY 1, 2
	LOOP
		EXECUTE pg_catalog.format('SELECT pg_catalog.max(%I) FROM %s', c.attname, c.tbl) INTO m;
		CONTINUE WHEN m IS NULL OR m OPERATOR(pg_catalog.<) 0;
		t := @extschema@.snowflake_timestamp(m);
		source := pg_catalog.format('%s.%I', c.tbl, c.attname);
		max_id := m;
		up_to := t;
		RETURN NEXT;
		top := GREATEST(top, t);
	END LOOP;

	-- Lease floors of other servers restored with this database (when it
	-- is the snowflake.database of the cluster the dump came from).
	IF pg_catalog.to_regclass('snowflake_state.worker_lease') IS NOT NULL THEN
		SELECT pg_catalog.max(GREATEST(l.last_minted_at, l.minting_until)) INTO t
		  FROM snowflake_state.worker_lease l
		 WHERE l.holder_system_id OPERATOR(pg_catalog.<>)
		       (SELECT s.system_identifier::pg_catalog.text FROM pg_catalog.pg_control_system() s);
		IF t IS NOT NULL THEN
			source := 'snowflake_state.worker_lease (other servers)';
			max_id := NULL;
			up_to := t;
			RETURN NEXT;
			top := GREATEST(top, t);
		END IF;
	END IF;

	IF top IS NOT NULL THEN
		source := 'this server''s floor, made durable';
		max_id := NULL;
		up_to := @extschema@.snowflake_raise_floor(top);
		RETURN NEXT;
	END IF;
END
$fn$;
REVOKE EXECUTE ON FUNCTION snowflake_restore_floor() FROM PUBLIC;
COMMENT ON FUNCTION snowflake_restore_floor() IS
	'after a restore into another cluster: raise this server''s floor above every ID in this database''s snowflake columns';
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

-- Backstops (1.1): auditing a table's IDs after the fact

CREATE FUNCTION snowflake_audit(tbl regclass, col name, layout text DEFAULT NULL,
	future_tolerance interval DEFAULT '1 minute',
	OUT finding text, OUT key text, OUT ids bigint, OUT examples bigint[])
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $audit$
DECLARE
	ext_schema text;
	coltype text;
	own_layout boolean := layout IS NULL OR layout = 'snowflake';
	history boolean := false;
	history_from timestamptz;
	q text;
BEGIN
	IF tbl IS NULL OR col IS NULL THEN
		RETURN;
	END IF;
	SELECT format_type(a.atttypid, NULL) INTO coltype
	  FROM pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	IF coltype <> 'bigint' AND coltype NOT LIKE '%snowflake_id' THEN
		RAISE EXCEPTION 'column "%" of relation % is of type %, not bigint', col, tbl, coltype
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'snowflake_audit reads bigint and snowflake_id columns.';
	END IF;
	IF NOT has_column_privilege(tbl, col, 'SELECT') THEN
		RAISE EXCEPTION 'permission denied for column "%" of relation %', col, tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	-- the extension's functions, whatever the caller's search_path
	SELECT n.nspname INTO ext_schema
	  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
	 WHERE e.extname = 'snowflake';
	-- an unknown layout name fails here (42704), before the table is read
	EXECUTE format('SELECT %I.snowflake_from_timestamp(now(), $1)', ext_schema) USING layout;

	-- The lease history, when this database has it and the caller may read it.
	IF own_layout AND to_regclass('snowflake_state.lease_history') IS NOT NULL
	   AND has_table_privilege('snowflake_state.lease_history', 'SELECT')
	   AND has_table_privilege('snowflake_state.worker_lease', 'SELECT') THEN
		history := true;
		SELECT min(h.acquired_at) INTO history_from FROM snowflake_state.lease_history h;
	END IF;

	-- One pass over the column: raw keeps every value, d the decoded ones;
	-- both are materialised once (on disk when large), and every finding is
	-- computed from them.
	q := format($q$
		WITH raw AS MATERIALIZED (
			SELECT x.%1$I::bigint AS id FROM %2$s x WHERE x.%1$I IS NOT NULL
		), d AS MATERIALIZED (
			SELECT r.id, %3$I.snowflake_timestamp(r.id, $1) AS ts,
				   %3$I.snowflake_worker_id(r.id, $1) AS w
			  FROM raw r WHERE r.id >= 0
		)$q$, col, tbl, ext_schema);
	IF history THEN
		-- IDs no acquisition covered: checked per worker ID and second
		-- first, then ID by ID where no one acquisition covers a second whole.
		q := q || $q$, h AS (
			SELECT h.worker_id, h.floor_at, coalesce(h.cap_at, l.minting_until) AS cap
			  FROM snowflake_state.lease_history h
			  LEFT JOIN snowflake_state.worker_lease l
				ON l.worker_id = h.worker_id AND l.acquired_at = h.acquired_at
			   AND l.fencing_token = h.fencing_token AND h.ended_at IS NULL
		), b AS (
			SELECT d.w, date_trunc('second', d.ts) AS s, min(d.ts) AS lo, max(d.ts) AS hi
			  FROM d WHERE d.ts >= $3 GROUP BY 1, 2
		), bad AS (
			SELECT b.w, b.s FROM b
			 WHERE NOT EXISTS (SELECT FROM h WHERE h.worker_id = b.w
								 AND (h.floor_at IS NULL OR b.lo > h.floor_at)
								 AND b.hi <= h.cap)
		), unleased AS (
			SELECT d.id FROM d JOIN bad ON bad.w = d.w AND date_trunc('second', d.ts) = bad.s
			 WHERE NOT EXISTS (SELECT FROM h WHERE h.worker_id = d.w
								 AND (h.floor_at IS NULL OR d.ts > h.floor_at)
								 AND d.ts <= h.cap)
		)$q$;
	END IF;
	q := q || $q$
		SELECT 'checked'::text, NULL::text, count(*), NULL::bigint[] FROM raw
		UNION ALL
		SELECT 'duplicate', NULL, count(*), (array_agg(g.id ORDER BY g.id))[1:10]
		  FROM (SELECT r.id FROM raw r GROUP BY r.id HAVING count(*) > 1) g
		HAVING count(*) > 0
		UNION ALL
		SELECT 'out_of_layout', 'negative', count(*), (array_agg(r.id ORDER BY r.id))[1:10]
		  FROM raw r WHERE r.id < 0
		HAVING count(*) > 0
		UNION ALL
		SELECT 'future', NULL, count(*), (array_agg(d.id ORDER BY d.id))[1:10]
		  FROM d WHERE d.ts > now() + $2
		HAVING count(*) > 0$q$;
	IF history THEN
		q := q || $q$
		UNION ALL
		SELECT 'unleased', NULL, count(*), (array_agg(u.id ORDER BY u.id))[1:10]
		  FROM unleased u HAVING count(*) > 0
		UNION ALL
		SELECT 'before_history', NULL, count(*), NULL FROM d WHERE d.ts < $3
		HAVING count(*) > 0$q$;
	ELSIF own_layout THEN
		q := q || $q$
		UNION ALL
		SELECT 'history_unavailable',
			   'snowflake_state.lease_history is not in this database or not readable',
			   NULL, NULL$q$;
	END IF;
	q := q || $q$
		UNION ALL
		SELECT 'worker', d.w::text, count(*), NULL FROM d GROUP BY d.w
		UNION ALL
		SELECT 'day', (d.ts AT TIME ZONE 'UTC')::date::text, count(*), NULL FROM d GROUP BY 2$q$;
	RETURN QUERY EXECUTE q USING layout, future_tolerance,
		coalesce(history_from, 'infinity'::timestamptz);
END
$audit$;
COMMENT ON FUNCTION snowflake_audit(regclass, name, text, interval) IS
	'Findings on a table''s ID column: duplicates, IDs from the future, IDs outside the layout, IDs no lease covered, and counts per worker ID and day';

-- The duplicate canary's test hook: leave an ID in this server's sample as if
-- it had been minted here, so that it collides with another server's sample.
CREATE FUNCTION snowflake_canary_inject(id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'snowflake_canary_inject' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION snowflake_canary_inject(bigint) FROM PUBLIC;
COMMENT ON FUNCTION snowflake_canary_inject(bigint) IS
	'Test the duplicate canary: add an ID to this server''s sample (superusers only)';

-- The duplicate canary on this server: IDs sampled, sent to the coordinator,
-- dropped for want of room, and whether minting is parked by a hit.
CREATE FUNCTION snowflake_canary_stats(OUT canary_every integer, OUT sampled bigint,
		OUT sent bigint, OUT dropped bigint, OUT parked boolean, OUT park_reason text)
	AS 'MODULE_PATHNAME', 'snowflake_canary_stats' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION snowflake_canary_stats() IS
	'The duplicate canary on this server: samples taken, sent and dropped; whether minting is parked and why';
