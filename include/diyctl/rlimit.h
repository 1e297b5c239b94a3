/* Resource limits of the container's process (process.rlimits): the names
 * a config uses, their values, and setting them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>

#include "diyctl/error.h"
#include "diyctl/kv.h"

#define DC_RLIMIT_N 16

/* The config's name of each limit ("nofile"), in RLIMIT_* order of this
 * table; dc_rlimit_resource gives the kernel's number. */
extern const char *const dc_rlimit_names[DC_RLIMIT_N];
int dc_rlimit_resource(size_t index);
/* The table index of NAME, or -1. */
int dc_rlimit_index(const char *name);

/* "N", "SOFT:HARD", "unlimited" (or "infinity") for either. 0, or -EINVAL. */
int dc_rlimit_parse(const char *s, struct rlimit *out);
/* "1024:4096", "1024" when both are the same, "unlimited". */
void dc_rlimit_format(const struct rlimit *r, char *buf, size_t size);

/* The "rlimit" arguments of an exec step ("nofile 1024 4096", "unlimited"
 * for RLIM_INFINITY), with "rlimit-origin" beside each for errors. */
void dc_rlimit_add_arg(struct dc_kvs *args, size_t index, const struct rlimit *r, const char *origin);

/* Raise the hard limits of process PID (0: ourselves) where ARGS ask for
 * more than it has, leaving the soft ones: done by the launcher, which may
 * hold CAP_SYS_RESOURCE on the host, for a process that will not. */
int dc_rlimits_raise(int pid, const struct dc_kvs *args, struct dc_error *err);
/* Set the limits ARGS name on ourselves, exactly (after dc_rlimits_raise:
 * what is left is lowering, which needs no privilege). */
int dc_rlimits_set(const struct dc_kvs *args, struct dc_error *err);
