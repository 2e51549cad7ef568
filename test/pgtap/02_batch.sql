-- snowflake_batch(n): n IDs, strictly increasing, for sizes around the
-- sequence field's 4,096 per millisecond and up to snowflake.max_batch; and
-- consecutive batches (mixed with snowflake_nextval) increase across their
-- boundaries.

BEGIN;
SET client_min_messages = warning;

SELECT plan(28);

CREATE TEMP TABLE batch_sizes (n integer PRIMARY KEY);
INSERT INTO batch_sizes
VALUES (1), (2), (4095), (4096), (4097), (8193), (100000),
	   (current_setting('snowflake.max_batch')::integer);

-- One batch per size: count, distinct, increasing in the order returned.
CREATE TEMP TABLE batch_ids AS
SELECT s.n, b.ord, b.id
  FROM batch_sizes s,
	   LATERAL snowflake_batch(s.n) WITH ORDINALITY AS b(id, ord);

SELECT is((SELECT count(*) FROM batch_ids WHERE n = s.n), s.n::bigint,
		  format('snowflake_batch(%s) returns %s rows', s.n, s.n))
  FROM batch_sizes s ORDER BY s.n;

SELECT is_empty(format($$
	SELECT ord, id, prev
	  FROM (SELECT ord, id, lag(id) OVER (ORDER BY ord) AS prev
			  FROM batch_ids WHERE n = %s) t
	 WHERE id <= prev LIMIT 5 $$, s.n),
	format('snowflake_batch(%s) is strictly increasing', s.n))
  FROM batch_sizes s ORDER BY s.n;

SELECT is((SELECT count(DISTINCT id) FROM batch_ids),
		  (SELECT sum(n)::bigint FROM batch_sizes),
		  'no ID repeats across all the batches');

-- Consecutive batches and single IDs in one session, each its own statement.
CREATE TEMP TABLE steps (step integer, ord bigint, id bigint);
INSERT INTO steps SELECT 1, ord, id FROM snowflake_batch(4096) WITH ORDINALITY b(id, ord);
INSERT INTO steps SELECT 2, ord, id FROM snowflake_batch(4096) WITH ORDINALITY b(id, ord);
INSERT INTO steps SELECT 3, 1, snowflake_nextval();
INSERT INTO steps SELECT 4, ord, id FROM snowflake_batch(1) WITH ORDINALITY b(id, ord);
INSERT INTO steps SELECT 5, ord, id FROM snowflake_batch(4097) WITH ORDINALITY b(id, ord);
INSERT INTO steps SELECT 6, 1, snowflake_nextval();
INSERT INTO steps SELECT 7, ord, id FROM snowflake_batch(100000) WITH ORDINALITY b(id, ord);
INSERT INTO steps SELECT 8, ord, id FROM snowflake_batch(3) WITH ORDINALITY b(id, ord);
INSERT INTO steps SELECT 9, 1, snowflake_nextval();
-- Many small batches in a tight loop, so some share a millisecond.
DO $$
BEGIN
	FOR i IN 10 .. 2009 LOOP
		INSERT INTO steps SELECT i, ord, id
		  FROM snowflake_batch(1 + i % 7) WITH ORDINALITY b(id, ord);
	END LOOP;
END
$$;

SELECT is((SELECT count(*) FROM steps),
		  (4096 + 4096 + 1 + 1 + 4097 + 1 + 100000 + 3 + 1
		   + (SELECT sum(1 + i % 7) FROM generate_series(10, 2009) i))::bigint,
		  'consecutive batches returned every ID asked for');

SELECT is_empty($$
	SELECT step, ord, id, prev
	  FROM (SELECT step, ord, id, lag(id) OVER (ORDER BY step, ord) AS prev
			  FROM steps) t
	 WHERE id <= prev LIMIT 5 $$,
	'consecutive batches and nextval calls increase across their boundaries');

SELECT ok((SELECT min(s.id) FROM steps s) > (SELECT max(id) FROM batch_ids),
		  'later statements mint above earlier batches');

-- Edge cases of the count.
SELECT is((SELECT count(*) FROM snowflake_batch(NULL)), 0::bigint,
		  'snowflake_batch(NULL) returns no rows');
SELECT throws_ok('SELECT * FROM snowflake_batch(0)', '22023', NULL,
				 'snowflake_batch(0) is refused');
SELECT throws_ok('SELECT * FROM snowflake_batch(-1)', '22023', NULL,
				 'snowflake_batch(-1) is refused');
SELECT throws_ok(format('SELECT * FROM snowflake_batch(%s)',
						current_setting('snowflake.max_batch')::integer + 1),
				 '22023', NULL,
				 'snowflake_batch(max_batch + 1) is refused');

-- snowflake.max_batch is settable by a superuser, and binds.
SET LOCAL snowflake.max_batch = 10;
SELECT is((SELECT count(*) FROM snowflake_batch(10)), 10::bigint,
		  'snowflake_batch(max_batch) works after lowering max_batch');
SELECT throws_ok('SELECT * FROM snowflake_batch(11)', '22023', NULL,
				 'snowflake_batch(max_batch + 1) refused after lowering max_batch');

-- Batches used where a set is expected.
SELECT is((SELECT count(*) FROM (SELECT snowflake_batch(5)) t), 5::bigint,
		  'snowflake_batch works in the select list');
SELECT is((SELECT array_length(array_agg(b), 1) FROM snowflake_batch(7) b), 7,
		  'snowflake_batch works in an aggregate');

SELECT * FROM finish();
ROLLBACK;
