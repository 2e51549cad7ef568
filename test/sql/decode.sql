--
-- decode: snowflake_decode, snowflake_timestamp, snowflake_worker_id and
-- snowflake_sequence
--
-- Assumes the extension exists (created by the layouts test) and the
-- default cluster layout: epoch 2024-01-01 00:00:00+00, 41 time bits,
-- 10 worker bits, 12 sequence bits, no region bits.
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- ID 0 is the epoch, worker 0, sequence 0; no region bits, so region is NULL.
SELECT * FROM snowflake_decode(0);

-- One millisecond, one worker, one sequence number.
SELECT * FROM snowflake_decode((1::bigint << 22) | (1 << 12) | 1);

-- A known ID, taken apart by hand and by the functions.
SELECT 199328941490585599 >> 22 AS ms_since_epoch,
       (199328941490585599 >> 12) & 1023 AS worker,
       199328941490585599 & 4095 AS seq;
SELECT * FROM snowflake_decode(199328941490585599);
SELECT snowflake_timestamp(199328941490585599) AS ts,
       snowflake_worker_id(199328941490585599) AS worker_id,
       snowflake_sequence(199328941490585599) AS sequence;
SELECT snowflake_timestamp(199328941490585599)
       = timestamptz '2024-01-01 00:00:00+00' + (199328941490585599 >> 22) * interval '1 ms'
       AS ts_by_hand;

-- The largest ID: the last millisecond of the layout, every bit set.
SELECT * FROM snowflake_decode(9223372036854775807);

-- A NULL layout, or none, is the cluster layout, which is "snowflake".
SELECT (SELECT row(d.*) FROM snowflake_decode(199328941490585599) d)
       = (SELECT row(d.*) FROM snowflake_decode(199328941490585599, NULL) d) AS null_layout,
       (SELECT row(d.*) FROM snowflake_decode(199328941490585599) d)
       = (SELECT row(d.*) FROM snowflake_decode(199328941490585599, 'snowflake') d) AS named_layout;
SELECT snowflake_timestamp(199328941490585599, NULL) = snowflake_timestamp(199328941490585599, 'snowflake') AS ts,
       snowflake_worker_id(199328941490585599, NULL) = snowflake_worker_id(199328941490585599, 'snowflake') AS worker,
       snowflake_sequence(199328941490585599, NULL) = snowflake_sequence(199328941490585599, 'snowflake') AS seq;

-- A NULL ID gives NULL, whatever the layout, even an unknown one.
SELECT * FROM snowflake_decode(NULL);
SELECT * FROM snowflake_decode(NULL, 'twitter');
SELECT snowflake_timestamp(NULL) IS NULL AS ts,
       snowflake_worker_id(NULL) IS NULL AS worker,
       snowflake_sequence(NULL) IS NULL AS seq,
       snowflake_timestamp(NULL, 'discord') IS NULL AS ts_discord,
       snowflake_worker_id(NULL, NULL) IS NULL AS worker_null_layout,
       snowflake_sequence(NULL, 'no such layout') IS NULL AS seq_unknown_layout;
SELECT snowflake_decode(NULL) IS NULL AS decode_is_null;

-- The single-field functions agree with snowflake_decode, in every layout.
SELECT l.layout,
       bool_and(d.ts = snowflake_timestamp(i.id, l.layout)
                AND d.worker_id = snowflake_worker_id(i.id, l.layout)
                AND d.sequence = snowflake_sequence(i.id, l.layout)) AS agree
  FROM (VALUES ('snowflake'), ('twitter'), ('discord'), ('instagram'),
               ('sonyflake'), ('pgedge')) l(layout),
       (VALUES (0::bigint), (1), (4095), (4096), (4194303), (4194304),
               (175928847299117063), (1234567890123456789),
               (9223372036854775806), (9223372036854775807)) i(id),
       snowflake_decode(i.id, l.layout) d
 GROUP BY l.layout ORDER BY l.layout;

-- Decoding is usable in an expression index (IMMUTABLE) and agrees with it.
CREATE TABLE decode_ids (id bigint PRIMARY KEY);
INSERT INTO decode_ids
    SELECT (g::bigint << 22) | ((g % 1024) << 12) | (g % 4096)
      FROM generate_series(0, 9999) g;
CREATE INDEX decode_ids_ts ON decode_ids (snowflake_timestamp(id));
CREATE INDEX decode_ids_worker ON decode_ids (snowflake_worker_id(id));
SET enable_seqscan = off;
SELECT count(*) FROM decode_ids
 WHERE snowflake_timestamp(id) >= '2024-01-01 00:00:05+00';
SELECT count(*) FROM decode_ids WHERE snowflake_worker_id(id) = 7;
RESET enable_seqscan;
SELECT count(*) FROM decode_ids
 WHERE snowflake_timestamp(id) >= '2024-01-01 00:00:05+00';
SELECT count(*) FROM decode_ids WHERE snowflake_worker_id(id) = 7;
DROP TABLE decode_ids;

--
-- Errors
--

-- A negative ID is not a snowflake ID (22003), in every layout.
SELECT * FROM snowflake_decode(-1);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_timestamp(-9223372036854775808);
\echo SQLSTATE :SQLSTATE
SELECT snowflake_worker_id(-4096, 'twitter');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_sequence(-175928847299117063, 'discord');
\echo SQLSTATE :SQLSTATE
SELECT * FROM snowflake_decode(-1, 'sonyflake');
\echo SQLSTATE :SQLSTATE

-- An unknown layout (42704), for each decoding function.
SELECT * FROM snowflake_decode(1, 'nope');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_timestamp(1, 'nope');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_worker_id(1, 'nope');
\echo SQLSTATE :SQLSTATE
SELECT snowflake_sequence(1, 'nope');
\echo SQLSTATE :SQLSTATE
-- Names are longer than any layout's may be: still just unknown.
SELECT snowflake_timestamp(1, repeat('x', 100));
\echo SQLSTATE :SQLSTATE
