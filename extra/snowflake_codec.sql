/*
 * snowflake_codec.sql: decode and encode snowflake IDs in plain SQL and
 * PL/pgSQL, without the snowflake extension.
 *
 * For databases where the extension's library cannot be loaded (managed
 * services), or for reading IDs elsewhere than where they were minted.  It
 * gives the same answers, and raises errors with the same SQLSTATEs, as the
 * extension's C functions, for the built-in layouts:
 *
 *   snowflake  the extension's default layout: epoch 2024-01-01 00:00:00 UTC,
 *              41 time bits, 10 worker bits, 12 sequence bits, no region
 *              bits (a cluster minting with other snowflake.* settings must
 *              change the one line for "snowflake" in snowflake_codec_layout)
 *   twitter    epoch 1288834974657 ms, 41/10/12
 *   discord    epoch 1420070400000 ms, 42/10/12 (worker = 5-bit worker +
 *              5-bit process, returned whole)
 *   instagram  epoch 1314220021721 ms, 41 time / 13 shard / 10 sequence
 *   sonyflake  10 ms units since 2014-09-01 00:00:00 UTC, 39 time /
 *              8 sequence / 16 machine, the sequence above the machine ID
 *   pgedge     epoch 2023-01-01 00:00:00 UTC, 41/10/12
 *
 * and the 13-character text form (Crockford base32, in ID order).
 *
 * Every function is named snowflake_codec_*, so the file can be installed
 * beside the extension, in the same schema or another.  Install it into the
 * schema first on search_path, for example:
 *
 *   psql -d mydb -v ON_ERROR_STOP=1 \
 *        -c 'CREATE SCHEMA snowflake_codec' \
 *        -c 'SET search_path = snowflake_codec' \
 *        -f extra/snowflake_codec.sql
 *
 * then call snowflake_codec.snowflake_codec_decode(id, 'discord') and so on.
 * Each function keeps the search_path it was installed with (SET
 * search_path FROM CURRENT), so it finds the others wherever it is called
 * from; install it into a schema where only trusted roles can create
 * objects.  No C, no extension, no superuser needed.  Written for
 * PostgreSQL 13 and later (the timestamp arithmetic is exact whether
 * extract() returns numeric or double precision); tested on 15.
 *
 * Functions (a NULL ID or timestamp gives NULL; a NULL or omitted layout is
 * "snowflake"):
 *   snowflake_codec_decode(id bigint, layout text)
 *       -> (ts timestamptz, worker_id integer, sequence integer, region integer)
 *   snowflake_codec_timestamp(id bigint, layout text) -> timestamptz
 *   snowflake_codec_worker_id(id bigint, layout text) -> integer
 *   snowflake_codec_sequence(id bigint, layout text) -> integer
 *   snowflake_codec_encode(ts timestamptz, worker_id integer, sequence integer,
 *                          layout text) -> bigint
 *   snowflake_codec_from_timestamp(ts timestamptz, layout text) -> bigint
 *   snowflake_codec_to_text(id bigint) -> text
 *   snowflake_codec_from_text(text) -> bigint
 *   snowflake_codec_layout(layout text) -> the layout's parameters
 */

-- The built-in layouts; the one place that knows them.
CREATE FUNCTION snowflake_codec_layout(layout text,
	OUT name text, OUT epoch_ms bigint, OUT unit_ms bigint,
	OUT time_bits integer, OUT worker_bits integer, OUT sequence_bits integer,
	OUT sequence_above_worker boolean,
	OUT time_shift integer, OUT worker_shift integer, OUT sequence_shift integer,
	OUT max_units bigint)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
BEGIN
	name := coalesce(layout, 'snowflake');
	CASE name
		WHEN 'snowflake' THEN
			SELECT 1704067200000, 1, 41, 10, 12, false
			  INTO epoch_ms, unit_ms, time_bits, worker_bits, sequence_bits, sequence_above_worker;
		WHEN 'twitter' THEN
			SELECT 1288834974657, 1, 41, 10, 12, false
			  INTO epoch_ms, unit_ms, time_bits, worker_bits, sequence_bits, sequence_above_worker;
		WHEN 'discord' THEN
			SELECT 1420070400000, 1, 42, 10, 12, false
			  INTO epoch_ms, unit_ms, time_bits, worker_bits, sequence_bits, sequence_above_worker;
		WHEN 'instagram' THEN
			SELECT 1314220021721, 1, 41, 13, 10, false
			  INTO epoch_ms, unit_ms, time_bits, worker_bits, sequence_bits, sequence_above_worker;
		WHEN 'sonyflake' THEN
			SELECT 1409529600000, 10, 39, 16, 8, true
			  INTO epoch_ms, unit_ms, time_bits, worker_bits, sequence_bits, sequence_above_worker;
		WHEN 'pgedge' THEN
			SELECT 1672531200000, 1, 41, 10, 12, false
			  INTO epoch_ms, unit_ms, time_bits, worker_bits, sequence_bits, sequence_above_worker;
		ELSE
			RAISE EXCEPTION 'snowflake layout "%" does not exist', name
				USING ERRCODE = 'undefined_object',
					  HINT = 'The built-in layouts are snowflake, twitter, discord, instagram, sonyflake and pgedge.';
	END CASE;
	time_shift := worker_bits + sequence_bits;
	IF sequence_above_worker THEN
		worker_shift := 0;
		sequence_shift := worker_bits;
	ELSE
		sequence_shift := 0;
		worker_shift := sequence_bits;
	END IF;
	-- the sign bit stays clear: a 64-bit layout loses its top time value
	max_units := least(9223372036854775807 >> time_shift,
					   CASE WHEN time_bits >= 63 THEN 9223372036854775807
							ELSE (1::bigint << time_bits) - 1 END);
END
$$;

-- The start of time value "units" of a layout, exactly (no floating point).
CREATE FUNCTION snowflake_codec_units_to_timestamp(units bigint, epoch_ms bigint,
												   unit_ms bigint)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
	SELECT to_timestamp(div(epoch_ms + units * unit_ms, 1000)::double precision)
		   + mod(epoch_ms + units * unit_ms, 1000) * interval '1 millisecond'
$$;

-- Milliseconds since 1970 of a finite timestamp, rounded down, exactly.
CREATE FUNCTION snowflake_codec_unix_ms(ts timestamptz)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
	SELECT extract(epoch FROM date_trunc('second', ts))::bigint * 1000
		   + (extract(microseconds FROM ts)::bigint % 1000000) / 1000
$$;

CREATE FUNCTION snowflake_codec_decode(id bigint, layout text DEFAULT NULL,
	OUT ts timestamptz, OUT worker_id integer, OUT sequence integer,
	OUT region integer)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
	l record;
	units bigint;
BEGIN
	IF id IS NULL THEN
		RETURN;
	END IF;
	l := snowflake_codec_layout(layout);
	IF id < 0 THEN
		RAISE EXCEPTION 'snowflake ID % is negative', id
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = format('IDs of layout "%s" are non-negative bigints.', l.name),
				  HINT = 'Check that the value is a snowflake ID and not a sum, difference or hash.';
	END IF;
	units := id >> l.time_shift;
	IF units > l.max_units THEN
		RAISE EXCEPTION 'snowflake ID % is outside layout "%"', id, l.name
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = 'Its time field is past the last value the layout allows.',
				  HINT = 'Check that the ID belongs to this layout.';
	END IF;
	ts := snowflake_codec_units_to_timestamp(units, l.epoch_ms, l.unit_ms);
	worker_id := ((id >> l.worker_shift) & ((1::bigint << l.worker_bits) - 1))::integer;
	sequence := ((id >> l.sequence_shift) & ((1::bigint << l.sequence_bits) - 1))::integer;
	region := NULL;			-- no built-in layout has region bits
END
$$;

CREATE FUNCTION snowflake_codec_timestamp(id bigint, layout text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$ SELECT (snowflake_codec_decode(id, layout)).ts $$;

CREATE FUNCTION snowflake_codec_worker_id(id bigint, layout text DEFAULT NULL)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$ SELECT (snowflake_codec_decode(id, layout)).worker_id $$;

CREATE FUNCTION snowflake_codec_sequence(id bigint, layout text DEFAULT NULL)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$ SELECT (snowflake_codec_decode(id, layout)).sequence $$;

-- Time units since the layout's epoch, rounded down; 22008 outside the layout.
CREATE FUNCTION snowflake_codec_units(ts timestamptz, layout text)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
	l record;
	since bigint;
BEGIN
	l := snowflake_codec_layout(layout);
	IF NOT isfinite(ts) THEN
		RAISE EXCEPTION 'timestamp out of range for layout "%"', l.name
			USING ERRCODE = 'datetime_field_overflow',
				  DETAIL = 'Infinite timestamps have no snowflake ID.',
				  HINT = 'Use a finite timestamp.';
	END IF;
	since := snowflake_codec_unix_ms(ts) - l.epoch_ms;
	IF since < 0 OR since / l.unit_ms > l.max_units THEN
		RAISE EXCEPTION 'timestamp % is out of range for layout "%"', ts, l.name
			USING ERRCODE = 'datetime_field_overflow',
				  DETAIL = format('The layout covers %s to %s.',
								  snowflake_codec_units_to_timestamp(0, l.epoch_ms, l.unit_ms),
								  snowflake_codec_units_to_timestamp(l.max_units + 1, l.epoch_ms, l.unit_ms)
								  - interval '1 microsecond'),
				  HINT = 'Use a timestamp inside the layout''s range, or a layout whose range covers it.';
	END IF;
	RETURN since / l.unit_ms;
END
$$;

CREATE FUNCTION snowflake_codec_encode(ts timestamptz, worker_id integer,
	sequence integer, layout text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
	l record;
	units bigint;
	max_worker bigint;
	max_sequence bigint;
BEGIN
	IF ts IS NULL OR worker_id IS NULL OR sequence IS NULL THEN
		RETURN NULL;
	END IF;
	l := snowflake_codec_layout(layout);
	units := snowflake_codec_units(ts, l.name);
	max_worker := (1::bigint << l.worker_bits) - 1;
	max_sequence := (1::bigint << l.sequence_bits) - 1;
	IF worker_id < 0 OR worker_id > max_worker THEN
		RAISE EXCEPTION 'worker_id % does not fit layout "%"', worker_id, l.name
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = format('The worker field has %s bits: 0 to %s.', l.worker_bits, max_worker),
				  HINT = 'Pass a worker ID in that range, or the layout the ID belongs to.';
	END IF;
	IF sequence < 0 OR sequence > max_sequence THEN
		RAISE EXCEPTION 'sequence % does not fit layout "%"', sequence, l.name
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = format('The sequence field has %s bits: 0 to %s.', l.sequence_bits, max_sequence),
				  HINT = 'Pass a sequence in that range, or the layout the ID belongs to.';
	END IF;
	RETURN (units << l.time_shift)
		   | (worker_id::bigint << l.worker_shift)
		   | (sequence::bigint << l.sequence_shift);
END
$$;

-- The smallest ID any worker can mint at ts.
CREATE FUNCTION snowflake_codec_from_timestamp(ts timestamptz, layout text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$ SELECT snowflake_codec_encode(ts, 0, 0, layout) $$;

-- The text form: 13 characters of Crockford base32, zero-padded, so that
-- byte order (COLLATE "C") is ID order.
CREATE FUNCTION snowflake_codec_to_text(id bigint)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
	digits CONSTANT text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
	result text := '';
	i integer;
BEGIN
	IF id < 0 THEN
		RAISE EXCEPTION 'snowflake ID % is negative', id
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = 'Only non-negative IDs have a text form.',
				  HINT = 'Check that the value is a snowflake ID and not a sum, difference or hash.';
	END IF;
	FOR i IN REVERSE 12..0 LOOP
		result := result || substr(digits, ((id >> (5 * i)) & 31)::integer + 1, 1);
	END LOOP;
	RETURN result;
END
$$;

-- Lower case reads as upper case; I and L read as 1, O as 0 (Crockford).
-- The letters are mapped by translate(), not upper(), whose result depends
-- on the collation.
CREATE FUNCTION snowflake_codec_from_text(t text)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
	digits CONSTANT text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
	s text;
	d integer;
	result bigint := 0;
	i integer;
BEGIN
	IF octet_length(t) <> 13 THEN
		RAISE EXCEPTION 'invalid snowflake text form: "%"', t
			USING ERRCODE = 'invalid_text_representation',
				  DETAIL = format('It is %s bytes long; the text form is 13 characters of Crockford base32.',
								  octet_length(t)),
				  HINT = 'Pass a value made by snowflake_to_text(), with no spaces or hyphens.';
	END IF;
	s := translate(translate(t, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
				   'ILO', '110');
	FOR i IN 1..length(s) LOOP
		d := strpos(digits, substr(s, i, 1)) - 1;
		IF d < 0 THEN
			RAISE EXCEPTION 'invalid snowflake text form: "%"', t
				USING ERRCODE = 'invalid_text_representation',
					  DETAIL = format('Character %s is not a Crockford base32 digit (0-9 and A-Z without I, L, O and U; I and L read as 1, O as 0).', i),
					  HINT = 'Pass a value made by snowflake_to_text().';
		END IF;
	END LOOP;
	-- 13 digits carry 65 bits: the first one is at most 7 for a bigint ID
	IF strpos(digits, substr(s, 1, 1)) - 1 > 7 THEN
		RAISE EXCEPTION 'snowflake text form "%" is out of range', t
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = 'Its first character is above 7, so its value does not fit a non-negative bigint.',
				  HINT = 'Pass a value made by snowflake_to_text().';
	END IF;
	FOR i IN 1..13 LOOP
		result := (result << 5) | (strpos(digits, substr(s, i, 1)) - 1);
	END LOOP;
	RETURN result;
END
$$;
