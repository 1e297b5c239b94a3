/* Where a container's cgroup goes in each hierarchy.
 *
 * By default: HIERARCHY/diyctl/NAME. Under a service manager that delegated
 * the launcher's cgroup to it (systemd's Delegate=yes, which marks the unit's
 * cgroup with the extended attribute trusted.delegate=1), the container's
 * cgroup is made inside that delegated subtree instead, so the unit owns the
 * container: systemd accounts for it, `systemctl stop` reaches it, and
 * nothing outside the unit's subtree is touched. On a cgroup v2 hierarchy the
 * unit's cgroup then becomes an inner node: because of v2's "no internal
 * processes" rule, the launcher first moves itself into a leaf "supervisor",
 * and the controllers the unit may use are enabled for its children:
 *
 *     diyctl@web.service/            (the unit's cgroup; no processes)
 *     ├── supervisor/                (the launcher)
 *     └── web/                       (the container)
 *
 * The same holds for an unprivileged launcher whose cgroup was delegated to
 * its user (systemd-run --user --scope -p Delegate=yes, which also chowns the
 * directory, cgroup.procs, cgroup.subtree_control and cgroup.threads), on the
 * v2 hierarchy only: v1 hierarchies are never delegated to users. Without
 * such a cgroup a rootless container gets none.
 *
 * DIYCTL_CGROUP_PARENT overrides the detection: "auto" (the default), "self"
 * (the launcher's own cgroup is delegated to it), "none" (the hierarchy
 * roots; unprivileged: no cgroup), or, as root, an absolute cgroup path such
 * as "/machine.slice" (created in each hierarchy when missing). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "diyctl/fs.h"
#include "diyctl/util.h"
#include "steps.h"
#include "cgroup_place.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static bool is_cgroup2(const char *path)
{
        struct statfs sf;
        return statfs(path, &sf) == 0 && (long)sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* Does the comma-separated list A name the same controllers as B? */
static bool same_set(const char *a, const char *b)
{
        size_t na = 0, nb = 0;
        for (const char *p = a; p; p = strchr(p, ','), p = p ? p + 1 : NULL) {
                size_t n = strcspn(p, ",");
                bool found = false;
                for (const char *q = b; q && !found; q = strchr(q, ','), q = q ? q + 1 : NULL)
                        found = strcspn(q, ",") == n && strncmp(p, q, n) == 0;
                if (!found)
                        return false;
                na++;
        }
        for (const char *q = b; q; q = strchr(q, ','), q = q ? q + 1 : NULL)
                nb++;
        return na == nb;
}

int dc_cgroup_own_path(const char *hierarchy, char **out)
{
        *out = NULL;
        bool v2 = is_cgroup2(hierarchy);
        _cleanup_free_ char *real = v2 ? NULL : realpath(hierarchy, NULL);
        const char *ctrls = NULL;
        if (!v2) {
                if (!real)
                        return -errno;
                const char *slash = strrchr(real, '/');
                ctrls = slash ? slash + 1 : real;
        }
        _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return -errno;
        char *line = NULL;
        size_t cap = 0;
        int r = -ENOENT;
        while (getline(&line, &cap, f) > 0) {
                line[strcspn(line, "\n")] = 0;
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c1 = *c2 = 0;
                bool match = v2 ? strcmp(line, "0") == 0 && c1[1] == 0 : same_set(c1 + 1, ctrls);
                if (!match)
                        continue;
                *out = dc_xstrdup(c2 + 1);
                r = 0;
                break;
        }
        free(line);
        return r;
}

static bool xattr_is_one(const char *path, const char *name)
{
        char v[8];
        ssize_t n = getxattr(path, name, v, sizeof(v) - 1);
        if (n <= 0)
                return false;
        v[n] = 0;
        return strcmp(v, "1") == 0;
}

/* May the caller (its effective ids) write PATH? */
static bool writable(const char *path)
{
        return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;
}

bool dc_cgroup_self_delegated(void)
{
        struct dc_strv h = { 0 };
        bool yes = false;
        if (dc_cgroup_hierarchies(&h, 0) == 0) {
                for (size_t i = 0; i < h.n && !yes; i++) {
                        if (!is_cgroup2(h.v[i]))
                                continue;
                        _cleanup_free_ char *own = NULL;
                        if (dc_cgroup_own_path(h.v[i], &own) < 0 || strcmp(own, "/") == 0)
                                break;
                        _cleanup_free_ char *dir = dc_xasprintf("%s%s", h.v[i], own);
                        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", dir);
                        /* Marked (root reads trusted.*, anyone user.*; systemd
                         * sets both) and handed over: ours to write. */
                        yes = (xattr_is_one(dir, "trusted.delegate") || xattr_is_one(dir, "user.delegate")) &&
                              writable(dir) && writable(procs);
                }
        }
        dc_strv_free(&h);
        return yes;
}

static bool has_dotdot(const char *p)
{
        for (const char *s = p; (s = strstr(s, "..")); s += 2)
                if ((s == p || s[-1] == '/') && (s[2] == 0 || s[2] == '/'))
                        return true;
        return false;
}

int dc_cgroup_parent(bool unprivileged, char **out, struct dc_error *err)
{
        *out = NULL;
        const char *v = getenv("DIYCTL_CGROUP_PARENT");
        if (!v || strcmp(v, "auto") == 0) {
                if (dc_cgroup_self_delegated())
                        *out = dc_xstrdup("self");
                return 0;
        }
        if (!*v || strcmp(v, "none") == 0)
                return 0;
        if (strcmp(v, "self") == 0) {
                *out = dc_xstrdup("self");
                return 0;
        }
        if (unprivileged)
                return dc_err(err, EPERM,
                              "DIYCTL_CGROUP_PARENT=%s: unprivileged, a container's cgroup can only be inside the "
                              "launcher's own delegated cgroup: expected \"auto\", \"self\" or \"none\"",
                              v);
        if (v[0] != '/' || has_dotdot(v) || strpbrk(v, "\n\r"))
                return dc_err(err, EINVAL,
                              "DIYCTL_CGROUP_PARENT=%s: expected \"auto\", \"self\", \"none\" or an absolute cgroup path "
                              "without \"..\"",
                              v);
        *out = dc_path_normalize(v);
        return 0;
}

void dc_cgroup_place_free(struct dc_cgroup_place *pl)
{
        free(pl->dir);
        dc_strv_free(&pl->mkparents);
        free(pl->unit);
        free(pl->supervisor);
        free(pl->enable);
        memset(pl, 0, sizeof(*pl));
}

/* The controllers listed in DIR/cgroup.controllers and not yet in
 * DIR/cgroup.subtree_control, space-separated ("" when none). */
static char *controllers_to_enable(const char *dir)
{
        _cleanup_free_ char *avail = NULL, *on = NULL;
        _cleanup_free_ char *fa = dc_xasprintf("%s/cgroup.controllers", dir);
        _cleanup_free_ char *fo = dc_xasprintf("%s/cgroup.subtree_control", dir);
        if (dc_read_file(fa, 4096, &avail) < 0)
                return dc_xstrdup("");
        if (dc_read_file(fo, 4096, &on) < 0)
                on = dc_xstrdup("");
        char *res = dc_xstrdup("");
        for (char *save = NULL, *t = strtok_r(avail, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
                bool enabled = false;
                _cleanup_free_ char *copy = dc_xstrdup(on);
                for (char *s2 = NULL, *u = strtok_r(copy, " \n", &s2); u && !enabled; u = strtok_r(NULL, " \n", &s2))
                        enabled = strcmp(t, u) == 0;
                if (enabled)
                        continue;
                char *n = dc_xasprintf("%s%s%s", res, *res ? " " : "", t);
                free(res);
                res = n;
        }
        return res;
}

/* Every component of REL below H that does not exist yet, shallowest first. */
static void missing_parents(const char *h, const char *rel, struct dc_strv *out)
{
        _cleanup_free_ char *path = dc_xstrdup(rel);
        for (char *p = path + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                _cleanup_free_ char *d = dc_xasprintf("%s%s", h, path);
                if (access(d, F_OK) < 0 || out->n)
                        dc_strv_push(out, d);
                *p = '/';
        }
        _cleanup_free_ char *d = dc_xasprintf("%s%s", h, path);
        if (strcmp(path, "/") != 0 && (access(d, F_OK) < 0 || out->n))
                dc_strv_push(out, d);
}

int dc_cgroup_place(const char *h, const struct dc_kvs *args, struct dc_cgroup_place *pl, struct dc_error *err)
{
        memset(pl, 0, sizeof(*pl));
        const char *group = dc_kvs_get(args, "group"); /* "diyctl/web", or "web" with a parent */
        const char *parent = dc_kvs_get(args, "under");
        if (!group || !*group || has_dotdot(group))
                return dc_err(err, EINVAL, "cgroup step without a valid group");
        _cleanup_free_ char *base = NULL; /* the parent's path below h, "/..." */
        if (!parent) {
                /* "diyctl/web": the parent is "/diyctl" */
                _cleanup_free_ char *g = dc_xasprintf("/%s", group);
                char *slash = strrchr(g, '/');
                *slash = 0;
                base = dc_xstrdup(*g ? g : "/");
        } else if (strcmp(parent, "self") == 0) {
                _cleanup_free_ char *own = NULL;
                int r = dc_cgroup_own_path(h, &own);
                if (r < 0 && r != -ENOENT)
                        return dc_err(err, -r, "cannot read /proc/self/cgroup: %s", strerror(-r));
                if (!own || strcmp(own, "/") == 0) {
                        /* not delegated in this hierarchy: the usual place */
                        base = dc_xstrdup("/diyctl");
                } else {
                        base = dc_path_normalize(own);
                        if (is_cgroup2(h)) {
                                const char *name = strrchr(group, '/') ? strrchr(group, '/') + 1 : group;
                                pl->unit = dc_xasprintf("%s%s", h, base);
                                pl->supervisor = dc_xasprintf("%s/%s", pl->unit,
                                                              strcmp(name, "supervisor") == 0 ? "supervisor-diyctl"
                                                                                              : "supervisor");
                                pl->enable = controllers_to_enable(pl->unit);
                        }
                }
        } else {
                if (parent[0] != '/' || has_dotdot(parent))
                        return dc_err(err, EINVAL, "cgroup parent %s is not an absolute path", parent);
                base = dc_path_normalize(parent);
        }
        if (!parent || (pl->unit == NULL && strcmp(base, "/diyctl") == 0 && strcmp(parent, "self") == 0)) {
                /* Our own "diyctl" directory: every container records it, and
                 * the last one to leave removes it (rmdir fails while others
                 * are in it), so no container's teardown leaves it behind. */
                _cleanup_free_ char *d = dc_xasprintf("%s%s", h, base);
                if (strcmp(base, "/") != 0)
                        dc_strv_push(&pl->mkparents, d);
        } else if (!pl->unit) {
                /* Someone else's hierarchy: create (and later remove) only what is missing. */
                missing_parents(h, base, &pl->mkparents);
        }
        const char *leaf = parent ? group : strrchr(group, '/') ? strrchr(group, '/') + 1 : group;
        pl->dir = dc_xasprintf("%s%s%s%s", h, base, strcmp(base, "/") == 0 ? "" : "/", leaf);
        return 0;
}

int dc_cgroup_check_delegated(const char *h, const struct dc_cgroup_place *pl, const struct dc_kvs *args,
                              struct dc_error *err)
{
        if (!pl->unit)
                return dc_err(err, EPERM,
                              "unprivileged, a container's cgroup can only be made inside the launcher's own "
                              "delegated cgroup, and the launcher is at the root of %s",
                              h);
        const char *rel = pl->unit + strlen(h);
        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", pl->unit);
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", pl->unit);
        const char *need[] = { pl->unit, procs, pl->enable && *pl->enable ? sc : NULL };
        for (size_t i = 0; i < DC_ARRAY_SIZE(need); i++) {
                if (!need[i] || writable(need[i]))
                        continue;
                int e = errno;
                return dc_err(err, e,
                              "the launcher's cgroup %s is not delegated to you (%s: %s): start diyctl with "
                              "`systemd-run --user --scope -p Delegate=yes diyctl start FILE`, or from a user unit "
                              "with Delegate=yes",
                              rel, need[i], strerror(e));
        }
        return dc_cgroup_limits_delegated(h, pl->unit, args, err);
}

static int write_pids(const char *from_dir, const char *to_dir)
{
        _cleanup_free_ char *from = dc_xasprintf("%s/cgroup.procs", from_dir);
        _cleanup_free_ char *to = dc_xasprintf("%s/cgroup.procs", to_dir);
        /* Moving one process can race with it forking: repeat until empty. */
        for (int round = 0; round < 20; round++) {
                _cleanup_fclose_ FILE *f = fopen(from, "re");
                if (!f)
                        return errno == ENOENT ? 0 : -errno;
                int pid, moved = 0;
                while (fscanf(f, "%d", &pid) == 1) {
                        char buf[32];
                        snprintf(buf, sizeof(buf), "%d", pid);
                        int w = dc_write_file(to, buf);
                        if (w < 0 && w != -ESRCH)
                                return w;
                        moved++;
                }
                if (!moved)
                        return 0;
        }
        return -EBUSY;
}

int dc_cgroup_enter_delegated(const struct dc_cgroup_place *pl, struct dc_error *err)
{
        if (!pl->unit)
                return 0;
        if (mkdir(pl->supervisor, 0755) < 0 && errno != EEXIST)
                return dc_err(err, errno, "cannot create %s: %s", pl->supervisor, strerror(errno));
        int r = write_pids(pl->unit, pl->supervisor);
        if (r < 0)
                return dc_err(err, -r, "cannot move the processes of %s into %s: %s", pl->unit, pl->supervisor,
                              strerror(-r));
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", pl->unit);
        _cleanup_free_ char *list = dc_xstrdup(pl->enable ? pl->enable : "");
        for (char *save = NULL, *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                _cleanup_free_ char *w = dc_xasprintf("+%s", t);
                r = dc_write_file(sc, w);
                if (r < 0)
                        return dc_err(err, -r, "cannot enable the %s controller in %s: %s", t, sc, strerror(-r));
        }
        return 0;
}

int dc_cgroup_leave_delegated(const char *unit, const char *supervisor, const char *enable, struct dc_error *err)
{
        if (!unit || !supervisor)
                return 0;
        size_t ul = strlen(unit);
        if ((!dc_startswith(unit, "/sys/fs/cgroup/") && !getenv("DIYCTL_CGROUP_ROOT")) ||
            strncmp(supervisor, unit, ul) != 0 || supervisor[ul] != '/' || strchr(supervisor + ul + 1, '/') ||
            has_dotdot(unit) || has_dotdot(supervisor))
                return dc_err(err, EINVAL, "cgroup record with an unexpected supervisor %s in %s", supervisor, unit);
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", unit);
        _cleanup_free_ char *list = dc_xstrdup(enable ? enable : "");
        for (char *save = NULL, *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                _cleanup_free_ char *w = dc_xasprintf("-%s", t);
                int r = dc_write_file(sc, w);
                if (r < 0 && r != -ENOENT && r != -ENODEV)
                        return dc_err(err, -r, "cannot disable the %s controller in %s: %s", t, sc, strerror(-r));
        }
        if (access(unit, F_OK) == 0) {
                int r = write_pids(supervisor, unit);
                if (r < 0)
                        return dc_err(err, -r, "cannot move the processes of %s back into %s: %s", supervisor, unit,
                                      strerror(-r));
        }
        if (rmdir(supervisor) < 0 && errno != ENOENT)
                return dc_err(err, errno, "cannot remove %s: %s", supervisor, strerror(errno));
        return 0;
}
