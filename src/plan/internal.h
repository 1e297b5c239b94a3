#pragma once
#include "diyctl/config.h"
#include "diyctl/plan.h"

/* Cross-field checks; the first problem found is reported with its origin. */
int dc_plan_validate(const struct dc_config *c, const struct dc_plan_opts *opts,
                     struct dc_error *err);

/* A directory rootfs's contents against the config (rootfs_check.c): each
 * kind of check adds its first problem to ALL. TREE: look there instead (a
 * cached tarball's files); NULL: rootfs.path. */
struct dc_errs;
void dc_plan_validate_rootfs_contents(const struct dc_config *c, const struct dc_plan_opts *opts,
                                      const char *tree, struct dc_errs *all);

/* The namespaces a container gets: the configured ones, except that
 * network.mode = "host" drops "net" from the default list. */
unsigned dc_plan_namespaces(const struct dc_config *c);

/* Append a step of a kind from the table (plan.c). */
struct dc_step *dc_plan_add_step(struct dc_plan *p, const char *kind);

/* Security (security.c): the steps after pivot_root that hide and protect
 * kernel files, the exec step's "caps", "seccomp" and "no-new-privs", and
 * the checks across keys. */
void dc_plan_add_hardening(const struct dc_config *c, struct dc_plan *p);
int dc_plan_exec_security(const struct dc_config *c, struct dc_kvs *args, struct dc_error *err);
int dc_plan_validate_security(const struct dc_config *c, struct dc_error *err);

/* user.map -> "uid"/"gid" lines ("INSIDE OUTSIDE COUNT"), "setgroups", "method". */
int dc_plan_usermap(const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_kvs *args,
                    struct dc_error *err);
/* rootfs.idmap: is the directory rootfs handed over as an idmapped mount,
 * given the maps dc_plan_usermap worked out and the resolved writable mode?
 * 1 or 0 (with "auto", *WHY says why not, malloc'd), or an error. */
int dc_plan_rootfs_idmap(const struct dc_config *c, const struct dc_plan_opts *o, const struct dc_kvs *map,
                         enum dc_writable writable, char **why, struct dc_error *err);
/* "UID:GID" on the host of the container's root, from the maps; or NULL. */
char *dc_plan_root_ids(const struct dc_kvs *map);
/* Is anything mounted below DIR (in the caller's mount namespace, which is
 * where the launcher clones a source)? An idmapped mount of DIR would not
 * take those mounts along, and would show what they cover. *WHICH (when
 * given): the first one's mount point, malloc'd. */
bool dc_plan_has_submounts(const char *dir, char **which);

/* Networking (net.c): the effective mode, the checks of network.*, the
 * host-side steps (after the netns step), the resolv.conf the launcher
 * writes (before the spawn) and the child-side bind of it. */
enum dc_netmode dc_plan_netmode(const struct dc_config *c);
int dc_plan_validate_net(const struct dc_config *c, const struct dc_plan_opts *opts, enum dc_netmode mode,
                         struct dc_error *err);
int dc_plan_net(struct dc_plan *p, const struct dc_config *c, const struct dc_plan_opts *opts,
                struct dc_error *err);
void dc_plan_net_resolv(struct dc_plan *p, const struct dc_config *c);
void dc_plan_net_child(struct dc_plan *p, const struct dc_config *c);
/* Does the container get diyctl's /etc/resolv.conf? "host" (the host's
 * servers), "list" (network.dns), "copy" (network.mode "host"), or NULL. */
const char *dc_plan_resolv_mode(const struct dc_config *c);
