--
-- layout_unit: the time unit and time range of defined layouts, and how a
-- defined layout is read back from the snowflake_layout table
--
-- Assumes the extension exists (created by the layouts test).  Leaves the
-- layouts it defines in snowflake_layout (layouts cannot be removed);
-- creates the schema regress_shadow and drops it at the end.
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

--
-- A unit whose days and time add up to more microseconds than a bigint
-- holds is out of range (22008), never taken for what the sum wraps to.
--
-- 2147483647 days -298651767:41:44.48284 would wrap to exactly 1 ms, and
-- -2147483648 days 298651791:41:44.48484 too.
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12,
                               interval '2147483647 days -298651767:41:44.48284');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12,
                               interval '-2147483648 days 298651791:41:44.48484');
\echo SQLSTATE :SQLSTATE
-- the most days an interval holds, either way
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '2147483647 days');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '-2147483648 days');
\echo SQLSTATE :SQLSTATE
-- 106751992 days is the first whole day past a bigint of microseconds
SELECT snowflake_define_layout('bad', '2024-01-01+00', 1, 31, 31, '106751992 days');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 1, 31, 31, '106751991 days 04:00:54.776');
\echo SQLSTATE :SQLSTATE

-- Units a bigint holds that are still too long, or not positive (22023).
-- 106751991 days fits a bigint of microseconds, but not two of them in
-- PostgreSQL's timestamps
SELECT snowflake_define_layout('bad', '2024-01-01+00', 1, 31, 31, '106751991 days');
\echo SQLSTATE :SQLSTATE
-- the largest time an interval holds, in whole milliseconds
SELECT snowflake_define_layout('bad', '2024-01-01+00', 1, 31, 31, '2562047788:00:54.775');
\echo SQLSTATE :SQLSTATE
-- days and time of opposite signs that add up to a negative or zero unit
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '-106751991 days 1000:00:00');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '1 day -24:00:00');
\echo SQLSTATE :SQLSTATE
-- 63 or 64 time bits of 1 ms run past the last timestamp
SELECT snowflake_define_layout('bad', '2000-01-01+00', 63, 0, 0);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2000-01-01+00', 64, 0, 0);
\echo SQLSTATE :SQLSTATE
-- one day longer than longest_unit below
SELECT snowflake_define_layout('bad', '2000-01-01+00', 1, 31, 31, '53375992 days');
\echo SQLSTATE :SQLSTATE
-- an epoch so late that the second time value has no timestamp
SELECT snowflake_define_layout('bad', '294276-12-31 23:59:59.998+00', 1, 31, 31);
\echo SQLSTATE :SQLSTATE
-- none of them left a row behind
SELECT count(*) FROM snowflake_layout WHERE name = 'bad';

--
-- Boundaries that work.
--
-- Days and time of opposite signs: the unit is their sum.
SELECT snowflake_define_layout('day_less', '2024-01-01+00', 41, 10, 12,
                               interval '1 day -23:59:59.999');
SELECT snowflake_encode('2024-01-01 00:00:00.005+00', 1, 2, 'day_less') AS id,
       (5::bigint << 22) | (1 << 12) | 2 AS by_hand;

-- One time bit, so two time values from the epoch 2000-01-01: the longest
-- whole-day unit whose range ends inside PostgreSQL's timestamps (its last
-- day, 294276-12-31, is left over).
SELECT snowflake_define_layout('longest_unit', '2000-01-01+00', 1, 31, 31,
                               '53375991 days');
SELECT snowflake_timestamp(0, 'longest_unit') AS first,
       snowflake_timestamp(9223372036854775807, 'longest_unit') AS second;
SELECT * FROM snowflake_decode(9223372036854775807, 'longest_unit');
SELECT snowflake_encode('294276-12-30 23:59:59.999999+00', 2147483647, 2147483647,
                        'longest_unit') AS last_id;
SELECT snowflake_from_timestamp('294276-12-30 23:59:59.999999+00', 'longest_unit') AS at_end,
       snowflake_from_timestamp('148138-07-01 23:59:59.999+00', 'longest_unit') AS before_second,
       snowflake_from_timestamp('2000-01-01 00:00:00+00', 'longest_unit') AS at_epoch;
-- outside it on either side (22008)
SELECT snowflake_from_timestamp('294276-12-31 00:00:00+00', 'longest_unit');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('1999-12-31 23:59:59.999999+00', 'longest_unit');
\echo SQLSTATE :SQLSTATE

-- The latest epoch one time bit of 1 ms allows.
SELECT snowflake_define_layout('latest_epoch', '294276-12-31 23:59:59.997+00', 1, 31, 31);
SELECT snowflake_timestamp(9223372036854775807, 'latest_epoch') AS last;
SELECT snowflake_encode('294276-12-31 23:59:59.998999+00', 5, 6, 'latest_epoch') AS id,
       (1::bigint << 62) | (5::bigint << 31) | 6 AS by_hand;

-- The earliest epoch there is, and the largest time value of 41 bits.
SELECT snowflake_define_layout('earliest_epoch', '4714-11-24 00:00:00+00 BC', 41, 10, 12);
SELECT * FROM snowflake_decode(0, 'earliest_epoch');
SELECT * FROM snowflake_decode(9223372036854775807, 'earliest_epoch');
SELECT snowflake_from_timestamp('4714-11-24 00:00:00+00 BC', 'earliest_epoch') AS at_epoch,
       snowflake_from_timestamp('4714-11-24 00:00:00.001+00 BC', 'earliest_epoch') AS a_ms_later;

-- A new session reads them back from the table.
\c
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT snowflake_timestamp(9223372036854775807, 'longest_unit') AS longest,
       snowflake_timestamp(9223372036854775807, 'latest_epoch') AS latest,
       snowflake_timestamp(0, 'earliest_epoch') AS earliest,
       snowflake_timestamp(5::bigint << 22, 'day_less') AS day_less;

--
-- A row put into the table by hand is held to the same rules when it is
-- read back: it is refused (XX001) rather than wrapped or rounded.  Each in
-- a transaction that rolls back, as such a row could not be removed.
--
BEGIN;
INSERT INTO snowflake_layout VALUES ('by_hand', '2024-01-01+00', 41, 10, 12,
    interval '2147483647 days -298651767:41:44.48284', false);
SELECT snowflake_timestamp(0, 'by_hand');
ROLLBACK;
BEGIN;
INSERT INTO snowflake_layout VALUES ('by_hand', '2024-01-01+00', 41, 10, 12,
    interval '0.5 ms', false);
SELECT snowflake_timestamp(0, 'by_hand');
ROLLBACK;
BEGIN;
INSERT INTO snowflake_layout VALUES ('by_hand', '2024-01-01+00', 41, 10, 12,
    interval '1 month', false);
SELECT snowflake_timestamp(0, 'by_hand');
ROLLBACK;
BEGIN;
INSERT INTO snowflake_layout VALUES ('by_hand', '2024-01-01 00:00:00.0005+00', 41, 10, 12,
    interval '1 ms', false);
SELECT snowflake_timestamp(0, 'by_hand');
ROLLBACK;

--
-- Reading a layout uses no operator the session's search_path can replace:
-- here a schema ahead of pg_catalog holds an = for text and a * for
-- numeric and integer (no exact match in pg_catalog, so it would win even
-- behind it), both of which say when they run and give wrong answers.
--
SELECT snowflake_define_layout('shadowed', '2014-09-01 00:00:00+00', 39, 16, 8,
                               '10 milliseconds', true);
CREATE SCHEMA regress_shadow;
CREATE FUNCTION regress_shadow.text_eq(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'regress_shadow.= called';
    RETURN true;
END
$$;
CREATE OPERATOR regress_shadow.= (LEFTARG = text, RIGHTARG = text,
                                  FUNCTION = regress_shadow.text_eq);
CREATE FUNCTION regress_shadow.numeric_times(numeric, integer) RETURNS numeric
LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'regress_shadow.* called';
    RETURN $1 OPERATOR(pg_catalog.*) 2000::numeric;
END
$$;
CREATE OPERATOR regress_shadow.* (LEFTARG = numeric, RIGHTARG = integer,
                                  FUNCTION = regress_shadow.numeric_times);
-- a new session, so that nothing is cached yet
\c
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET search_path = regress_shadow, pg_catalog, public;
SELECT * FROM snowflake_decode(287134032683056879, 'shadowed');
SELECT * FROM snowflake_decode(287134032683056879, 'sonyflake');
SELECT snowflake_define_layout('shadowed_too', '2014-09-01 00:00:00+00', 39, 16, 8,
                               '10 milliseconds', true);
RESET search_path;
SELECT name FROM snowflake_layout WHERE name LIKE 'shadowed%' ORDER BY name;
DROP SCHEMA regress_shadow CASCADE;
