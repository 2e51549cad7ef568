-- The text form (snowflake_to_text / snowflake_from_text): 13 characters of
-- Crockford base32 whose byte order is the order of the IDs, read back to
-- the same ID, in either case and with Crockford's aliases; over random
-- IDs of every magnitude, neighbours, and IDs just minted.
--
-- The random seed is printed; to replay a failure, pass it back:
--   PGTAP_SEED=<seed> PGTAP_FILES=test/pgtap/06_text_form.sql bash test/pgtap.sh

BEGIN;
SET client_min_messages = warning;

\if :{?seed}
\else
SELECT (random() * 2 - 1)::numeric(10, 9) AS seed \gset
\endif
SELECT setseed(:seed) \g /dev/null

SELECT plan(12);
SELECT diag('random seed: ' || :seed);

-- 10,000 random IDs of every magnitude (63 random bits shifted right by a
-- random amount), their neighbours, and the edges.
CREATE TEMP TABLE ids AS
SELECT DISTINCT id
  FROM (SELECT ((floor(random() * 2147483648)::bigint << 32)
				| floor(random() * 4294967296)::bigint) >> floor(random() * 63)::integer AS r
		  FROM generate_series(1, 10000)) x,
	   LATERAL (VALUES (r), (least(r, 9223372036854775806) + 1), (greatest(r, 1) - 1)) v(id)
UNION
SELECT unnest(ARRAY[0, 1, 31, 32, 1023, 1024, 4294967295, 4294967296,
					9223372036854775806, 9223372036854775807]);
ALTER TABLE ids ADD COLUMN t text;
UPDATE ids SET t = snowflake_to_text(id);

SELECT cmp_ok((SELECT count(*) FROM ids), '>', 20000::bigint,
			  'over 20,000 distinct IDs: random ones, their neighbours and the edges');

SELECT is_empty($$ SELECT id, t FROM ids WHERE snowflake_from_text(t) IS DISTINCT FROM id LIMIT 5 $$,
				'from_text(to_text(id)) = id');
SELECT is_empty($$ SELECT id, t FROM ids WHERE snowflake_from_text(lower(t)) IS DISTINCT FROM id LIMIT 5 $$,
				'lower case reads back to the same ID');
SELECT is_empty($$ SELECT id, t FROM ids WHERE t !~ '^[0-7][0-9A-HJKMNP-TV-Z]{12}$' LIMIT 5 $$,
				'13 characters of Crockford base32 (no I, L, O, U), the first at most 7');
SELECT is((SELECT count(DISTINCT t) FROM ids), (SELECT count(*) FROM ids),
		  'distinct IDs have distinct text forms');

-- Order: ranking by the text in byte order ranks as the numbers do.
SELECT is_empty($$
	SELECT id, t, by_text, by_id
	  FROM (SELECT id, t, row_number() OVER (ORDER BY t COLLATE "C") AS by_text,
				   row_number() OVER (ORDER BY id) AS by_id
			  FROM ids) o
	 WHERE by_text <> by_id LIMIT 5 $$,
	'sorted by text (COLLATE "C") is sorted by ID');

-- Pairwise, with partners in random order, and with each ID's neighbour.
SELECT is_empty($$
	SELECT a, b
	  FROM (SELECT id AS a, lead(id) OVER (ORDER BY random()) AS b FROM ids) p
	 WHERE b IS NOT NULL
	   AND ((a < b) <> (snowflake_to_text(a) COLLATE "C" < snowflake_to_text(b) COLLATE "C")
			OR (a > b) <> (snowflake_to_text(a) COLLATE "C" > snowflake_to_text(b) COLLATE "C"))
	 LIMIT 5 $$,
	'for random pairs, the texts compare as the IDs do');
SELECT is_empty($$
	SELECT id FROM ids
	 WHERE id < 9223372036854775807
	   AND NOT snowflake_to_text(id) COLLATE "C" < snowflake_to_text(id + 1) COLLATE "C"
	 LIMIT 5 $$,
	'every ID''s text sorts below its successor''s (carries included)');

-- IDs just minted, in the order they were minted.
SELECT is_empty($$
	SELECT ord, id
	  FROM (SELECT ord, id, lag(snowflake_to_text(id)) OVER (ORDER BY ord) AS prev_t
			  FROM snowflake_batch(10000) WITH ORDINALITY AS b(id, ord)) m
	 WHERE prev_t COLLATE "C" >= snowflake_to_text(id) COLLATE "C"
	 LIMIT 5 $$,
	'the texts of 10,000 minted IDs increase as the IDs do');

-- Crockford's aliases: O for 0, I and L for 1, in either case, anywhere.
CREATE TEMP TABLE aliased AS
SELECT id, t,
	   string_agg(CASE substr(t, i, 1)
					  WHEN '0' THEN substr('0Oo', floor(random() * 3)::integer + 1, 1)
					  WHEN '1' THEN substr('1IiLl', floor(random() * 5)::integer + 1, 1)
					  ELSE substr(t, i, 1) END, '' ORDER BY i) AS alias
  FROM (SELECT * FROM ids WHERE t ~ '[01].*[01]' ORDER BY random() LIMIT 2000) s,
	   generate_series(1, 13) i
 GROUP BY id, t;
SELECT cmp_ok((SELECT count(*) FROM aliased WHERE alias <> t), '>', 1000::bigint,
			  'over 1,000 texts spelt with aliases');
SELECT is_empty($$ SELECT id, alias FROM aliased WHERE snowflake_from_text(alias) <> id LIMIT 5 $$,
				'texts spelt with O, o, I, i, L and l read as 0 and 1');

-- Anything else at any position is refused with 22P02.
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
SELECT is_empty($$
	SELECT t, c, pos
	  FROM (SELECT t FROM ids ORDER BY random() LIMIT 200) s,
		   unnest(ARRAY['U', 'u', '-', ' ', '.', '*', '+', 'Ü', '_']) c,
		   LATERAL (SELECT floor(random() * 13)::integer + 1 AS pos) p
	 WHERE pg_temp.sqlstate_of(format('SELECT snowflake_from_text(%L)',
									  overlay(t PLACING c FROM pos FOR 1))) <> '22P02'
	 LIMIT 5 $$,
	'a character outside the alphabet, anywhere, is refused (22P02)');

SELECT * FROM finish();
ROLLBACK;
