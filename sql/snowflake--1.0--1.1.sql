/* snowflake--1.0--1.1.sql */

\echo Use "ALTER EXTENSION snowflake UPDATE TO '1.1'" to load this file. \quit

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
