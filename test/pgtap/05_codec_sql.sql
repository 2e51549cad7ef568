-- The plain-SQL codec (extra/snowflake_codec.sql) gives the same answers as
-- the extension's C functions: decode and encode of 10,000 random inputs per
-- built-in layout, the text form of 10,000 random IDs, and, over random bad
-- and edge inputs, the same result or the same SQLSTATE.
--
-- The codec is installed into a schema of its own inside this transaction,
-- and called from a search_path that does not contain it.
--
-- The random seed is printed; to replay a failure, pass it back:
--   PGTAP_SEED=<seed> PGTAP_FILES=test/pgtap/05_codec_sql.sql bash test/pgtap.sh

BEGIN;
SET client_min_messages = warning;
SET LOCAL TimeZone = 'UTC';

\if :{?seed}
\else
SELECT (random() * 2 - 1)::numeric(10, 9) AS seed \gset
\endif
SELECT setseed(:seed) \g /dev/null

SELECT plan(38);
SELECT diag('random seed: ' || :seed);

CREATE SCHEMA codec_test;
SET LOCAL search_path = codec_test;
\ir ../../extra/snowflake_codec.sql
SET LOCAL search_path = public;

SELECT is((SELECT count(*) FROM pg_proc
			WHERE pronamespace = 'codec_test'::regnamespace
			  AND proname LIKE 'snowflake_codec_%'
			  AND prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')),
		  0::bigint, 'the codec has no C function');

-- The codec's "snowflake" is the extension's default layout; this server
-- runs with the default settings, so its C "snowflake" layout is the same.
SELECT ok(current_setting('snowflake.epoch')::timestamptz = '2024-01-01 00:00:00+00'
		  AND current_setting('snowflake.worker_bits') = '10'
		  AND current_setting('snowflake.sequence_bits') = '12'
		  AND current_setting('snowflake.region_bits') = '0',
		  'the server runs the default layout, which is the codec''s "snowflake"');

CREATE TEMP TABLE layouts AS
SELECT l.*
  FROM unnest(ARRAY['snowflake', 'twitter', 'discord', 'instagram', 'sonyflake', 'pgedge']) n,
	   LATERAL codec_test.snowflake_codec_layout(n) l;

-- 63 random bits, shifted right by a random amount: every magnitude.
CREATE FUNCTION pg_temp.random_id() RETURNS bigint LANGUAGE sql VOLATILE AS $$
	SELECT ((floor(random() * 2147483648)::bigint << 32) | floor(random() * 4294967296)::bigint)
		   >> floor(random() * 63)::integer $$;

-- Random IDs: 10,000 per layout, plus the edges.
CREATE TEMP TABLE ids AS
SELECT l.name, i.id
  FROM layouts l,
	   LATERAL (SELECT pg_temp.random_id() AS id FROM generate_series(1, 10000)
				UNION ALL
				SELECT unnest(ARRAY[0, 1, 4095, 4096, 4194303, 4194304,
									9223372036854775806, 9223372036854775807])) i;

SELECT is((SELECT count(*) FROM ids), 6 * 10008::bigint,
		  '10,008 IDs for each of the six built-in layouts');

SELECT is_empty(format($$
	SELECT i.id, c.*, s.*
	  FROM ids i,
		   LATERAL snowflake_decode(i.id, i.name) c,
		   LATERAL codec_test.snowflake_codec_decode(i.id, i.name) s
	 WHERE i.name = %L AND row(c.*) IS DISTINCT FROM row(s.*)
	 LIMIT 5 $$, name),
	format('%s: the codec''s decode equals snowflake_decode on 10,008 IDs', name))
  FROM layouts ORDER BY name;

SELECT is_empty(format($$
	SELECT i.id FROM ids i
	 WHERE i.name = %L
	   AND (snowflake_timestamp(i.id, i.name)
			IS DISTINCT FROM codec_test.snowflake_codec_timestamp(i.id, i.name)
			OR snowflake_worker_id(i.id, i.name)
			IS DISTINCT FROM codec_test.snowflake_codec_worker_id(i.id, i.name)
			OR snowflake_sequence(i.id, i.name)
			IS DISTINCT FROM codec_test.snowflake_codec_sequence(i.id, i.name))
	 LIMIT 5 $$, name),
	format('%s: the codec''s timestamp, worker_id and sequence equal the C ones', name))
  FROM layouts ORDER BY name;

-- Random fields: 10,000 per layout.  The time value has every magnitude
-- and the timestamp falls anywhere inside its unit (encoding rounds down).
CREATE TEMP TABLE fields AS
SELECT l.name, f.units, f.w, f.s,
	   to_timestamp(0)
	   + ((l.epoch_ms + f.units * l.unit_ms) * 1000 + f.off_us) * interval '1 microsecond' AS ts
  FROM layouts l,
	   LATERAL (SELECT least(((floor(random() * 2147483648)::bigint << 32)
							  | floor(random() * 4294967296)::bigint)
							 >> l.time_shift >> floor(random() * (63 - l.time_shift))::integer,
							 l.max_units) AS units,
					   floor(random() * (1 << l.worker_bits))::integer AS w,
					   floor(random() * (1 << l.sequence_bits))::integer AS s,
					   floor(random() * l.unit_ms * 1000)::bigint AS off_us
				  FROM generate_series(1, 10000)) f;

SELECT is_empty(format($$
	SELECT f.ts, f.w, f.s,
		   snowflake_encode(f.ts, f.w, f.s, f.name) AS c,
		   codec_test.snowflake_codec_encode(f.ts, f.w, f.s, f.name) AS s
	  FROM fields f
	 WHERE f.name = %L
	   AND snowflake_encode(f.ts, f.w, f.s, f.name)
		   IS DISTINCT FROM codec_test.snowflake_codec_encode(f.ts, f.w, f.s, f.name)
	 LIMIT 5 $$, name),
	format('%s: the codec''s encode equals snowflake_encode on 10,000 random fields', name))
  FROM layouts ORDER BY name;

SELECT is_empty(format($$
	SELECT f.ts FROM fields f
	 WHERE f.name = %L
	   AND snowflake_from_timestamp(f.ts, f.name)
		   IS DISTINCT FROM codec_test.snowflake_codec_from_timestamp(f.ts, f.name)
	 LIMIT 5 $$, name),
	format('%s: the codec''s from_timestamp equals snowflake_from_timestamp', name))
  FROM layouts ORDER BY name;

-- The encoded IDs are not all alike (a test that could not fail otherwise).
SELECT cmp_ok((SELECT count(DISTINCT snowflake_encode(ts, w, s, name)) FROM fields),
			  '>', 59000::bigint, 'the random fields encode to distinct IDs');

-- Bad and edge inputs: the same result, or an error with the same SQLSTATE.
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE q INTO r;
	RETURN coalesce(r, 'NULL');
EXCEPTION WHEN OTHERS THEN
	RETURN 'ERROR ' || SQLSTATE;
END
$$;

-- Decoding: negative IDs, NULL IDs, NULL and unknown layouts.
CREATE TEMP TABLE bad_decode AS
SELECT i.id, l.layout
  FROM (SELECT -pg_temp.random_id() - 1 AS id FROM generate_series(1, 20)
		UNION ALL SELECT unnest(ARRAY[-1, -9223372036854775807 - 1, NULL, 0, 42])) i,
	   (SELECT unnest(ARRAY['snowflake', 'twitter', 'discord', 'instagram',
							'sonyflake', 'pgedge', NULL, 'no_such_layout', '']) AS layout) l;

SELECT is_empty($$
	SELECT b.id, b.layout, c.o AS c_outcome, s.o AS codec_outcome
	  FROM bad_decode b,
		   LATERAL pg_temp.outcome(format('SELECT row(d.*)::text FROM snowflake_decode(%s, %L) d',
										  coalesce(b.id::text, 'NULL'), b.layout)) c(o),
		   LATERAL pg_temp.outcome(format('SELECT row(d.*)::text FROM codec_test.snowflake_codec_decode(%s, %L) d',
										  coalesce(b.id::text, 'NULL'), b.layout)) s(o)
	 WHERE c.o IS DISTINCT FROM s.o
	 LIMIT 5 $$,
	'decode: negative, NULL and edge IDs, NULL and unknown layouts give the same result or SQLSTATE');

SELECT cmp_ok((SELECT count(*) FROM bad_decode b
				WHERE pg_temp.outcome(format('SELECT snowflake_timestamp(%s, %L)::text',
											 coalesce(b.id::text, 'NULL'), b.layout))
					  IN ('ERROR 22003', 'ERROR 42704')),
			  '>', 100::bigint, 'decode: the bad inputs include refusals of both kinds');

-- Encoding: timestamps anywhere from 4713 BC to 294276 AD and infinite,
-- worker IDs and sequences around their fields' ranges.
CREATE TEMP TABLE bad_encode AS
SELECT l.name AS layout, e.ts, e.w, e.s
  FROM layouts l,
	   LATERAL (SELECT CASE floor(random() * 4)::integer
						   WHEN 0 THEN timestamptz '4713-01-01 00:00:00+00 BC'
									   + floor(random() * 9.2e18)::bigint * interval '1 microsecond'
						   WHEN 1 THEN to_timestamp(l.epoch_ms / 1000.0)
									   + (floor(random() * 2e6)::bigint - 1e6) * interval '1 microsecond'
						   WHEN 2 THEN codec_test.snowflake_codec_units_to_timestamp(l.max_units + 1, l.epoch_ms, l.unit_ms)
									   + (floor(random() * 2e6)::bigint - 1e6) * interval '1 microsecond'
						   ELSE to_timestamp(l.epoch_ms / 1000.0)
								+ floor(random() * 3e9)::bigint * interval '1 second'
					   END AS ts,
					   (floor(random() * ((1 << l.worker_bits) + 10)) - 5)::integer AS w,
					   (floor(random() * ((1 << l.sequence_bits) + 10)) - 5)::integer AS s
				  FROM generate_series(1, 300)) e
UNION ALL
SELECT l, t, 0, 0
  FROM unnest(ARRAY['snowflake', 'twitter', NULL, 'no_such_layout']) l,
	   unnest(ARRAY['infinity', '-infinity', NULL, '2025-01-01 00:00:00+00']::timestamptz[]) t;

SELECT is_empty($$
	SELECT b.*, c.o AS c_outcome, s.o AS codec_outcome
	  FROM bad_encode b,
		   LATERAL pg_temp.outcome(format('SELECT snowflake_encode(%L, %s, %s, %L)::text',
										  b.ts, b.w, b.s, b.layout)) c(o),
		   LATERAL pg_temp.outcome(format('SELECT codec_test.snowflake_codec_encode(%L, %s, %s, %L)::text',
										  b.ts, b.w, b.s, b.layout)) s(o)
	 WHERE c.o IS DISTINCT FROM s.o
	 LIMIT 5 $$,
	'encode: timestamps outside the layout, infinite, and fields out of range give the same result or SQLSTATE');

SELECT is_empty($$
	SELECT b.*, c.o AS c_outcome, s.o AS codec_outcome
	  FROM bad_encode b,
		   LATERAL pg_temp.outcome(format('SELECT snowflake_from_timestamp(%L, %L)::text',
										  b.ts, b.layout)) c(o),
		   LATERAL pg_temp.outcome(format('SELECT codec_test.snowflake_codec_from_timestamp(%L, %L)::text',
										  b.ts, b.layout)) s(o)
	 WHERE c.o IS DISTINCT FROM s.o
	 LIMIT 5 $$,
	'from_timestamp: the same result or SQLSTATE on the same inputs');

SELECT ok((SELECT count(DISTINCT pg_temp.outcome(format('SELECT snowflake_encode(%L, %s, %s, %L)::text',
														  ts, w, s, layout)) ~ '^ERROR')
			 FROM bad_encode) = 2
		  AND (SELECT count(*) FROM bad_encode
				WHERE pg_temp.outcome(format('SELECT snowflake_encode(%L, %s, %s, %L)::text',
											 ts, w, s, layout)) = 'ERROR 22008') > 50
		  AND (SELECT count(*) FROM bad_encode
				WHERE pg_temp.outcome(format('SELECT snowflake_encode(%L, %s, %s, %L)::text',
											 ts, w, s, layout)) = 'ERROR 22003') > 5,
		  'encode: the inputs include IDs and refusals for time (22008) and fields (22003)');

-- The text form: 10,000 random IDs and the edges, both ways.
CREATE TEMP TABLE text_ids AS
SELECT pg_temp.random_id() AS id FROM generate_series(1, 10000)
UNION ALL
SELECT unnest(ARRAY[0, 1, 31, 32, 9223372036854775807]);

SELECT is_empty($$
	SELECT id, snowflake_to_text(id), codec_test.snowflake_codec_to_text(id)
	  FROM text_ids
	 WHERE snowflake_to_text(id) IS DISTINCT FROM codec_test.snowflake_codec_to_text(id)
	 LIMIT 5 $$,
	'the codec''s to_text equals snowflake_to_text on 10,005 IDs');

SELECT is_empty($$
	SELECT id FROM text_ids
	 WHERE codec_test.snowflake_codec_from_text(snowflake_to_text(id)) IS DISTINCT FROM id
		OR codec_test.snowflake_codec_from_text(lower(snowflake_to_text(id))) IS DISTINCT FROM id
	 LIMIT 5 $$,
	'the codec''s from_text reads snowflake_to_text back, in either case');

-- Random strings of 11 to 15 characters from an alphabet with aliases,
-- lower case, U, punctuation and a two-byte letter.
CREATE TEMP TABLE text_inputs AS
SELECT string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZabcxyzILOilouU- é',
						 floor(random() * 49)::integer + 1, 1), '') AS t
  FROM generate_series(1, 3000) g, LATERAL generate_series(1, 11 + g % 5) c
 GROUP BY g
UNION ALL
SELECT substr(pg_temp.random_id()::text || '0000000000000', 1, 13)
  FROM generate_series(1, 1000)
UNION ALL
SELECT unnest(ARRAY['', NULL, '7ZZZZZZZZZZZZ', '8000000000000', '0000000000é0',
					'000000000000U', 'ilo0ILO0ilo0I']);

SELECT is_empty($$
	SELECT t, c.o AS c_outcome, s.o AS codec_outcome
	  FROM text_inputs,
		   LATERAL pg_temp.outcome(format('SELECT snowflake_from_text(%L)::text', t)) c(o),
		   LATERAL pg_temp.outcome(format('SELECT codec_test.snowflake_codec_from_text(%L)::text', t)) s(o)
	 WHERE c.o IS DISTINCT FROM s.o
	 LIMIT 5 $$,
	'from_text: 4,000 random strings give the same ID or SQLSTATE in C and in the codec');

SELECT ok((SELECT count(*) FILTER (WHERE o = 'ERROR 22P02') > 100
				  AND count(*) FILTER (WHERE o = 'ERROR 22003') > 100
				  AND count(*) FILTER (WHERE o !~ '^ERROR') > 300
			 FROM (SELECT pg_temp.outcome(format('SELECT snowflake_from_text(%L)::text', t)) AS o
					 FROM text_inputs) x),
		  'from_text: the random strings include IDs and both kinds of refusal');

SELECT is(pg_temp.outcome('SELECT codec_test.snowflake_codec_to_text(-1)'),
		  pg_temp.outcome('SELECT snowflake_to_text(-1)'),
		  'to_text of a negative ID: the same SQLSTATE');

SELECT * FROM finish();
ROLLBACK;
