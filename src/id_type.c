/*-------------------------------------------------------------------------
 *
 * id_type.c
 *		The snowflake_id type's input and output, its checked casts from
 *		integers, and the 13-character text form of an ID.
 *
 * A snowflake_id is a bigint's 8 bytes, passed by value, that can never be
 * negative: it prints as its decimal digits and JSON renders it as a
 * string, which is the point of the type (JavaScript's numbers lose
 * precision above 2^53).  Every way into the type checks the sign: text
 * input, binary input (COPY BINARY, drivers) and the casts from bigint and
 * integer.  The way out, to bigint, needs no check and is binary-coercible;
 * so are comparison and hashing, which the SQL script declares with the
 * server's own bigint functions (LANGUAGE internal): the bits are the same,
 * and so must be the order and the hash, for an index to serve
 * "id = bigint" and a hash join to match a snowflake_id with a bigint.
 *
 * The text form is the ID in Crockford's base32, zero-padded to 13
 * characters (65 bits hold the 63 an ID uses), so that byte order of the
 * text is numeric order of the IDs.  Decoding accepts lower case and, as
 * Crockford's scheme asks, reads I and L as 1 and O as 0; anything else,
 * U included, and any length but 13 are refused.
 *
 * Everything here is a pure function of its argument: no shared memory,
 * no catalog, no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(snowflake_id_in);
PG_FUNCTION_INFO_V1(snowflake_id_out);
PG_FUNCTION_INFO_V1(snowflake_id_recv);
PG_FUNCTION_INFO_V1(snowflake_id_send);
PG_FUNCTION_INFO_V1(snowflake_id_from_int8);
PG_FUNCTION_INFO_V1(snowflake_id_from_int4);
PG_FUNCTION_INFO_V1(snowflake_to_text);
PG_FUNCTION_INFO_V1(snowflake_from_text);

#define SNOWFLAKE_TEXT_LEN 13

static const char crockford_digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Refuse a negative value on its way into snowflake_id. */
static void
reject_negative(int64 value)
{
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake_id cannot be negative: " INT64_FORMAT, value),
				 errdetail("A snowflake_id is a non-negative bigint."),
				 errhint("Check that the value is a snowflake ID and not a sum, difference or hash.")));
}

/*
 * Decimal digits, with optional white space around them and an optional
 * "+".  A "-" is refused as negative (22003) whatever follows it, "-0"
 * included, so that no spelling of a negative number gets through; other
 * text is a syntax error (22P02).
 */
Datum
snowflake_id_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	const char *p = str;
	uint64		value = 0;
	bool		negative = false;
	bool		digits = false;

	while (isspace((unsigned char) *p))
		p++;
	if (*p == '+')
		p++;
	else if (*p == '-')
	{
		negative = true;
		p++;
	}
	while (*p >= '0' && *p <= '9')
	{
		digits = true;
		if (value > (uint64) (PG_INT64_MAX - (*p - '0')) / 10)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value \"%s\" is out of range for type snowflake_id", str),
					 errdetail("A snowflake_id is at most 9223372036854775807."),
					 errhint("Check that the value is a snowflake ID.")));
		value = value * 10 + (*p - '0');
		p++;
	}
	while (isspace((unsigned char) *p))
		p++;
	if (!digits || *p != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type snowflake_id: \"%s\"", str),
				 errdetail("A snowflake_id is written as its decimal digits."),
				 errhint("To read the 13-character text form, use snowflake_from_text().")));
	if (negative)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake_id cannot be negative: \"%s\"", str),
				 errdetail("A snowflake_id is a non-negative bigint."),
				 errhint("Check that the value is a snowflake ID and not a sum, difference or hash.")));
	PG_RETURN_INT64((int64) value);
}

Datum
snowflake_id_out(PG_FUNCTION_ARGS)
{
	int64		value = PG_GETARG_INT64(0);

	PG_RETURN_CSTRING(psprintf(INT64_FORMAT, value));
}

/* Binary input: a bigint's wire format, checked for its sign. */
Datum
snowflake_id_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		value = pq_getmsgint64(buf);

	reject_negative(value);
	PG_RETURN_INT64(value);
}

/* Binary output: the same bytes a bigint sends, so drivers read it as one. */
Datum
snowflake_id_send(PG_FUNCTION_ARGS)
{
	int64		value = PG_GETARG_INT64(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, value);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* The casts bigint -> snowflake_id and integer -> snowflake_id. */
Datum
snowflake_id_from_int8(PG_FUNCTION_ARGS)
{
	int64		value = PG_GETARG_INT64(0);

	reject_negative(value);
	PG_RETURN_INT64(value);
}

Datum
snowflake_id_from_int4(PG_FUNCTION_ARGS)
{
	int32		value = PG_GETARG_INT32(0);

	reject_negative(value);
	PG_RETURN_INT64((int64) value);
}

/* snowflake_to_text(bigint): the ID as 13 characters of Crockford base32. */
Datum
snowflake_to_text(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	uint64		rest = (uint64) id;
	char		buf[SNOWFLAKE_TEXT_LEN];
	int			i;

	if (id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake ID " INT64_FORMAT " is negative", id),
				 errdetail("Only non-negative IDs have a text form."),
				 errhint("Check that the value is a snowflake ID and not a sum, difference or hash.")));
	for (i = SNOWFLAKE_TEXT_LEN - 1; i >= 0; i--)
	{
		buf[i] = crockford_digits[rest & 31];
		rest >>= 5;
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, SNOWFLAKE_TEXT_LEN));
}

/* The value of one Crockford base32 character, or -1. */
static int
crockford_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		c = c - 'a' + 'A';
	switch (c)
	{
		case 'O':
			return 0;
		case 'I':
		case 'L':
			return 1;
		case 'U':
			return -1;
	}
	if (c >= 'A' && c <= 'Z')
		return (int) (strchr(crockford_digits, c) - crockford_digits);
	return -1;
}

/* snowflake_from_text(text): the inverse of snowflake_to_text. */
Datum
snowflake_from_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	uint64		value = 0;
	int			i;

	if (len != SNOWFLAKE_TEXT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid snowflake text form: \"%s\"", text_to_cstring(t)),
				 errdetail("It is %d bytes long; the text form is %d characters of Crockford base32.",
						   len, SNOWFLAKE_TEXT_LEN),
				 errhint("Pass a value made by snowflake_to_text(), with no spaces or hyphens.")));
	for (i = 0; i < len; i++)
	{
		int			digit = crockford_value((unsigned char) s[i]);

		if (digit < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid snowflake text form: \"%s\"", text_to_cstring(t)),
					 errdetail("Character %d is not a Crockford base32 digit (0-9 and A-Z without I, L, O and U; I and L read as 1, O as 0).",
							   pg_mbstrlen_with_len(s, i) + 1),
					 errhint("Pass a value made by snowflake_to_text().")));
		value = (value << 5) | (uint64) digit;
	}

	/* 13 digits carry 65 bits: the first one is at most 7 for a bigint ID */
	if (crockford_value((unsigned char) s[0]) > 7)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("snowflake text form \"%s\" is out of range", text_to_cstring(t)),
				 errdetail("Its first character is above 7, so its value does not fit a non-negative bigint."),
				 errhint("Pass a value made by snowflake_to_text().")));
	PG_RETURN_INT64((int64) value);
}
