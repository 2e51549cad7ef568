--
-- batch_cursor: the IDs of snowflake_batch() keep increasing in the order the
-- session gets them, also when it mints other IDs between two of a batch's
-- rows (a cursor fetched a row at a time, a second function in the same
-- target list)
--
-- Assumes the extension exists (created by the layouts test) and the
-- configuration of test/snowflake.conf.  IDs depend on the clock, so only
-- their order is printed.
--
-- Each ID is recorded by got_add(), called on the row that carries it as
-- the row is computed, which for these queries is as it is returned: the
-- serial column n of "got" numbers the IDs in the order the session got
-- them.
--
CREATE TEMP TABLE got (n bigserial, what text NOT NULL, id bigint NOT NULL);
CREATE FUNCTION pg_temp.got_add(what text, id bigint) RETURNS void
LANGUAGE sql STRICT AS $$ INSERT INTO got (what, id) VALUES (what, id) $$;
-- How many IDs, how many from batches, whether each is above the one
-- before it, how many are not and the position of the first that is not.
CREATE FUNCTION pg_temp.got_in_order(OUT ids bigint, OUT batch_ids bigint,
                                     OUT increasing boolean,
                                     OUT not_above_previous bigint,
                                     OUT first_not_above bigint)
LANGUAGE sql AS $$
    SELECT count(*), count(*) FILTER (WHERE what = 'batch'),
           coalesce(bool_and(id > prev), true),
           count(*) FILTER (WHERE id <= prev),
           min(n) FILTER (WHERE id <= prev) - min(n) + 1
      FROM (SELECT n, what, id, lag(id) OVER (ORDER BY n) AS prev FROM got) s
$$;

-- A cursor over a batch, a row at a time, with single IDs in between, then
-- the rest with FETCH ALL: each ID above the one the session got before it.
BEGIN;
DECLARE c CURSOR FOR SELECT pg_temp.got_add('batch', snowflake_batch(10));
FETCH 1 FROM c;
SELECT pg_temp.got_add('nextval', snowflake_nextval());
FETCH 1 FROM c;
SELECT pg_temp.got_add('nextval', snowflake_nextval());
FETCH ALL FROM c;
COMMIT;
SELECT n, what, id > lag(id) OVER (ORDER BY n) AS above_previous
  FROM got ORDER BY n;
SELECT * FROM pg_temp.got_in_order();
TRUNCATE got;

-- A batch longer than one slot's millisecond (runs of up to 4,096): single
-- IDs after its first row, in the middle of a run and at its end.
BEGIN;
DECLARE c CURSOR FOR SELECT pg_temp.got_add('batch', snowflake_batch(6000));
FETCH 1 FROM c \g /dev/null
SELECT pg_temp.got_add('nextval', snowflake_nextval());
FETCH 2000 FROM c \g /dev/null
SELECT pg_temp.got_add('nextval', snowflake_nextval()) FROM generate_series(1, 3) \g /dev/null
FETCH ALL FROM c \g /dev/null
COMMIT;
SELECT * FROM pg_temp.got_in_order();
TRUNCATE got;

-- Two cursors over batches, fetched in turn.
BEGIN;
DECLARE c1 CURSOR FOR SELECT pg_temp.got_add('batch', snowflake_batch(5));
DECLARE c2 CURSOR FOR SELECT pg_temp.got_add('batch', snowflake_batch(5));
FETCH 1 FROM c1 \g /dev/null
FETCH 1 FROM c2 \g /dev/null
FETCH 2 FROM c1 \g /dev/null
FETCH 1 FROM c2 \g /dev/null
FETCH ALL FROM c1 \g /dev/null
FETCH ALL FROM c2 \g /dev/null
COMMIT;
SELECT * FROM pg_temp.got_in_order();
TRUNCATE got;

-- A batch and snowflake_nextval() in one target list: per row, the batch's
-- ID and then the single one.
SELECT pg_temp.got_add('batch', snowflake_batch(5)),
       pg_temp.got_add('nextval', snowflake_nextval()) \g /dev/null
SELECT * FROM pg_temp.got_in_order();
TRUNCATE got;

-- Two batches in one target list, their rows in turn (the shorter one's
-- column is NULL once it has run out).
SELECT pg_temp.got_add('batch', snowflake_batch(4)),
       pg_temp.got_add('batch', snowflake_batch(3)) \g /dev/null
SELECT * FROM pg_temp.got_in_order();

DROP TABLE got;
