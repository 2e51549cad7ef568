--
-- layouts: the SQL surface and the built-in ID layouts
--
-- The first test of the suite: it creates the extension, which the later
-- tests (decode, encode, define_layout, mint, batch, status) reuse.
--
-- Every built-in layout is checked against numbers computed here, in SQL,
-- with plain bit shifts, and against published examples where there are
-- some (Discord's documentation, Instagram's engineering blog).
--
CREATE EXTENSION snowflake;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

SELECT extname, extversion, extrelocatable
  FROM pg_extension WHERE extname = 'snowflake';

-- Names, signatures, volatility, parallel safety and strictness of the
-- contract's functions.
SELECT p.oid::regprocedure AS function,
       pg_get_function_result(p.oid) AS returns,
       p.provolatile AS volatile, p.proparallel AS parallel,
       p.proisstrict AS strict, p.proretset AS setof
  FROM pg_proc p
 WHERE p.proname IN ('snowflake_nextval', 'snowflake_batch',
                     'snowflake_decode', 'snowflake_timestamp',
                     'snowflake_worker_id', 'snowflake_sequence',
                     'snowflake_encode', 'snowflake_from_timestamp',
                     'snowflake_define_layout', 'snowflake_status')
 ORDER BY p.proname;

-- Argument names and defaults, as callers see them.
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments
  FROM pg_proc p
 WHERE p.proname IN ('snowflake_batch', 'snowflake_decode',
                     'snowflake_timestamp', 'snowflake_worker_id',
                     'snowflake_sequence', 'snowflake_encode',
                     'snowflake_from_timestamp', 'snowflake_define_layout')
 ORDER BY p.proname;

-- The cluster layout ("snowflake") these tests assume: the defaults.
SHOW snowflake.epoch;
SHOW snowflake.worker_bits;
SHOW snowflake.sequence_bits;
SHOW snowflake.region_bits;
SHOW snowflake.region;

--
-- Discord, from its API reference ("Snowflakes"):
-- 175928847299117063 is 2016-04-30 11:18:25.796 UTC, internal worker 1,
-- internal process 0, increment 7.  The 10-bit worker field is returned
-- whole: worker 1 << 5 | process 0 = 32.
--
SELECT * FROM snowflake_decode(175928847299117063, 'discord');
SELECT snowflake_worker_id(175928847299117063, 'discord') >> 5 AS internal_worker,
       snowflake_worker_id(175928847299117063, 'discord') & 31 AS internal_process;
SELECT snowflake_encode('2016-04-30 11:18:25.796+00', (1 << 5) | 0, 7, 'discord');
-- the same number, by hand: ms since 2015-01-01 (1420070400000) << 22
SELECT ((1462015105796 - 1420070400000)::bigint << 22) | (32 << 12) | 7 AS by_hand;

--
-- Instagram, from "Sharding & IDs at Instagram": 1387263000 ms after the
-- epoch, shard 1341, sequence 5001 % 1024; 41 time, 13 shard, 10 sequence
-- bits.  Instagram's epoch is 1314220021721 ms after 1970.
--
SELECT (1387263000::bigint << 23) | (1341 << 10) | (5001 % 1024) AS by_hand;
SELECT snowflake_encode(timestamptz 'epoch' + (1314220021721 + 1387263000) * interval '1 ms',
                        1341, 5001 % 1024, 'instagram') AS encoded,
       snowflake_encode(timestamptz 'epoch' + (1314220021721 + 1387263000) * interval '1 ms',
                        1341, 5001 % 1024, 'instagram')
         = ((1387263000::bigint << 23) | (1341 << 10) | (5001 % 1024)) AS matches;
SELECT * FROM snowflake_decode((1387263000::bigint << 23) | (1341 << 10) | (5001 % 1024), 'instagram');
SELECT snowflake_timestamp((1387263000::bigint << 23) | (1341 << 10) | (5001 % 1024), 'instagram')
       = timestamptz 'epoch' + (1314220021721 + 1387263000) * interval '1 ms' AS ts_matches;

--
-- Every built-in layout: encode a known instant, worker and sequence, and
-- compare with the bits computed here.  unit_ms is the time unit; the
-- shifts say where each field sits (sonyflake puts its sequence above the
-- machine ID).
--
CREATE TEMP TABLE layout_cases (
    layout text, epoch_ms bigint, unit_ms bigint,
    time_shift int, worker_shift int, sequence_shift int,
    ts timestamptz, worker int, seq int);
INSERT INTO layout_cases VALUES
    ('twitter',   1288834974657,  1, 22, 12,  0, '2015-06-01 12:34:56.789+00',   513,   42),
    ('discord',   1420070400000,  1, 22, 12,  0, '2016-04-30 11:18:25.796+00',    32,    7),
    ('instagram', 1314220021721,  1, 23, 10,  0, '2011-09-09 22:28:04.721+00',  1341,  905),
    ('sonyflake', 1409529600000, 10, 24,  0, 16, '2020-02-02 20:20:20.209+00', 48879,  255),
    ('pgedge',    1672531200000,  1, 22, 12,  0, '2024-02-29 23:59:59.999+00',  1023,    0),
    ('snowflake', 1704067200000,  1, 22, 12,  0, '2025-07-04 01:02:03.004+00',     3, 4095);

SELECT layout,
       snowflake_encode(ts, worker, seq, layout) AS id,
       snowflake_encode(ts, worker, seq, layout) =
         ((((floor(extract(epoch FROM ts) * 1000)::bigint - epoch_ms) / unit_ms) << time_shift)
          | (worker::bigint << worker_shift)
          | (seq::bigint << sequence_shift)) AS bits_match
  FROM layout_cases ORDER BY layout;

-- Decoding gives the parts back; the timestamp is rounded down to the unit.
SELECT c.layout, d.*
  FROM layout_cases c,
       snowflake_decode(snowflake_encode(c.ts, c.worker, c.seq, c.layout), c.layout) d
 ORDER BY c.layout;

-- Each layout starts at its epoch (ID 0) and ends where its time field
-- runs out (the largest non-negative bigint).
SELECT c.layout,
       snowflake_timestamp(0, c.layout) AS first_instant,
       snowflake_timestamp(0, c.layout) = timestamptz 'epoch' + c.epoch_ms * interval '1 ms' AS is_epoch,
       snowflake_timestamp(9223372036854775807, c.layout) AS last_instant
  FROM layout_cases c ORDER BY c.layout;

-- The largest worker and sequence each layout takes.
SELECT c.layout,
       snowflake_worker_id(9223372036854775807, c.layout) AS max_worker,
       snowflake_sequence(9223372036854775807, c.layout) AS max_sequence
  FROM layout_cases c ORDER BY c.layout;

-- sonyflake: 10 ms units, sequence in bits 16..23, machine in bits 0..15.
SELECT snowflake_encode('2014-09-01 00:00:00.019+00', 5, 3, 'sonyflake') AS id,
       (1::bigint << 24) | (3 << 16) | 5 AS by_hand;
SELECT * FROM snowflake_decode((1::bigint << 24) | (3 << 16) | 5, 'sonyflake');

-- Unknown layout names are an error (42704) that lists the built-in ones.
SELECT snowflake_decode(1, 'flickr');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp(now(), '');
\echo SQLSTATE :SQLSTATE

DROP TABLE layout_cases;
