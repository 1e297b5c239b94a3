/* Where a container's cgroup goes (cgroup_place.c): under "diyctl" at each
 * hierarchy's root, or inside the launcher's cgroup when a service manager
 * delegated it (systemd Delegate=yes), or under DIYCTL_CGROUP_PARENT. */
#pragma once
#include <stdbool.h>

#include "diyctl/error.h"
#include "diyctl/kv.h"
#include "diyctl/util.h"

/* The parent the plan should use, from DIYCTL_CGROUP_PARENT and the
 * launcher's own cgroup: *out NULL (the hierarchy roots; unprivileged: no
 * cgroup at all), "self" (delegated) or an absolute cgroup path (root only:
 * an unprivileged launcher has nothing but its own delegated cgroup). */
int dc_cgroup_parent(bool unprivileged, char **out, struct dc_error *err);
/* Is the launcher's own cgroup v2 cgroup delegated to it: marked
 * (trusted.delegate=1 or user.delegate=1, as systemd marks Delegate=yes),
 * and the directory and its cgroup.procs writable by the caller? */
bool dc_cgroup_self_delegated(void);
/* The launcher's cgroup path ("/..." ) in the hierarchy mounted at HIERARCHY,
 * from /proc/self/cgroup. -ENOENT when it is not listed. */
int dc_cgroup_own_path(const char *hierarchy, char **out);

/* The container's cgroup in one hierarchy. */
struct dc_cgroup_place {
        char *dir;                /* the container's cgroup */
        struct dc_strv mkparents; /* parents to create, shallowest first */
        /* delegated cgroup v2 only: */
        char *unit;               /* the delegated cgroup (an inner node from now on) */
        char *supervisor;         /* its leaf for the launcher */
        char *enable;             /* controllers to enable in unit's subtree_control, space-separated */
};
/* From the cgroup step's args: group, and under ("self" or a path) when not the default. */
int dc_cgroup_place(const char *hierarchy, const struct dc_kvs *args, struct dc_cgroup_place *pl,
                    struct dc_error *err);
void dc_cgroup_place_free(struct dc_cgroup_place *pl);
/* Unprivileged, before anything is made: PL (in hierarchy H) is inside the
 * launcher's delegated cgroup, which the caller may write, and every limit in
 * ARGS has its controller delegated there. */
int dc_cgroup_check_delegated(const char *h, const struct dc_cgroup_place *pl, const struct dc_kvs *args,
                              struct dc_error *err);
/* Delegated v2: create the supervisor leaf, move the unit's processes (the
 * launcher, the waiting container process) into it, enable the controllers. */
int dc_cgroup_enter_delegated(const struct dc_cgroup_place *pl, struct dc_error *err);
/* Undo that: disable the controllers, move the supervisor's processes back,
 * remove the leaf. Idempotent. */
int dc_cgroup_leave_delegated(const char *unit, const char *supervisor, const char *enable, struct dc_error *err);
