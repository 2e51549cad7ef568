-- Decoding and encoding round-trip for every built-in layout, over thousands
-- of random inputs: decode(encode(ts, worker, sequence)) gives them back,
-- encode(decode(id)) = id, and both agree with the bit positions the layout
-- documents (computed here independently of the extension).
--
-- The random seed is printed; to replay a failure, pass it back:
--   PGTAP_SEED=<seed> PGTAP_FILES=test/pgtap/03_roundtrip.sql bash test/pgtap.sh
-- (pgtap.sh hands it to psql as the variable "seed").

BEGIN;
SET client_min_messages = warning;
SET LOCAL TimeZone = 'UTC';

\if :{?seed}
\else
SELECT (random() * 2 - 1)::numeric(10, 9) AS seed \gset
\endif
SELECT setseed(:seed) \g /dev/null

SELECT plan(34);
SELECT diag('random seed: ' || :seed);

-- The layouts as the SPEC documents them.  max_units is the largest time
-- value a non-negative bigint can carry (discord's 42 time bits lose the
-- top one to the sign bit).
CREATE TEMP TABLE layouts (
	name text PRIMARY KEY,
	epoch_ms bigint NOT NULL,
	unit_ms bigint NOT NULL,
	time_bits integer NOT NULL,
	worker_bits integer NOT NULL,
	sequence_bits integer NOT NULL,
	seq_above boolean NOT NULL,
	region_bits integer NOT NULL DEFAULT 0
);
INSERT INTO layouts VALUES
	('twitter', 1288834974657, 1, 41, 10, 12, false),
	('discord', 1420070400000, 1, 42, 10, 12, false),
	('instagram', 1314220021721, 1, 41, 13, 10, false),
	('sonyflake', 1409529600000, 10, 39, 16, 8, true),
	('pgedge', 1672531200000, 1, 41, 10, 12, false);
-- This cluster's own layout, from its configuration.
INSERT INTO layouts
SELECT 'snowflake',
	   (extract(epoch FROM current_setting('snowflake.epoch')::timestamptz) * 1000)::bigint,
	   1,
	   63 - current_setting('snowflake.worker_bits')::integer
		  - current_setting('snowflake.sequence_bits')::integer,
	   current_setting('snowflake.worker_bits')::integer,
	   current_setting('snowflake.sequence_bits')::integer,
	   false,
	   current_setting('snowflake.region_bits')::integer;

ALTER TABLE layouts ADD COLUMN max_units bigint, ADD COLUMN time_shift integer;
UPDATE layouts
   SET time_shift = worker_bits + sequence_bits,
	   max_units = least((1::bigint << time_bits) - 1,
						 9223372036854775807 >> (worker_bits + sequence_bits));

-- Unix milliseconds to timestamptz without floating-point rounding.
CREATE FUNCTION pg_temp.ms_ts(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT to_timestamp(div(ms, 1000)::float8) + mod(ms, 1000) * interval '1 millisecond' $$;

-- Field values: 5,000 random ones per layout, plus the corners.
CREATE TEMP TABLE fields AS
SELECT l.name, f.units, f.w, f.s
  FROM layouts l,
	   LATERAL (SELECT floor(random() * (l.max_units + 1)::float8)::bigint AS units,
					   floor(random() * (1 << l.worker_bits))::integer AS w,
					   floor(random() * (1 << l.sequence_bits))::integer AS s
				  FROM generate_series(1, 5000)
				UNION ALL
				SELECT u, w, s
				  FROM unnest(ARRAY[0, l.max_units]) u,
					   unnest(ARRAY[0, (1 << l.worker_bits) - 1]) w,
					   unnest(ARRAY[0, (1 << l.sequence_bits) - 1]) s) f;

CREATE TEMP TABLE enc AS
SELECT f.name, f.units, f.w, f.s,
	   l.epoch_ms + f.units * l.unit_ms AS ms,
	   pg_temp.ms_ts(l.epoch_ms + f.units * l.unit_ms) AS ts,
	   (f.units << l.time_shift) |
	   CASE WHEN l.seq_above THEN (f.s::bigint << l.worker_bits) | f.w
			ELSE (f.w::bigint << l.sequence_bits) | f.s END AS expected_id,
	   CASE WHEN l.region_bits = 0 THEN NULL
			ELSE f.w >> (l.worker_bits - l.region_bits) END AS region
  FROM fields f JOIN layouts l USING (name);
ALTER TABLE enc ADD COLUMN id bigint;
UPDATE enc SET id = snowflake_encode(ts, w, s, name);

SELECT is((SELECT count(*) FROM fields), 6 * 5008::bigint,
		  '5,008 field samples for each of the six layouts');

SELECT is_empty($$
	SELECT ms, ts FROM enc
	 WHERE (extract(epoch FROM ts) * 1000)::bigint <> ms LIMIT 5 $$,
	'test helper: timestamps are built exactly');

-- encode puts each field where the layout says.
SELECT is_empty(format($$
	SELECT units, w, s, ts, id, expected_id FROM enc
	 WHERE name = %L AND id IS DISTINCT FROM expected_id LIMIT 5 $$, name),
	format('%s: encode places time, worker and sequence at the layout''s bits', name))
  FROM layouts ORDER BY name;

-- decode(encode(x)) = x
SELECT is_empty(format($$
	SELECT e.ts, e.w, e.s, e.region, d.*
	  FROM enc e, snowflake_decode(e.id, e.name) d
	 WHERE e.name = %L
	   AND (d.ts, d.worker_id, d.sequence, d.region)
		   IS DISTINCT FROM (e.ts, e.w, e.s, e.region)
	 LIMIT 5 $$, name),
	format('%s: decode(encode(ts, worker, sequence)) round-trips', name))
  FROM layouts ORDER BY name;

-- The single-field functions and from_timestamp agree.
SELECT is_empty(format($$
	SELECT e.id, e.ts, e.w, e.s FROM enc e
	 WHERE e.name = %L
	   AND (snowflake_timestamp(e.id, e.name) IS DISTINCT FROM e.ts
			OR snowflake_worker_id(e.id, e.name) IS DISTINCT FROM e.w
			OR snowflake_sequence(e.id, e.name) IS DISTINCT FROM e.s
			OR snowflake_from_timestamp(e.ts, e.name)
			   IS DISTINCT FROM snowflake_encode(e.ts, 0, 0, e.name))
	 LIMIT 5 $$, name),
	format('%s: timestamp, worker_id, sequence and from_timestamp agree with encode', name))
  FROM layouts ORDER BY name;

-- Random IDs: 5,000 random non-negative bigints per layout, plus the edges,
-- kept where the time field is inside the layout (all of them, for the
-- built-in layouts).
CREATE TEMP TABLE ids AS
SELECT l.name, i.id,
	   l.epoch_ms + (i.id >> l.time_shift) * l.unit_ms AS ms,
	   CASE WHEN l.seq_above THEN i.id & ((1::bigint << l.worker_bits) - 1)
			ELSE (i.id >> l.sequence_bits) & ((1::bigint << l.worker_bits) - 1)
	   END::integer AS w,
	   CASE WHEN l.seq_above THEN (i.id >> l.worker_bits) & ((1::bigint << l.sequence_bits) - 1)
			ELSE i.id & ((1::bigint << l.sequence_bits) - 1)
	   END::integer AS s
  FROM layouts l,
	   LATERAL (SELECT (floor(random() * 2147483648)::bigint << 32)
					   | floor(random() * 4294967296)::bigint AS id
				  FROM generate_series(1, 5000)
				UNION ALL
				SELECT unnest(ARRAY[0, 1, 4194303, 4194304, 9223372036854775807])) i
 WHERE (i.id >> l.time_shift) <= l.max_units;

SELECT is((SELECT count(*) FROM ids WHERE name <> 'snowflake'), 5 * 5005::bigint,
		  'every non-negative bigint is a valid ID of every other built-in layout');

-- decode(id) reads each field from the layout's bits.
SELECT is_empty(format($$
	SELECT i.id, i.ms, i.w, i.s, d.*
	  FROM ids i, snowflake_decode(i.id, i.name) d
	 WHERE i.name = %L
	   AND ((extract(epoch FROM d.ts) * 1000)::bigint, d.worker_id, d.sequence)
		   IS DISTINCT FROM (i.ms, i.w, i.s)
	 LIMIT 5 $$, name),
	format('%s: decode reads time, worker and sequence from the layout''s bits', name))
  FROM layouts ORDER BY name;

-- encode(decode(id)) = id
SELECT is_empty(format($$
	SELECT i.id, d.*, snowflake_encode(d.ts, d.worker_id, d.sequence, i.name)
	  FROM ids i, snowflake_decode(i.id, i.name) d
	 WHERE i.name = %L
	   AND snowflake_encode(d.ts, d.worker_id, d.sequence, i.name)
		   IS DISTINCT FROM i.id
	 LIMIT 5 $$, name),
	format('%s: encode(decode(id)) = id', name))
  FROM layouts ORDER BY name;

-- No layout, or a NULL one, is this cluster's layout.
SELECT is_empty($$
	SELECT i.id FROM ids i
	 WHERE i.name = 'snowflake'
	   AND (snowflake_decode(i.id) IS DISTINCT FROM snowflake_decode(i.id, 'snowflake')
			OR snowflake_decode(i.id, NULL) IS DISTINCT FROM snowflake_decode(i.id, 'snowflake')
			OR snowflake_encode((snowflake_decode(i.id)).ts,
								(snowflake_decode(i.id)).worker_id,
								(snowflake_decode(i.id)).sequence) <> i.id)
	 LIMIT 5 $$,
	'omitted or NULL layout is the cluster layout');

SELECT * FROM finish();
ROLLBACK;
