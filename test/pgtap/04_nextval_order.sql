-- snowflake_nextval() is strictly increasing within a session: over
-- 100,000 calls in one statement, over 100,000 separate calls from PL/pgSQL,
-- and across the boundary between them; and each ID carries the time it was
-- minted.

BEGIN;
SET client_min_messages = warning;

SELECT plan(9);

-- 100,000 calls inside one statement.
CREATE TEMP TABLE one_statement AS
SELECT g AS ord, snowflake_nextval() AS id, clock_timestamp() AS at
  FROM generate_series(1, 100000) g;

SELECT is((SELECT count(DISTINCT id) FROM one_statement), 100000::bigint,
		  '100,000 calls in one statement give 100,000 distinct IDs');
SELECT is_empty($$
	SELECT ord, id, prev
	  FROM (SELECT ord, id, lag(id) OVER (ORDER BY ord) AS prev
			  FROM one_statement) t
	 WHERE id <= prev LIMIT 5 $$,
	'100,000 calls in one statement are strictly increasing');

-- 100,000 separate calls, each its own expression evaluation.
CREATE TEMP TABLE separate_calls (ord integer, id bigint, lo timestamptz, hi timestamptz);
DO $$
DECLARE
	ids bigint[] := '{}';
	los timestamptz[] := '{}';
	his timestamptz[] := '{}';
	lo timestamptz;
	v bigint;
BEGIN
	FOR i IN 1 .. 100000 LOOP
		lo := clock_timestamp();
		v := snowflake_nextval();
		ids := ids || v;
		los := los || lo;
		his := his || clock_timestamp();
	END LOOP;
	INSERT INTO separate_calls
	SELECT o, ids[o], los[o], his[o] FROM generate_series(1, 100000) o;
END
$$;

SELECT is((SELECT count(DISTINCT id) FROM separate_calls), 100000::bigint,
		  '100,000 separate calls give 100,000 distinct IDs');
SELECT is_empty($$
	SELECT ord, id, prev
	  FROM (SELECT ord, id, lag(id) OVER (ORDER BY ord) AS prev
			  FROM separate_calls) t
	 WHERE id <= prev LIMIT 5 $$,
	'100,000 separate calls are strictly increasing');
SELECT ok((SELECT min(id) FROM separate_calls) > (SELECT max(id) FROM one_statement),
		  'IDs keep increasing from one statement to the next');

-- Across transactions in the same session: a savepoint rolled back does not
-- rewind the generator.
SAVEPOINT s;
CREATE TEMP TABLE before_rollback AS SELECT snowflake_nextval() AS id;
SELECT max(id) AS rolled_back_id FROM before_rollback \gset
ROLLBACK TO SAVEPOINT s;
SELECT cmp_ok(snowflake_nextval(), '>', :rolled_back_id::bigint,
			  'an ID minted after a rollback is above the rolled-back one');

-- Each ID carries the millisecond it was minted in: between the clock just
-- before the call (truncated to the millisecond) and the clock just after.
SELECT is_empty($$
	SELECT ord, id, snowflake_timestamp(id), lo, hi FROM separate_calls
	 WHERE snowflake_timestamp(id) < date_trunc('milliseconds', lo)
		OR snowflake_timestamp(id) > hi
	 LIMIT 5 $$,
	'each ID carries the time it was minted');
SELECT ok((SELECT min(snowflake_timestamp(id)) >= date_trunc('milliseconds', min(at) - interval '1 second')
			  AND max(snowflake_timestamp(id)) <= max(at)
			 FROM one_statement),
		  'IDs minted in one statement carry that statement''s time');

-- The IDs decode under this cluster's layout into configured worker IDs.
SELECT is_empty($$
	SELECT id, snowflake_worker_id(id) FROM separate_calls
	 WHERE snowflake_worker_id(id) NOT IN (SELECT worker_id FROM snowflake_status
										  WHERE worker_id IS NOT NULL)
	 LIMIT 5 $$,
	'every ID carries a worker ID this server holds');

SELECT * FROM finish();
ROLLBACK;
