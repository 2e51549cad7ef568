--
-- observability: the columns snowflake_status gained in 1.1, the
-- per-caller view snowflake_callers and its reset, and the fleet view
-- snowflake_fleet over the (here embedded) coordination table.
--
-- Runs after the status test, on the server of test/snowflake.conf: every
-- setting at its default, so 8 slots holding worker IDs 0 to 7.
--
SET timezone = 'UTC';

-- The columns 1.1 added, with their types, after the 1.0 ones.
SELECT attnum, attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'snowflake_status'::regclass AND attnum > 22
 ORDER BY attnum;

-- Time left to the fencing deadline: positive, at most TTL - margin (25 s).
SELECT bool_and(fencing_left_ms > 0 AND fencing_left_ms <= 25000) AS fencing_left_in_range
  FROM snowflake_status;

-- A batch larger than one millisecond of one worker ID saturates its home
-- slot and goes on in others: milliseconds minted and saturated rise, the
-- saturation ratio is a fraction, and the IDs minted away from home are
-- counted against the home slot.
SELECT sum(ms_minted) AS ms_before, sum(ms_saturated) AS sat_before,
       sum(ids_elsewhere) AS elsewhere_before
  FROM snowflake_status \gset
SELECT count(*) FROM snowflake_batch(100000);
SELECT sum(ms_minted) > :ms_before AS ms_minted_rose,
       sum(ms_saturated) > :sat_before AS ms_saturated_rose,
       sum(ids_elsewhere) > :elsewhere_before AS ids_elsewhere_rose,
       bool_and(saturation_ratio BETWEEN 0 AND 1) AS ratio_is_a_fraction,
       max(saturation_ratio) > 0 AS some_slot_saturated
  FROM snowflake_status;
SELECT sum(ids_elsewhere) <= sum(ids_issued) AS elsewhere_within_issued
  FROM snowflake_status;

-- The clock's synchronisation is known on Linux (either answer is right).
SELECT DISTINCT clock_synchronized IS NOT NULL AS sync_known,
       clock_est_error_ms >= 0 AND clock_max_error_ms >= 0 AS errors_non_negative
  FROM snowflake_status;

-- Per caller: IDs, batches, waits and refusals per database and role.
CREATE ROLE snowflake_obs_alice;
CREATE ROLE snowflake_obs_bob;
CREATE ROLE snowflake_obs_watcher IN ROLE pg_read_all_stats, pg_monitor;
SELECT snowflake_callers_reset();
SELECT count(*) AS rows_counting_after_reset FROM snowflake_callers
 WHERE ids > 0 OR batches > 0 OR waits > 0 OR refusals > 0;

SET ROLE snowflake_obs_alice;
SELECT count(snowflake_nextval()) FROM generate_series(1, 5);
SELECT count(*) FROM snowflake_batch(3);
SELECT count(*) FROM snowflake_batch(4);
-- a role sees its own row only
SELECT database = current_database() AS this_database, role, ids, batches,
       waits >= 0 AS waits_counted, refusals
  FROM snowflake_callers;
-- and may not reset
SELECT snowflake_callers_reset();
RESET ROLE;

SET ROLE snowflake_obs_bob;
SELECT count(snowflake_nextval()) FROM generate_series(1, 2);
RESET ROLE;

-- a role with pg_read_all_stats sees every row
SET ROLE snowflake_obs_watcher;
SELECT role, ids, batches FROM snowflake_callers
 WHERE role LIKE 'snowflake_obs_%' ORDER BY role;
RESET ROLE;

-- a reset zeroes what live sessions counted too
SELECT snowflake_callers_reset();
SELECT count(*) AS rows_after_second_reset FROM snowflake_callers
 WHERE ids > 0 OR batches > 0;
SELECT bool_and(since > now() - interval '1 minute') AS reset_recently
  FROM snowflake_callers;

-- The fleet view reads this database's coordination table; this database
-- has none (the embedded one is in snowflake.database, postgres), so it
-- lists no holder (test/t/044_fleet_view.pl reads a coordinator's).  It is
-- for pg_monitor, not for everyone.
SET ROLE snowflake_obs_alice;
SELECT count(*) FROM snowflake_fleet;
SELECT count(*) FROM snowflake_fleet();
RESET ROLE;
SET ROLE snowflake_obs_watcher;
SELECT count(*) AS holders_here FROM snowflake_fleet;
RESET ROLE;

DROP ROLE snowflake_obs_alice;
DROP ROLE snowflake_obs_bob;
DROP ROLE snowflake_obs_watcher;
