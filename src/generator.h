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
 * reads a slot's binding (its clock reading and target already taken), and
 * before it takes numbers from a slot (binding, deadline, cap and worker
 * ID already read).
 */
#ifdef SNOWFLAKE_TEST_POINTS
extern void snowflake_test_point_before_binding(void);
extern void snowflake_test_point_before_take(void);
#define SNOWFLAKE_TEST_POINT(name) snowflake_test_point_##name()
#else
#define SNOWFLAKE_TEST_POINT(name) ((void) 0)
#endif

#endif							/* SNOWFLAKE_GENERATOR_H */
