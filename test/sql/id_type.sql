--
-- id_type: the snowflake_id type (I/O, casts, operators, indexes, JSON) and
-- the 13-character text form (snowflake_to_text / snowflake_from_text)
--
-- Assumes the extension exists (created by the layouts test), the default
-- cluster layout, and a server that mints (the mint test ran before).
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- The type: 8 bytes, by value, aligned like a bigint, numeric category.
SELECT typname, typlen, typbyval, typalign, typstorage, typcategory, typispreferred
  FROM pg_type WHERE typname = 'snowflake_id';

--
-- Input and output: decimal digits, nothing else, never negative.
--
SELECT '0'::snowflake_id AS zero,
       '9223372036854775807'::snowflake_id AS max,
       '  +42  '::snowflake_id AS spaces_and_plus,
       '007'::snowflake_id AS leading_zeros;
SELECT '-5'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT '-0'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT '9223372036854775808'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT '99999999999999999999999'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT 'abc'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT ''::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT '1.5'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT '12 34'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT '+'::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT '0000000000005'::snowflake_id = 5 AS text_form_digits_are_decimal;
SELECT NULL::snowflake_id IS NULL AS null_in;

--
-- Casts: to bigint implicitly and binary-coercibly; from bigint and integer
-- on assignment, checked for the sign.
--
SELECT format_type(castsource, NULL) AS source, format_type(casttarget, NULL) AS target,
       castcontext AS context, castmethod AS method
  FROM pg_cast
 WHERE castsource = 'snowflake_id'::regtype OR casttarget = 'snowflake_id'::regtype
 ORDER BY 1, 2;
SELECT 5::bigint::snowflake_id AS from_bigint, 5::snowflake_id AS from_integer,
       pg_typeof('5'::snowflake_id::bigint) AS to_bigint;
SELECT (-5)::bigint::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT (-1)::snowflake_id;
\echo SQLSTATE :SQLSTATE
SELECT (-9223372036854775807 - 1)::snowflake_id;
\echo SQLSTATE :SQLSTATE
-- No cast from numeric or text is implicit: those need an explicit one.
SELECT 5.0::numeric::bigint::snowflake_id AS via_bigint;

--
-- A table keyed by snowflake_id, with DEFAULT snowflake_nextval() (the
-- assignment cast from bigint).
--
CREATE TABLE sid_t (id snowflake_id PRIMARY KEY DEFAULT snowflake_nextval(),
                    b bigint, i integer, s smallint);
INSERT INTO sid_t (b, i, s) SELECT g, g, g FROM generate_series(1, 200) g;
INSERT INTO sid_t VALUES (5, 5, 5, 5), (6::bigint, 6, 6, 6), ('7', 7, 7, 7);
SELECT count(*) AS rows, count(*) FILTER (WHERE id > 7) AS minted,
       min(id) FILTER (WHERE id > 7) > 1::bigint << 40 AS minted_look_minted
  FROM sid_t;
-- Assignment refuses negatives, whatever their type.
INSERT INTO sid_t VALUES (-1, 0, 0, 0);
\echo SQLSTATE :SQLSTATE
INSERT INTO sid_t VALUES ((-1)::bigint, 0, 0, 0);
\echo SQLSTATE :SQLSTATE
INSERT INTO sid_t VALUES ('-1', 0, 0, 0);
\echo SQLSTATE :SQLSTATE
-- The cast is checked at run time too, not only for constants.
UPDATE sid_t SET id = b - 10 WHERE id = 5;
\echo SQLSTATE :SQLSTATE

--
-- Operators: each comparison resolves to exactly one operator, whatever the
-- other side's integer type, or an unknown literal or parameter.
--
SELECT o.oprname,
       o.oprleft::regtype AS left, o.oprright::regtype AS right
  FROM pg_operator o
 WHERE o.oprname = '='
   AND 'snowflake_id'::regtype IN (o.oprleft, o.oprright)
 ORDER BY 2, 3;
SELECT count(*) AS ops_with_snowflake_id
  FROM pg_operator WHERE 'snowflake_id'::regtype IN (oprleft, oprright);

SELECT id = 5 AS int4, id = 5::bigint AS int8, id = 5::smallint AS int2,
       id = '5' AS unknown, id = '5'::snowflake_id AS same,
       5 = id AS int4_left, 5::bigint = id AS int8_left, 5::smallint = id AS int2_left,
       id = b AS column_int8, i = id AS column_int4, id = s AS column_int2
  FROM sid_t WHERE id = 5;
SELECT count(*) FILTER (WHERE id < 7) AS lt, count(*) FILTER (WHERE id <= 7) AS le,
       count(*) FILTER (WHERE id > 5::bigint) AS gt, count(*) FILTER (WHERE id >= 5::smallint) AS ge,
       count(*) FILTER (WHERE id <> 5) AS ne, count(*) FILTER (WHERE 6 > id) AS int4_gt_id,
       count(*) FILTER (WHERE id BETWEEN 5 AND '6') AS between
  FROM sid_t;
-- The operator each one resolves to: its operand types.
CREATE VIEW sid_ops AS
SELECT id = 5 AS a, id = 5::bigint AS b, id > '5' AS c, 5::bigint < id AS d,
       id <> s AS e, id = ANY('{5,6}'::bigint[]) AS f, id IN (5, 6) AS g
  FROM sid_t;
SELECT pg_get_viewdef('sid_ops'::regclass);
SELECT o.oprleft::regtype AS left, o.oprname, o.oprright::regtype AS right
  FROM pg_depend d JOIN pg_operator o ON o.oid = d.refobjid
 WHERE d.classid = 'pg_rewrite'::regclass
   AND d.objid = (SELECT oid FROM pg_rewrite WHERE ev_class = 'sid_ops'::regclass)
   AND d.refclassid = 'pg_operator'::regclass
 ORDER BY 1, 2, 3;
-- A prepared statement with an untyped parameter compares as snowflake_id;
-- with a bigint parameter (JDBC's setLong) as (snowflake_id, bigint).
PREPARE sid_untyped AS SELECT count(*) FROM sid_t WHERE id > $1;
EXECUTE sid_untyped('5');
PREPARE sid_bigint(bigint) AS SELECT count(*) FROM sid_t WHERE id <= $1;
EXECUTE sid_bigint(6);
SELECT p.parameter_types FROM pg_prepared_statements p
 WHERE p.name IN ('sid_untyped', 'sid_bigint') ORDER BY p.name;
DEALLOCATE sid_untyped;
DEALLOCATE sid_bigint;
-- A numeric has no operator with snowflake_id: say so rather than guess.
SELECT count(*) FROM sid_t WHERE id = 5.0;
\echo SQLSTATE :SQLSTATE

-- Arithmetic and aggregates go through bigint.
SELECT pg_typeof(id + 1) AS plus, pg_typeof(max(id)) AS max
  FROM sid_t WHERE id = 5 GROUP BY id;
SELECT pg_typeof(COALESCE(id, 0::bigint)) AS coalesce_bigint,
       pg_typeof(CASE WHEN true THEN id ELSE NULL END) AS case_null
  FROM sid_t WHERE id = 5;
SELECT x, pg_typeof(x) FROM (SELECT id AS x FROM sid_t WHERE id = 5
                             UNION ALL SELECT 6::bigint) u ORDER BY x;

--
-- Indexes: the primary key serves snowflake_id, bigint, integer and
-- unknown comparands, and snowflake_from_timestamp() ranges.
--
ANALYZE sid_t;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM sid_t WHERE id = 5;
EXPLAIN (COSTS OFF) SELECT * FROM sid_t WHERE id = 5::bigint;
EXPLAIN (COSTS OFF) SELECT * FROM sid_t WHERE id = '5';
EXPLAIN (COSTS OFF) SELECT * FROM sid_t WHERE id = '5'::snowflake_id;
EXPLAIN (COSTS OFF) SELECT * FROM sid_t WHERE 5::smallint = id;
EXPLAIN (COSTS OFF) SELECT * FROM sid_t WHERE id = ANY('{6,5,7}'::bigint[]);
SELECT id FROM sid_t WHERE id = ANY('{6,5,7}'::bigint[]);
EXPLAIN (COSTS OFF) SELECT * FROM sid_t
 WHERE id >= snowflake_from_timestamp('2024-06-01 00:00:00+00');
EXPLAIN (COSTS OFF) SELECT id FROM sid_t ORDER BY id;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Joins to a bigint column, by each join method.
CREATE TABLE sid_ref (ref bigint PRIMARY KEY);
INSERT INTO sid_ref SELECT id FROM sid_t WHERE b % 2 = 0;
ANALYZE sid_ref;
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sid_t JOIN sid_ref ON id = ref;
SELECT count(*) = (SELECT count(*) FROM sid_t WHERE b % 2 = 0) AS hash_join
  FROM sid_t JOIN sid_ref ON id = ref;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sid_t JOIN sid_ref ON ref = id;
SELECT count(*) = (SELECT count(*) FROM sid_t WHERE b % 2 = 0) AS merge_join
  FROM sid_t JOIN sid_ref ON ref = id;
RESET enable_hashjoin;
RESET enable_nestloop;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sid_ref r JOIN sid_t t ON t.id = r.ref WHERE r.ref = 6;
RESET enable_seqscan;
-- A hashed IN over bigints.
EXPLAIN (COSTS OFF) SELECT count(*) FROM sid_t WHERE id IN (SELECT ref FROM sid_ref) OR i < 0;
SELECT count(*) = (SELECT count(*) FROM sid_ref) AS hashed_in
  FROM sid_t WHERE id IN (SELECT ref FROM sid_ref) OR i < 0;
-- A hash index and hash partitioning work on the type.
CREATE INDEX sid_t_hash ON sid_t USING hash (id);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM sid_t WHERE id = 6::bigint;
SELECT i FROM sid_t WHERE id = 6::bigint;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX sid_t_hash;
CREATE TABLE sid_part (id snowflake_id) PARTITION BY HASH (id);
CREATE TABLE sid_part_0 PARTITION OF sid_part FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE sid_part_1 PARTITION OF sid_part FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO sid_part SELECT id FROM sid_t;
SELECT count(*) = (SELECT count(*) FROM sid_t) AS all_rows,
       (SELECT count(*) FROM sid_part_0) > 0 AND (SELECT count(*) FROM sid_part_1) > 0 AS both_used
  FROM sid_part;
DROP TABLE sid_part;

-- The operator classes are complete (the server's own validation).
SELECT opcname, amvalidate(oid) FROM pg_opclass
 WHERE opcname IN ('snowflake_id_ops', 'snowflake_id_hash_ops') ORDER BY 1;
-- Plain bigint columns are planned as before: their sort order is still
-- integer_ops', so an index on a bigint serves ORDER BY without a Sort.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT ref FROM sid_ref ORDER BY ref;
RESET enable_seqscan;

--
-- The decode functions take a snowflake_id (the implicit cast to bigint).
--
SELECT (SELECT row(d.*) FROM snowflake_decode('199328941490585599'::snowflake_id) d)
       = (SELECT row(d.*) FROM snowflake_decode(199328941490585599) d) AS decode,
       snowflake_timestamp('199328941490585599'::snowflake_id) AS ts,
       snowflake_worker_id('199328941490585599'::snowflake_id, 'snowflake') AS worker_id,
       snowflake_sequence('199328941490585599'::snowflake_id, NULL) AS sequence;
SELECT * FROM snowflake_decode('175928847299117063'::snowflake_id, 'discord');
SELECT snowflake_timestamp(id) <= now() AS minted_in_the_past
  FROM sid_t WHERE id > 7 ORDER BY id LIMIT 1;

--
-- JSON: a snowflake_id is a JSON string, everywhere; a bigint stays a number.
--
SELECT to_json('9007199254740993'::snowflake_id) AS to_json,
       to_jsonb('9007199254740993'::snowflake_id) AS to_jsonb,
       to_json(9007199254740993::bigint) AS bigint_to_json;
SELECT row_to_json(t) AS row_to_json FROM sid_t t WHERE id = 5;
SELECT to_jsonb(t) AS to_jsonb_row FROM sid_t t WHERE id = 5;
SELECT json_build_object('id', id) AS json_build_object,
       jsonb_build_object('id', id) AS jsonb_build_object,
       json_build_array(id) AS json_build_array
  FROM sid_t WHERE id = 5;
SELECT jsonb_agg(id ORDER BY id) AS jsonb_agg, json_agg(id ORDER BY id) AS json_agg,
       json_object_agg(i, id ORDER BY i) AS json_object_agg,
       to_json(array_agg(id ORDER BY id)) AS array_to_json
  FROM sid_t WHERE id <= 7;
SELECT jsonb_typeof(to_jsonb(id)) AS minted_type,
       (to_jsonb(id) #>> '{}')::snowflake_id = id AS round_trips
  FROM sid_t WHERE id > 7 ORDER BY id LIMIT 1;
-- And back: a JSON string or number reads into a snowflake_id.
SELECT ('{"id": "9007199254740993"}'::jsonb ->> 'id')::snowflake_id AS from_string,
       ('{"id": 9007199254740993}'::jsonb ->> 'id')::snowflake_id AS from_number;
SELECT * FROM jsonb_to_record('{"id": "9007199254740993"}') AS r(id snowflake_id);
-- A domain over the type is a string too.
CREATE DOMAIN sid_dom AS snowflake_id;
SELECT to_json('12'::sid_dom) AS domain_json;
DROP DOMAIN sid_dom;

--
-- Binary I/O: the wire format is a bigint's; negatives are refused.
--
SELECT snowflake_id_send('258'::snowflake_id) AS send, int8send(258) AS bigint_send;

--
-- Converting a column: bigint to snowflake_id checks every value;
-- snowflake_id back to bigint needs no rewrite of the table.
--
CREATE TABLE sid_conv (id bigint PRIMARY KEY);
INSERT INTO sid_conv VALUES (1), (2), (-3);
ALTER TABLE sid_conv ALTER COLUMN id TYPE snowflake_id;
\echo SQLSTATE :SQLSTATE
DELETE FROM sid_conv WHERE id < 0;
ALTER TABLE sid_conv ALTER COLUMN id TYPE snowflake_id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'sid_conv'::regclass AND attname = 'id';
SELECT pg_relation_filenode('sid_conv') AS before \gset
ALTER TABLE sid_conv ALTER COLUMN id TYPE bigint;
SELECT pg_relation_filenode('sid_conv') = :before AS back_to_bigint_without_rewrite;
DROP TABLE sid_conv;

--
-- The text form: 13 characters of Crockford base32, zero-padded.
--
SELECT snowflake_to_text(0) AS zero, snowflake_to_text(1) AS one,
       snowflake_to_text(31) AS thirty_one, snowflake_to_text(32) AS thirty_two,
       snowflake_to_text(9223372036854775807) AS max,
       snowflake_to_text(199328941490585599) AS example;
SELECT snowflake_from_text('0000000000000') AS zero,
       snowflake_from_text('000000000000Z') AS thirty_one,
       snowflake_from_text('7ZZZZZZZZZZZZ') AS max,
       snowflake_from_text('05H18KPZG0FZZ') AS example;
-- Lower case reads the same; I and L read as 1 and O as 0, as Crockford asks.
SELECT snowflake_from_text('05h18kpzg0fzz') AS lower_case,
       snowflake_from_text('0000000000001') = snowflake_from_text('000000000000I') AS i_is_1,
       snowflake_from_text('000000000000l') = 1 AS l_is_1,
       snowflake_from_text('00000000000O0') = 0 AS o_is_0;
-- It takes a snowflake_id, and the result casts back to one.
SELECT snowflake_to_text(id) AS sid_text, snowflake_from_text(snowflake_to_text(id))::snowflake_id = id AS round_trip
  FROM sid_t WHERE id = 5;
SELECT snowflake_to_text(NULL) IS NULL AS null_to, snowflake_from_text(NULL) IS NULL AS null_from;
-- Refusals: negative IDs, wrong lengths, characters outside the alphabet
-- (U, hyphens, spaces, non-ASCII), and values past a bigint.
SELECT snowflake_to_text(-1);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('000000000000');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('00000000000000');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('000000000000U');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('0000-00000000');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text(' 000000000000');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('0000000000é0');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('8000000000000');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_text('ZZZZZZZZZZZZZ');
\echo SQLSTATE :SQLSTATE

-- Round trips and order over random IDs (a fixed seed; only the verdicts
-- are printed), over the edges, and over minted IDs.
SELECT setseed(0.25);
CREATE TEMP TABLE sid_random AS
SELECT (floor(random() * 2147483648)::bigint << 32) | floor(random() * 4294967296)::bigint AS id
  FROM generate_series(1, 5000)
UNION ALL
SELECT unnest(ARRAY[0, 1, 31, 32, 1023, 1024, 4294967295, 4294967296,
                    9223372036854775806, 9223372036854775807]::bigint[])
UNION ALL
SELECT id FROM sid_t;
SELECT count(*) AS ids,
       bool_and(snowflake_from_text(snowflake_to_text(id)) = id) AS round_trip,
       bool_and(snowflake_from_text(lower(snowflake_to_text(id))) = id) AS lower_round_trip,
       bool_and(length(snowflake_to_text(id)) = 13) AS fixed_width,
       bool_and(snowflake_to_text(id) ~ '^[0-7][0-9A-HJKMNP-TV-Z]{12}$') AS alphabet
  FROM sid_random;
-- Sorting by the text (byte order) and by the number give the same order.
SELECT bool_and(by_text = by_id) AS order_preserved, count(*) AS compared
  FROM (SELECT row_number() OVER (ORDER BY snowflake_to_text(id) COLLATE "C") AS by_text,
               row_number() OVER (ORDER BY id) AS by_id
          FROM (SELECT DISTINCT id FROM sid_random) d) o;
-- Pairwise, too, with neighbours in random order.
SELECT bool_and((a < b) = (snowflake_to_text(a) COLLATE "C" < snowflake_to_text(b) COLLATE "C")
                AND (a = b) = (snowflake_to_text(a) = snowflake_to_text(b))) AS pairs_agree
  FROM (SELECT id AS a, lead(id) OVER (ORDER BY random()) AS b FROM sid_random) p
 WHERE b IS NOT NULL;

-- Foreign keys between snowflake_id and bigint, both ways.
CREATE TABLE sid_fk (ref bigint REFERENCES sid_t (id));
INSERT INTO sid_fk VALUES (5);
INSERT INTO sid_fk VALUES (4);
\echo SQLSTATE :SQLSTATE
DELETE FROM sid_t WHERE id = 5;
\echo SQLSTATE :SQLSTATE
CREATE TABLE sid_fk2 (ref snowflake_id REFERENCES sid_ref (ref));
INSERT INTO sid_fk2 SELECT ref FROM sid_ref ORDER BY ref LIMIT 1;
INSERT INTO sid_fk2 VALUES (4);
\echo SQLSTATE :SQLSTATE
DROP TABLE sid_fk, sid_fk2;

DROP VIEW sid_ops;
DROP TABLE sid_t, sid_ref;
