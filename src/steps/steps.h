/* Step kinds, one module each; listed in table.c. */
#pragma once
#include "diyctl/step.h"
#include "diyctl/util.h"

/* host */
extern const struct dc_step_ops dc_statedir_ops;
extern const struct dc_step_ops dc_netns_ops;
extern const struct dc_step_ops dc_cgroup_ops;
extern const struct dc_step_ops dc_sysctl_ops;
extern const struct dc_step_ops dc_idmap_ops;
extern const struct dc_step_ops dc_idmap_layers_ops;
extern const struct dc_step_ops dc_image_unpack_ops;

/* Resource limits in a cgroup directory (limits.c). */
enum { DC_LIMIT_MEMORY = 1, DC_LIMIT_CPUS = 2, DC_LIMIT_PIDS = 4 };
/* Writes the limits in ARGS into the cgroup DIR; on cgroup v2 it may enable
 * their controllers in DIR's parent only when PARENT_OURS (limits.c). */
int dc_cgroup_limits(const char *dir, const struct dc_kvs *args, bool parent_ours, unsigned *applied,
                     struct dc_error *err);
int dc_cgroup_limits_check(const struct dc_kvs *args, unsigned applied, struct dc_error *err);
/* The first limit key in ARGS ("memory", "cpus", "pids") whose controller is
 * not in AVAILABLE (a cgroup.controllers text), or NULL. */
const char *dc_cgroup_missing_controller(const char *available, const struct dc_kvs *args);
/* Unprivileged: every limit asked for needs its controller delegated to UNIT
 * (a cgroup directory in HIERARCHY); else an error naming the limit's origin,
 * the controller and the cgroup. */
int dc_cgroup_limits_delegated(const char *hierarchy, const char *unit, const struct dc_kvs *args,
                               struct dc_error *err);
bool dc_cgroup_oom_killed(const struct dc_strv *dirs);
void dc_cgroup_usage(const struct dc_strv *dirs, long long *memory, long long *pids);

/* The host lock STATE_ROOT/.lock (blocking); returns the fd, to be given to
 * dc_host_unlock, which removes the file so nothing stays on the host. */
int dc_host_lock(const char *state_root, struct dc_error *err);
void dc_host_unlock(int fd, const char *state_root);
/* Shared resources held by reference (shared.c). */
/* hold: the first holder reads the host's state (before), records it with
 * itself, then changes the host (first; on failure last() rolls back). */
int dc_shared_hold(const char *state_root, const char *id, const char *holder,
                   int (*before)(void *arg, char **prev, struct dc_error *err),
                   int (*first)(void *arg, struct dc_error *err),
                   int (*last)(void *arg, const char *prev, struct dc_error *err), void *arg,
                   struct dc_error *err);
int dc_shared_release(const char *state_root, const char *id, const char *holder,
                      int (*last)(void *arg, const char *prev, struct dc_error *err), void *arg,
                      struct dc_error *err);
/* The cgroup hierarchies this host has (see cgroup.c): the v2 one, and the
 * v1 ones of the controllers asked for. */
enum { DC_CG_MEMORY = 1, DC_CG_CPU = 2, DC_CG_PIDS = 4, DC_CG_DEVICES = 8 };
int dc_cgroup_hierarchies(struct dc_strv *out, unsigned want);
/* Launcher, right after the spawn: unless placed (cloned into the v2 cgroup,
 * joining v1 by itself), move ctx->child by pid; close the join fds. */
int dc_cgroup_after_spawn(struct dc_exec_ctx *ctx, bool placed, struct dc_error *err);
/* First process, on "go": join the v1 cgroups prepared for it (cgroup.c). */
/* child (src/exec/child_steps.c) */
extern const struct dc_step_ops dc_make_private_ops;
extern const struct dc_step_ops dc_cgroupns_ops;
extern const struct dc_step_ops dc_rootfs_ops;
extern const struct dc_step_ops dc_mount_ops;
extern const struct dc_step_ops dc_bind_ops;
extern const struct dc_step_ops dc_symlink_ops;
extern const struct dc_step_ops dc_hostname_ops;
extern const struct dc_step_ops dc_sysctl_inside_ops;
extern const struct dc_step_ops dc_loopback_up_ops;
extern const struct dc_step_ops dc_loopback_inside_ops;
extern const struct dc_step_ops dc_remount_root_ro_ops;
extern const struct dc_step_ops dc_pivot_root_ops;
extern const struct dc_step_ops dc_exec_ops;
extern const struct dc_step_ops dc_wait_launcher_ops;
/* child, security (src/exec/mask_steps.c) */
extern const struct dc_step_ops dc_readonly_ops;
extern const struct dc_step_ops dc_mask_ops;
extern const struct dc_step_ops dc_nodev_ops;
/* The device allow-list of a container's cgroup directory (devices.c): the
 * devices controller on v1, a BPF device program on v2. */
int dc_devices_restrict(const char *dir, const struct dc_kvs *args, struct dc_error *err);
const char *dc_devices_summary(void);

/* Apply helpers for host steps: journal the intent (fields = step args plus
 * extra), and afterwards the outcome. */
struct dc_exec_ctx;
int dc_step_intent(struct dc_exec_ctx *ctx, const struct dc_step *s, const struct dc_kvs *extra,
                   unsigned *seq, struct dc_error *err);
int dc_step_done(struct dc_exec_ctx *ctx, const struct dc_step *s, unsigned seq,
                 const struct dc_kvs *result, struct dc_error *err);
