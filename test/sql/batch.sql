--
-- batch: snowflake_batch(count)
--
-- Assumes the extension exists (created by the layouts test) and the
-- configuration of test/snowflake.conf (8 slots, worker IDs 0 to 7, the
-- default snowflake.max_batch of 1,000,000).  Creates the role
-- regress_snowflake_batcher and drops it at the end.  IDs depend on the
-- clock, so only their properties are printed.
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- n IDs, strictly increasing in the order returned, all distinct.
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids,
       bool_and(id > prev) AS strictly_increasing
  FROM (SELECT id, lag(id) OVER (ORDER BY ord) AS prev
          FROM snowflake_batch(10) WITH ORDINALITY AS b(id, ord)) s;
SELECT count(*) FROM snowflake_batch(1);

-- A batch larger than one worker ID's 4,096 per millisecond.
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids,
       bool_and(id > prev) AS strictly_increasing,
       bool_and(snowflake_worker_id(id) BETWEEN 0 AND 7) AS workers_in_slots,
       bool_and(snowflake_timestamp(id) BETWEEN now() - interval '5 seconds'
                                            AND clock_timestamp() + interval '5 seconds') AS ts_is_now
  FROM (SELECT id, lag(id) OVER (ORDER BY ord) AS prev
          FROM snowflake_batch(100000) WITH ORDINALITY AS b(id, ord)) s;

-- The largest batch snowflake.max_batch allows by default.
SHOW snowflake.max_batch;
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids
  FROM snowflake_batch(1000000) AS b(id);

-- In the target list too.
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids
  FROM (SELECT snowflake_batch(3) AS id) s;
SELECT snowflake_batch(3) > 0 AS positive;
-- ... once per input row.
SELECT g, count(*)
  FROM (SELECT g, snowflake_batch(g) FROM generate_series(1, 3) g) s
 GROUP BY g ORDER BY g;

-- Batches, single IDs and batches again, in one session: every ID above
-- every ID before it.
CREATE TEMP TABLE batch_ids (n bigserial, id bigint NOT NULL);
INSERT INTO batch_ids (id) SELECT id FROM snowflake_batch(5000) WITH ORDINALITY b(id, ord) ORDER BY ord;
INSERT INTO batch_ids (id) SELECT snowflake_nextval();
INSERT INTO batch_ids (id) SELECT id FROM snowflake_batch(3) WITH ORDINALITY b(id, ord) ORDER BY ord;
INSERT INTO batch_ids (id) SELECT snowflake_nextval() FROM generate_series(1, 5000);
INSERT INTO batch_ids (id) SELECT id FROM snowflake_batch(7000) WITH ORDINALITY b(id, ord) ORDER BY ord;
INSERT INTO batch_ids (id) SELECT snowflake_nextval();
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids,
       bool_and(id > prev) AS strictly_increasing
  FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev FROM batch_ids) s;
DROP TABLE batch_ids;

-- Filling a table from a batch.
CREATE TABLE batch_orders (id bigint PRIMARY KEY, note text);
INSERT INTO batch_orders SELECT id, 'batch' FROM snowflake_batch(2000) id;
SELECT count(*) FROM batch_orders;
DROP TABLE batch_orders;

-- STRICT: a NULL count returns no rows.
SELECT count(*) FROM snowflake_batch(NULL);
SELECT snowflake_batch(NULL);

--
-- Counts out of range (22023)
--
SELECT count(*) FROM snowflake_batch(0);
\echo SQLSTATE :SQLSTATE
SELECT count(*) FROM snowflake_batch(-1);
\echo SQLSTATE :SQLSTATE
SELECT count(*) FROM snowflake_batch(-2147483648);
\echo SQLSTATE :SQLSTATE
SELECT count(*) FROM snowflake_batch(1000001);
\echo SQLSTATE :SQLSTATE
SELECT count(*) FROM snowflake_batch(2147483647);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_batch(0);
\echo SQLSTATE :SQLSTATE

-- A smaller snowflake.max_batch: its value is the largest count allowed.
SET snowflake.max_batch = 5;
SHOW snowflake.max_batch;
SELECT count(*) FROM snowflake_batch(5);
SELECT count(*) FROM snowflake_batch(6);
\echo SQLSTATE :SQLSTATE
SET snowflake.max_batch = 1;
SELECT count(*) FROM snowflake_batch(1);
SELECT count(*) FROM snowflake_batch(2);
\echo SQLSTATE :SQLSTATE
-- out of the GUC's own range
SET snowflake.max_batch = 0;
\echo SQLSTATE :SQLSTATE
RESET snowflake.max_batch;
SHOW snowflake.max_batch;

-- Only a superuser may change snowflake.max_batch (42501); everyone may
-- mint under it.
CREATE ROLE regress_snowflake_batcher;
SET ROLE regress_snowflake_batcher;
SET snowflake.max_batch = 10;
\echo SQLSTATE :SQLSTATE
SHOW snowflake.max_batch;
SELECT count(*) FROM snowflake_batch(10);
SELECT snowflake_nextval() > 0 AS nextval_ok;
RESET ROLE;
DROP ROLE regress_snowflake_batcher;
