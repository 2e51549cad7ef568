-- 1,000,000 IDs minted by eight sessions at once are unique, and each
-- session's IDs are strictly increasing.  Eight sessions on the default four
-- sequence slots means sessions share slots, and race on them.
--
-- The sessions are dblink connections back into this database; their rows
-- must be committed for this session to see them, so this file runs outside
-- a transaction and drops its table at the end.  An advisory lock held here
-- makes the eight sessions start minting together.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DROP TABLE IF EXISTS pgtap_concurrent_ids;
CREATE UNLOGGED TABLE pgtap_concurrent_ids (
	session integer NOT NULL,
	ord integer NOT NULL,
	id bigint NOT NULL
);

SELECT plan(9);

-- Hold the start gate; each session waits on it before its first ID.
SELECT pg_advisory_lock(4242) \g /dev/null

-- Connect back to this server through its own socket, and start minting.
DO $$
BEGIN
	FOR s IN 1 .. 16 LOOP
		PERFORM dblink_connect('c' || s,
			format('host=%s port=%s dbname=%s user=%s',
				   split_part(current_setting('unix_socket_directories'), ',', 1),
				   current_setting('port'), current_database(), current_user));
		-- One ID first, so each session picks its home slot now, in turn.
		PERFORM * FROM dblink('c' || s, 'SELECT snowflake_nextval()') AS t(id bigint);
		PERFORM dblink_send_query('c' || s, format($q$
			WITH gate AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(4242))
			INSERT INTO pgtap_concurrent_ids (session, ord, id)
			SELECT %s, g, snowflake_nextval()
			  FROM gate, generate_series(1, 62500) g
			$q$, s));
	END LOOP;
END
$$;

-- Wait until all eight sessions are queued on the gate, then open it.
DO $$
DECLARE
	waiting integer;
BEGIN
	FOR i IN 1 .. 6000 LOOP
		SELECT count(*) INTO waiting FROM pg_locks
		 WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted;
		EXIT WHEN waiting = 16;
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;
SELECT is((SELECT count(*)::integer FROM pg_locks
			WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted),
		  16, 'sixteen sessions wait at the start gate');
SELECT pg_advisory_unlock(4242) \g /dev/null

-- Wait for all eight, and collect each one's command status.
CREATE TEMP TABLE pgtap_concurrent_status AS
SELECT s, r.status
  FROM generate_series(1, 16) s,
	   LATERAL dblink_get_result('c' || s) AS r(status text);
SELECT dblink_disconnect('c' || s) FROM generate_series(1, 16) s \g /dev/null

SELECT results_eq(
	'SELECT s, status FROM pgtap_concurrent_status ORDER BY s',
	'SELECT s, ''INSERT 0 62500''::text FROM generate_series(1, 16) s',
	'each session inserted 62,500 IDs');

SELECT is((SELECT count(*) FROM pgtap_concurrent_ids), 1000000::bigint,
		  '1,000,000 IDs minted');
SELECT is((SELECT count(DISTINCT id) FROM pgtap_concurrent_ids), 1000000::bigint,
		  '1,000,000 distinct IDs');
SELECT is_empty($$
	SELECT id, count(*) FROM pgtap_concurrent_ids
	 GROUP BY id HAVING count(*) > 1 LIMIT 10 $$,
	'no ID minted twice');
SELECT is((SELECT count(*) FROM pgtap_concurrent_ids WHERE id <= 0), 0::bigint,
		  'every ID is positive');

SELECT is_empty($$
	SELECT session, ord, id, prev
	  FROM (SELECT session, ord, id,
				   lag(id) OVER (PARTITION BY session ORDER BY ord) AS prev
			  FROM pgtap_concurrent_ids) t
	 WHERE id <= prev LIMIT 10 $$,
	'each session''s IDs are strictly increasing');

-- The test means something only if the sessions overlapped in time.
SELECT ok((SELECT max(lo) < min(hi)
			 FROM (SELECT min(id) AS lo, max(id) AS hi
					 FROM pgtap_concurrent_ids GROUP BY session) t),
		  'the eight sessions minted at the same time');

-- Eight sessions cannot all have the same home slot.
SELECT cmp_ok((SELECT count(DISTINCT snowflake_worker_id(id)) FROM pgtap_concurrent_ids),
			  '>', 1::bigint,
			  'concurrent sessions minted under more than one worker ID');

SELECT * FROM finish();

DROP TABLE pgtap_concurrent_ids;
DROP TABLE pgtap_concurrent_status;
