--
-- status: the snowflake_status view and function, and the configuration
--
-- Assumes the extension exists (created by the layouts test) and the
-- configuration of test/snowflake.conf: the library preloaded, every
-- snowflake.* setting at its default, so 8 slots that lease worker IDs 0 to 7
-- from a fresh embedded coordination table, and the default layout, which runs out at 2093-09-06 15:47:35.551999+00.
--
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- The columns of the view: at least the contract's, with these types.
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'snowflake_status'::regclass AND attnum > 0
   AND attname IN ('worker_id', 'lease_state', 'lease_expires_at',
                   'fencing_deadline', 'last_timestamp', 'high_water_mark',
                   'ids_issued', 'ms_saturated', 'clock_regressions',
                   'max_regression_ms', 'waits', 'refusals',
                   'time_field_ends_at')
 ORDER BY attnum;

-- One row per slot.
SHOW snowflake.worker_slots;
SELECT count(*) AS slots FROM snowflake_status;
SELECT count(*) AS slots FROM snowflake_status();

-- Each slot has a worker ID of its own: a fresh coordination table leases
-- the lowest never used ones.
SELECT count(DISTINCT worker_id) AS worker_ids,
       bool_and(worker_id BETWEEN 0 AND 7) AS in_range,
       array_agg(worker_id ORDER BY worker_id) AS ids
  FROM snowflake_status;
SELECT DISTINCT lease_state FROM snowflake_status;

-- A held lease expires (on the coordinator's clock) after its fencing
-- deadline (on this server's): the margin lies between them.
SELECT bool_and(fencing_deadline > now()) AS deadline_ahead,
       bool_and(lease_expires_at > fencing_deadline) AS expiry_after_deadline,
       bool_and(lease_expires_at - fencing_deadline
                BETWEEN interval '4 seconds' AND interval '6 seconds') AS margin_between
  FROM snowflake_status;


-- When the layout runs out, the same on every row.
SELECT DISTINCT time_field_ends_at FROM snowflake_status;
SELECT DISTINCT time_field_ends_at = snowflake_timestamp(9223372036854775807) + interval '999 microseconds'
       AS last_id_plus_a_millisecond
  FROM snowflake_status;

-- Counters are never negative.
SELECT bool_and(ids_issued >= 0 AND ms_saturated >= 0 AND clock_regressions >= 0
                AND max_regression_ms >= 0 AND waits >= 0 AND refusals >= 0
                AND idle_resumes >= 0) AS non_negative
  FROM snowflake_status;

-- With snowflake.clock_step_policy = refuse (the default) there is no spare
-- slot, and nothing is minted on one.
SELECT count(*) FILTER (WHERE spare) AS spares, max(ids_on_spares) AS ids_on_spares
  FROM snowflake_status;

-- ids_issued counts every ID minted: a batch of 1000 and 10 single IDs add
-- 1010, whichever slots they came from.
SELECT sum(ids_issued) AS before FROM snowflake_status \gset
SELECT count(*) FROM snowflake_batch(1000);
SELECT count(snowflake_nextval()) FROM generate_series(1, 10);
SELECT sum(ids_issued) - :before AS issued FROM snowflake_status;

-- The slot that minted the last ID shows its millisecond and worker ID;
-- no slot's last_timestamp is in the future.
SELECT snowflake_nextval() AS id \gset
SELECT bool_or(last_timestamp = snowflake_timestamp(:id)
               AND worker_id = snowflake_worker_id(:id)) AS slot_of_last_id,
       bool_and(last_timestamp IS NULL
                OR last_timestamp <= clock_timestamp() + interval '1 second') AS not_ahead
  FROM snowflake_status;

-- The durable high-water mark is never behind what was minted.
SELECT bool_and(high_water_mark IS NOT NULL) AS mark_set,
       bool_and(last_timestamp IS NULL OR last_timestamp <= high_water_mark) AS minted_below_mark
  FROM snowflake_status;

-- Nothing has gone wrong with the clock here.
SELECT sum(refusals) AS refusals FROM snowflake_status;

-- Anyone may call the function.
CREATE ROLE regress_snowflake_watcher;
SET ROLE regress_snowflake_watcher;
SELECT count(*) AS slots FROM snowflake_status();
RESET ROLE;
DROP ROLE regress_snowflake_watcher;

--
-- Configuration: every snowflake.* setting, its default and when it may
-- change.
--
SHOW snowflake.worker_slots;
SHOW snowflake.worker_id;
SHOW snowflake.epoch;
SHOW snowflake.worker_bits;
SHOW snowflake.sequence_bits;
SHOW snowflake.region_bits;
SHOW snowflake.region;
SHOW snowflake.database;
SHOW snowflake.max_clock_wait;
SHOW snowflake.clock_borrow;
SHOW snowflake.high_water_horizon;
SHOW snowflake.idle_after;
SHOW snowflake.max_batch;
SELECT name, setting, unit, context, boot_val = reset_val AS at_default
  FROM pg_settings WHERE name LIKE 'snowflake.%' ORDER BY name;

-- Settings fixed at server start cannot be changed in a session (55P02).
SET snowflake.worker_slots = 8;
\echo SQLSTATE :SQLSTATE
SET snowflake.worker_id = 5;
\echo SQLSTATE :SQLSTATE
SET snowflake.epoch = '2025-01-01 00:00:00+00';
\echo SQLSTATE :SQLSTATE
SET snowflake.worker_bits = 12;
\echo SQLSTATE :SQLSTATE
SET snowflake.sequence_bits = 10;
\echo SQLSTATE :SQLSTATE
SET snowflake.region_bits = 2;
\echo SQLSTATE :SQLSTATE
SET snowflake.region = 1;
\echo SQLSTATE :SQLSTATE
SET snowflake.database = 'regression';
\echo SQLSTATE :SQLSTATE
-- ... nor with set_config().
SELECT set_config('snowflake.worker_id', '7', false);
\echo SQLSTATE :SQLSTATE
-- Reloadable settings change only in the configuration file (55P02).
SET snowflake.max_clock_wait = 5;
\echo SQLSTATE :SQLSTATE
SET snowflake.clock_borrow = on;
\echo SQLSTATE :SQLSTATE
SET snowflake.high_water_horizon = '2s';
\echo SQLSTATE :SQLSTATE
SET snowflake.idle_after = '1min';
\echo SQLSTATE :SQLSTATE
-- The snowflake. prefix is reserved: no made-up settings under it (42602).
SET snowflake.no_such_setting = 1;
\echo SQLSTATE :SQLSTATE
-- Nothing changed.
SHOW snowflake.worker_slots;
SHOW snowflake.worker_id;
SHOW snowflake.max_clock_wait;
SHOW snowflake.clock_borrow;
