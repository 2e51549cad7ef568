--
-- encode: snowflake_encode and snowflake_from_timestamp
--
-- Assumes the extension exists (created by the layouts test) and the
-- default cluster layout: epoch 2024-01-01 00:00:00+00, 41 time bits,
-- 10 worker bits, 12 sequence bits.  The layout covers
-- 2024-01-01 00:00:00+00 to 2093-09-06 15:47:35.551999+00.
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- The first and the last ID of the layout.
SELECT snowflake_encode('2024-01-01 00:00:00+00', 0, 0) AS first_id;
SELECT snowflake_encode('2093-09-06 15:47:35.551999+00', 1023, 4095) AS last_id,
       snowflake_encode('2093-09-06 15:47:35.551999+00', 1023, 4095) = 9223372036854775807 AS is_max;

-- Fields land in their bits.
SELECT snowflake_encode('2024-01-01 00:00:00.001+00', 0, 0) = 1::bigint << 22 AS one_ms,
       snowflake_encode('2024-01-01 00:00:00+00', 1, 0) = 1::bigint << 12 AS one_worker,
       snowflake_encode('2024-01-01 00:00:00+00', 0, 1) = 1 AS one_sequence,
       snowflake_encode('2024-01-01 00:00:00+00', 1023, 0) = 1023::bigint << 12 AS max_worker,
       snowflake_encode('2024-01-01 00:00:00+00', 0, 4095) = 4095 AS max_sequence;

-- Time is rounded down to the unit: microseconds within a millisecond do
-- not count, nor milliseconds within sonyflake's 10 ms.
SELECT snowflake_encode('2024-01-01 00:00:00.000999+00', 0, 0) AS sub_ms;
SELECT snowflake_encode('2025-07-04 01:02:03.004999+00', 3, 4095)
       = snowflake_encode('2025-07-04 01:02:03.004+00', 3, 4095) AS floor_ms;
SELECT snowflake_encode('2020-02-02 20:20:20.200+00', 1, 1, 'sonyflake')
       = snowflake_encode('2020-02-02 20:20:20.209999+00', 1, 1, 'sonyflake') AS floor_10ms,
       snowflake_encode('2020-02-02 20:20:20.210+00', 1, 1, 'sonyflake')
       - snowflake_encode('2020-02-02 20:20:20.209999+00', 1, 1, 'sonyflake') = 1::bigint << 24 AS next_unit;

-- The time zone of the input does not matter, only the instant.
SELECT snowflake_encode('2025-07-04 03:02:03.004+02', 3, 4095)
       = snowflake_encode('2025-07-04 01:02:03.004+00', 3, 4095) AS same_instant;

-- encode and decode are inverse, in every layout.
SELECT l.layout,
       bool_and(snowflake_encode(d.ts, d.worker_id, d.sequence, l.layout) = i.id) AS round_trip
  FROM (VALUES ('snowflake'), ('twitter'), ('discord'), ('instagram'),
               ('sonyflake'), ('pgedge')) l(layout),
       (VALUES (0::bigint), (1), (4095), (4096), (4194303), (4194304),
               (175928847299117063), (1234567890123456789),
               (9223372036854775806), (9223372036854775807)) i(id),
       snowflake_decode(i.id, l.layout) d
 GROUP BY l.layout ORDER BY l.layout;

-- NULL in: NULL out.  A NULL layout is the cluster layout.
SELECT snowflake_encode(NULL, 0, 0) IS NULL AS null_ts,
       snowflake_encode('2025-01-01+00', NULL, 0) IS NULL AS null_worker,
       snowflake_encode('2025-01-01+00', 0, NULL) IS NULL AS null_sequence,
       snowflake_encode(NULL, 0, 0, 'twitter') IS NULL AS null_ts_twitter,
       snowflake_from_timestamp(NULL) IS NULL AS from_null,
       snowflake_from_timestamp(NULL, 'discord') IS NULL AS from_null_discord;
SELECT snowflake_encode('2025-07-04 01:02:03.004+00', 3, 4095, NULL)
       = snowflake_encode('2025-07-04 01:02:03.004+00', 3, 4095) AS null_layout,
       snowflake_encode('2025-07-04 01:02:03.004+00', 3, 4095, 'snowflake')
       = snowflake_encode('2025-07-04 01:02:03.004+00', 3, 4095) AS named_layout,
       snowflake_from_timestamp('2025-07-04 01:02:03.004+00', NULL)
       = snowflake_from_timestamp('2025-07-04 01:02:03.004+00') AS from_null_layout;

--
-- snowflake_from_timestamp: the smallest ID any worker can mint at ts.
--
SELECT snowflake_from_timestamp('2024-01-01 00:00:00+00') AS at_epoch,
       snowflake_from_timestamp('2025-07-04 01:02:03.004+00') AS at_ts,
       47523723004::bigint << 22 AS by_hand;
SELECT snowflake_from_timestamp(ts, l) = snowflake_encode(ts, 0, 0, l) AS is_worker_0_sequence_0
  FROM (VALUES ('2025-07-04 01:02:03.004567+00'::timestamptz)) t(ts),
       (VALUES ('snowflake'), ('twitter'), ('discord'), ('instagram'),
               ('sonyflake'), ('pgedge')) l(l)
 ORDER BY l;
-- Every ID of that millisecond is at or above it, every earlier one below:
-- the next millisecond's lower bound is one past the largest ID of this one.
SELECT snowflake_from_timestamp('2025-07-04 01:02:03.005+00') - 1
       = snowflake_encode('2025-07-04 01:02:03.004+00', 1023, 4095) AS adjacent,
       snowflake_from_timestamp('2025-07-04 01:02:03.004+00')
       > snowflake_encode('2025-07-04 01:02:03.003999+00', 1023, 4095) AS above_earlier;

-- Range queries on an ID column: WHERE id >= snowflake_from_timestamp(...)
-- finds exactly the IDs minted at or after that instant.  One ID per
-- millisecond of 2025-01-01 00:00:00 to 00:00:10 (10,000 rows), spread over
-- workers and sequence numbers.
CREATE TABLE encode_events (id bigint PRIMARY KEY, minted_at timestamptz NOT NULL);
INSERT INTO encode_events
    SELECT snowflake_encode(t, (g * 7) % 1024, (g * 13) % 4096), t
      FROM generate_series(0, 9999) g,
           LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + g * interval '1 ms') s(t);
ANALYZE encode_events;
SELECT count(*) AS since_5s,
       count(*) FILTER (WHERE minted_at >= '2025-01-01 00:00:05+00') AS by_minted_at
  FROM encode_events
 WHERE id >= snowflake_from_timestamp('2025-01-01 00:00:05+00');
SELECT count(*) AS between_2s_and_3s
  FROM encode_events
 WHERE id >= snowflake_from_timestamp('2025-01-01 00:00:02+00')
   AND id < snowflake_from_timestamp('2025-01-01 00:00:03+00');
SELECT min(minted_at), max(minted_at)
  FROM encode_events
 WHERE id >= snowflake_from_timestamp('2025-01-01 00:00:09.990+00');
-- The bound is folded to a constant at plan time (IMMUTABLE), so this is an
-- index range scan on the primary key.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM encode_events
 WHERE id >= snowflake_from_timestamp('2025-01-01 00:00:05+00');
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE encode_events;

--
-- Errors
--

-- A worker or sequence that does not fit its field (22003).
SELECT snowflake_encode('2025-01-01+00', 1024, 0);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2025-01-01+00', -1, 0);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2025-01-01+00', 0, 4096);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2025-01-01+00', 0, -1);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2025-01-01+00', 8192, 0, 'instagram');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2025-01-01+00', 0, 1024, 'instagram');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2025-01-01+00', 65536, 0, 'sonyflake');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2025-01-01+00', 0, 256, 'sonyflake');
\echo SQLSTATE :SQLSTATE

-- A timestamp before the epoch or after the layout's end (22008); the
-- detail gives the range the layout covers.
SELECT snowflake_encode('2023-12-31 23:59:59.999999+00', 0, 0);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2093-09-06 15:47:35.552+00', 0, 0);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('2000-01-01 00:00:00+00');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('2100-01-01 00:00:00+00');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('2014-12-31 23:59:59.999+00', 0, 0, 'discord');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('2046-06-27 17:00:49.497+00', 'instagram');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('2014-08-31 23:59:59.999+00', 'sonyflake');
\echo SQLSTATE :SQLSTATE
-- ... and the last instant of the layouts is still inside.
SELECT snowflake_from_timestamp('2046-06-27 17:00:49.496999+00', 'instagram') AS instagram_last,
       snowflake_from_timestamp('2188-11-16 03:28:58.879999+00', 'sonyflake') AS sonyflake_last;

-- Infinite timestamps (22008).
SELECT snowflake_encode('infinity', 0, 0);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_encode('-infinity', 0, 0, 'twitter');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('infinity');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('-infinity', 'pgedge');
\echo SQLSTATE :SQLSTATE

-- An unknown layout (42704).
SELECT snowflake_encode('2025-01-01+00', 0, 0, 'nope');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_from_timestamp('2025-01-01+00', 'nope');
\echo SQLSTATE :SQLSTATE
