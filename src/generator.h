/*-------------------------------------------------------------------------
 *
 * generator.h
 *		The minting path: the entry point that hands out IDs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_GENERATOR_H
#define SNOWFLAKE_GENERATOR_H

extern int	snowflake_mint(int want, int64 *first_id);

/*
 * Test points on the minting path (generator.c): a backend calls them, in
 * builds for the test suite only, where tests stop it with gdb: before it
 * reads a slot's binding (its clock reading and target already taken),
 * before it takes numbers from a slot (binding, deadline, cap and worker
 * ID already read), and once it has taken them and checked them against the
 * slot's binding, its cap and the mark, with the millisecond they are in,
 * just before it raises max_ms and returns them.
 */
#ifdef SNOWFLAKE_TEST_POINTS
extern void snowflake_test_point_before_binding(void);
extern void snowflake_test_point_before_take(void);
extern void snowflake_test_point_before_floor(int64 ms);
#define SNOWFLAKE_TEST_POINT(name) snowflake_test_point_##name()
#define SNOWFLAKE_TEST_POINT_AT(name, ms) snowflake_test_point_##name(ms)
#else
#define SNOWFLAKE_TEST_POINT(name) ((void) 0)
#define SNOWFLAKE_TEST_POINT_AT(name, ms) ((void) 0)
#endif

#endif							/* SNOWFLAKE_GENERATOR_H */
