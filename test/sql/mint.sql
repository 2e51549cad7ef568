--
-- mint: snowflake_nextval()
--
-- Assumes the extension exists (created by the layouts test) and the
-- configuration of test/snowflake.conf: the library preloaded, the default
-- layout, snowflake.worker_slots = 8 and snowflake.worker_id = -1, so this
-- server mints under 8 worker IDs from 0 to 7.  IDs depend on the clock,
-- so only their properties are printed.
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- One ID: positive, decodes to now, to one of this server's worker IDs.
SELECT snowflake_nextval() AS id \gset
SELECT :id > 0 AS positive,
       snowflake_timestamp(:id) BETWEEN now() - interval '5 seconds'
                                    AND clock_timestamp() + interval '5 seconds' AS ts_is_now,
       snowflake_worker_id(:id) BETWEEN 0 AND 7 AS worker_in_slots,
       snowflake_sequence(:id) BETWEEN 0 AND 4095 AS sequence_in_range,
       (snowflake_decode(:id)).region IS NULL AS no_region;

-- A second call in the same statement, and in the next one, is larger.
SELECT a < b AS increasing FROM (SELECT snowflake_nextval() a, snowflake_nextval() b) s;
SELECT snowflake_nextval() > :id AS above_first;

-- Many calls: 50,000 IDs, one per row, more than one worker ID's 4,096 per
-- millisecond, so the session runs through several slots.  Every ID is
-- above the one before (rows numbered in the order they were minted).
CREATE TEMP TABLE mint_ids (n bigserial, id bigint NOT NULL);
INSERT INTO mint_ids (id) SELECT snowflake_nextval() FROM generate_series(1, 50000);
SELECT count(*) AS ids,
       count(DISTINCT id) AS distinct_ids,
       bool_and(id > prev) AS strictly_increasing
  FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev FROM mint_ids) s;
SELECT bool_and(snowflake_worker_id(id) BETWEEN 0 AND 7) AS workers_in_slots,
       bool_and(snowflake_timestamp(id) BETWEEN now() - interval '5 seconds'
                                            AND clock_timestamp() + interval '5 seconds') AS ts_is_now,
       min(id) > :id AS above_earlier_calls
  FROM mint_ids;
-- Decoded parts are ordered as the IDs are: (time, worker, sequence).
SELECT bool_and((d.ts, d.worker_id, d.sequence) > (p.ts, p.worker_id, p.sequence)) AS parts_increasing
  FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev FROM mint_ids) s,
       snowflake_decode(s.id) d, snowflake_decode(s.prev) p
 WHERE s.prev IS NOT NULL;

-- One call at a time, from PL/pgSQL: each ID above the last.
DO $$
DECLARE
    prev bigint := snowflake_nextval();
    cur bigint;
BEGIN
    FOR i IN 1 .. 20000 LOOP
        cur := snowflake_nextval();
        IF cur <= prev THEN
            RAISE EXCEPTION 'call %: % is not above %', i, cur, prev;
        END IF;
        prev := cur;
    END LOOP;
    RAISE NOTICE '20000 calls, each ID above the one before';
END
$$;

-- A column default: every row gets its own ID, in insertion order.
CREATE TABLE mint_orders (
    id bigint PRIMARY KEY DEFAULT snowflake_nextval(),
    n integer NOT NULL,
    note text
);
INSERT INTO mint_orders (n, note) VALUES (1, 'first'), (2, 'second'), (3, 'third');
INSERT INTO mint_orders (n) SELECT g FROM generate_series(4, 10000) g;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
       bool_and(id > 0) AS all_positive
  FROM mint_orders;
SELECT bool_and(id > prev) AS increasing_with_n
  FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev FROM mint_orders) s;
SELECT n, note, snowflake_worker_id(id) BETWEEN 0 AND 7 AS worker_in_slots
  FROM mint_orders WHERE n <= 3 ORDER BY id;
-- ... and the default fills rows of a COPY too.
COPY mint_orders (n, note) FROM stdin;
10001	copied
10002	copied too
\.
SELECT count(*) AS copied, bool_and(id > (SELECT max(id) FROM mint_orders WHERE n <= 10000)) AS after_the_rest
  FROM mint_orders WHERE n > 10000;
-- Rows minted "since a minute ago" are all of them.
SELECT count(*) AS recent FROM mint_orders
 WHERE id >= snowflake_from_timestamp(now() - interval '1 minute');
DROP TABLE mint_orders;

-- A rolled-back transaction's IDs are gone, never handed out again: later
-- IDs are still above them.
BEGIN;
SELECT snowflake_nextval() AS rolled_back_id \gset
ROLLBACK;
SELECT snowflake_nextval() > :rolled_back_id AS above_rolled_back;

-- nextval is VOLATILE: each row of a query gets a new ID, even when the
-- call looks constant.
SELECT count(DISTINCT id) AS distinct_ids
  FROM (SELECT snowflake_nextval() AS id FROM generate_series(1, 1000)) s;

DROP TABLE mint_ids;
