--
-- define_layout: layouts added with snowflake_define_layout()
--
-- Assumes the extension exists (created by the layouts test).  Creates the
-- role regress_snowflake_definer and drops it at the end.
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- Nothing defined yet.
SELECT count(*) FROM snowflake_layout;

-- Milliseconds since 1970, Twitter's widths.  The epoch is before 2000, so
-- timestamps before 2000 are negative inside PostgreSQL: they still round
-- down to the millisecond.
SELECT snowflake_define_layout('unix_ms', '1970-01-01 00:00:00+00', 41, 10, 12);
SELECT snowflake_encode('1999-12-31 23:59:59.9995+00', 1, 2, 'unix_ms') AS id,
       (946684799999::bigint << 22) | (1 << 12) | 2 AS by_hand;
SELECT * FROM snowflake_decode((946684799999::bigint << 22) | (1 << 12) | 2, 'unix_ms');
SELECT snowflake_from_timestamp('1970-01-01 00:00:00.000999+00', 'unix_ms') AS at_epoch;

-- Sonyflake rebuilt by hand: 10 ms units, the sequence above the machine.
SELECT snowflake_define_layout('sony_again', '2014-09-01 00:00:00+00', 39, 16, 8,
                               time_unit => '10 milliseconds',
                               sequence_above_worker => true);
SELECT snowflake_encode('2020-02-02 20:20:20.209+00', 48879, 255, 'sony_again') AS id,
       snowflake_encode('2020-02-02 20:20:20.209+00', 48879, 255, 'sony_again')
       = snowflake_encode('2020-02-02 20:20:20.209+00', 48879, 255, 'sonyflake') AS same_as_builtin;
SELECT * FROM snowflake_decode(287134032683056879, 'sony_again');

-- Whole days as the unit, 64 bits in all (20 time, 22 worker, 22
-- sequence): the sign bit stays clear, so 19 bits of days are usable.
SELECT snowflake_define_layout('daily', '2000-01-01 00:00:00+00', 20, 22, 22, '1 day');
SELECT snowflake_encode('2024-02-29 13:00:00+00', 4194303, 7, 'daily') AS id,
       (8825::bigint << 44) | (4194303::bigint << 22) | 7 AS by_hand;
SELECT * FROM snowflake_decode((8825::bigint << 44) | (4194303::bigint << 22) | 7, 'daily');
SELECT snowflake_timestamp(9223372036854775807, 'daily') AS last_day,
       timestamptz '2000-01-01 00:00:00+00' + 524287 * interval '1 day' AS by_hand;

-- No worker bits at all; a name that needs quoting in SQL.
SELECT snowflake_define_layout('o''brien; drop table x', '2024-01-01 00:00:00+00', 51, 0, 12);
SELECT * FROM snowflake_decode(4097, 'o''brien; drop table x');
SELECT snowflake_encode('2024-01-01 00:00:00.001+00', 0, 1, 'o''brien; drop table x');

-- Layouts live in the snowflake_layout table, which pg_dump dumps.
SELECT * FROM snowflake_layout ORDER BY name;
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'snowflake';

-- A new session reads them from the table.
\c
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT * FROM snowflake_decode((946684799999::bigint << 22) | (1 << 12) | 2, 'unix_ms');
SELECT * FROM snowflake_decode(287134032683056879, 'sony_again');
SELECT snowflake_encode('2024-02-29 13:00:00+00', 4194303, 7, 'daily');

-- Defined layouts obey the same rules as built-in ones.
SELECT snowflake_encode('1969-12-31 23:59:59.999+00', 0, 0, 'unix_ms');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2024-01-01+00', 1024, 0, 'unix_ms');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2024-01-01+00', 1, 0, 'o''brien; drop table x');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_timestamp(-1, 'daily');
\echo SQLSTATE :SQLSTATE

--
-- A name is taken once, for good (42710).
--
SELECT snowflake_define_layout('unix_ms', '1970-01-01 00:00:00+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('unix_ms', '2000-01-01 00:00:00+00', 40, 11, 12);
\echo SQLSTATE :SQLSTATE
-- Built-in names are taken too.
SELECT snowflake_define_layout('snowflake', '2024-01-01 00:00:00+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('twitter', '2010-11-04 01:42:54.657+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('discord', '2015-01-01 00:00:00+00', 42, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('instagram', '2015-01-01 00:00:00+00', 41, 13, 10);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('sonyflake', '2015-01-01 00:00:00+00', 39, 16, 8, '10 ms', true);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('pgedge', '2023-01-01 00:00:00+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE

--
-- Widths, units and epochs that cannot work (22023).
--
-- bits must add up to 63 or 64
SELECT snowflake_define_layout('bad', '2024-01-01+00', 40, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 43, 10, 12);
\echo SQLSTATE :SQLSTATE
-- every width non-negative, the time field at least one bit
SELECT snowflake_define_layout('bad', '2024-01-01+00', 0, 32, 32);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 52, -1, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 52, 12, -1);
\echo SQLSTATE :SQLSTATE
-- worker and sequence fields fit an integer
SELECT snowflake_define_layout('bad', '2024-01-01+00', 31, 32, 0);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 31, 0, 32);
\echo SQLSTATE :SQLSTATE
-- the last time value must still be a timestamp PostgreSQL can show
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '1 day');
\echo SQLSTATE :SQLSTATE
-- the unit: a positive, whole number of milliseconds, no months
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '1.5 ms');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '1 microsecond');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '0');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '-1 ms');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '1 month');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '1 year');
\echo SQLSTATE :SQLSTATE
-- the epoch: finite, whole milliseconds
SELECT snowflake_define_layout('bad', '2024-01-01 00:00:00.0005+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', 'infinity', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '-infinity', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
-- the name: 1 to 63 characters
SELECT snowflake_define_layout('', '2024-01-01+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout(repeat('x', 64), '2024-01-01+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
-- NULL arguments (22004)
SELECT snowflake_define_layout(NULL, '2024-01-01+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', NULL, 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', NULL, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, NULL);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('bad', '2024-01-01+00', 41, 10, 12, '1 ms', NULL);
\echo SQLSTATE :SQLSTATE
-- none of them left a row behind
SELECT count(*) FROM snowflake_layout WHERE name = 'bad';

--
-- A layout defined in a transaction that rolls back does not exist, in
-- this session either; the name is free again.
--
BEGIN;
SELECT snowflake_define_layout('rolled_back', '2020-01-01 00:00:00+00', 41, 10, 12);
SELECT * FROM snowflake_decode(4194304, 'rolled_back');
ROLLBACK;
SELECT count(*) FROM snowflake_layout WHERE name = 'rolled_back';
SELECT * FROM snowflake_decode(4194304, 'rolled_back');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_define_layout('rolled_back', '2021-01-01 00:00:00+00', 39, 12, 12);
SELECT * FROM snowflake_decode(4194304, 'rolled_back');

--
-- Only a superuser or the extension's owner may define layouts (42501);
-- anyone may read and use them.
--
CREATE ROLE regress_snowflake_definer;
SET ROLE regress_snowflake_definer;
SELECT snowflake_define_layout('mine', '2024-01-01+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION snowflake_define_layout(text, timestamptz, integer,
    integer, integer, interval, boolean) TO regress_snowflake_definer;
SET ROLE regress_snowflake_definer;
SELECT snowflake_define_layout('mine', '2024-01-01+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
INSERT INTO snowflake_layout (name, epoch, time_bits, worker_bits, sequence_bits)
    VALUES ('mine', '2024-01-01+00', 41, 10, 12);
\echo SQLSTATE :SQLSTATE
SELECT name FROM snowflake_layout ORDER BY name;
SELECT * FROM snowflake_decode((946684799999::bigint << 22) | (1 << 12) | 2, 'unix_ms');
SELECT snowflake_encode('2024-02-29 13:00:00+00', 4194303, 7, 'daily');
RESET ROLE;
SELECT count(*) FROM snowflake_layout WHERE name = 'mine';
REVOKE EXECUTE ON FUNCTION snowflake_define_layout(text, timestamptz, integer,
    integer, integer, interval, boolean) FROM regress_snowflake_definer;
DROP ROLE regress_snowflake_definer;
