#pragma once
#include "diyctl/config.h"
#include "diyctl/plan.h"

/* Cross-field checks; the first problem found is reported with its origin. */
int dc_plan_validate(const struct dc_config *c, const struct dc_plan_opts *opts,
                     struct dc_error *err);

/* The namespaces a container gets: the configured ones, except that
 * network.mode = "host" drops "net" from the default list. */
unsigned dc_plan_namespaces(const struct dc_config *c);

/* user.map -> "uid"/"gid" lines ("INSIDE OUTSIDE COUNT"), "setgroups", "method". */
int dc_plan_usermap(const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_kvs *args,
                    struct dc_error *err);
