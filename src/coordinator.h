/*-------------------------------------------------------------------------
 *
 * coordinator.h
 *		The lease keeper's connection to the coordination table: the local
 *		database through SPI (embedded), or a shared coordinator through
 *		libpq (snowflake.coordinator).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_COORDINATOR_H
#define SNOWFLAKE_COORDINATOR_H

/* Rows of a result, every value as text (NULL for SQL NULL). */
typedef struct CoordResult
{
	int			nrows;
	int			ncols;
	char	  **values;			/* nrows * ncols, row by row */
} CoordResult;

#define COORD_VALUE(res, row, col) ((res)->values[(row) * (res)->ncols + (col)])

#define COORD_ERRLEN 256

extern bool snowflake_coord_embedded(void);
extern bool snowflake_coord_connect(char *err);
extern bool snowflake_coord_take_fresh(void);
extern bool snowflake_coord_connected(void);
extern void snowflake_coord_disconnect(void);
extern int	snowflake_coord_previous_pid(void);
extern bool snowflake_coord_exec(const char *sql, int nparams, const char *const *params,
					   CoordResult *res, char *err);

#endif							/* SNOWFLAKE_COORDINATOR_H */
