/*-------------------------------------------------------------------------
 *
 * layout_catalog.h
 *		Layouts by name: built-in and defined (layout_catalog.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SNOWFLAKE_LAYOUT_CATALOG_H
#define SNOWFLAKE_LAYOUT_CATALOG_H

#include "fmgr.h"
#include "layout.h"

extern const SnowflakeLayout *snowflake_layout_arg(FunctionCallInfo fcinfo,
												   int argno);

#endif							/* SNOWFLAKE_LAYOUT_CATALOG_H */
