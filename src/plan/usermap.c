/* user.map: the uid and gid maps of a user namespace, worked out at plan time
 * from the config, the caller and /etc/subuid and /etc/subgid.
 *
 *   "root"     the caller becomes 0 inside (one line; works unprivileged,
 *              with setgroups denied as the kernel requires);
 *   "auto"     unprivileged: 0 = the caller, 1.. = the caller's first
 *              subordinate range (written by newuidmap/newgidmap);
 *              root: 0.. = root's first subordinate range, written directly;
 *   explicit   the listed ranges, for uids and gids alike; unprivileged
 *              callers may only name their own id or their subordinate ranges. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "diyctl/fs.h"
#include "diyctl/util.h"
#include "internal.h"

struct range {
        unsigned long start, count;
};

/* The ranges NAME (or the numeric UID) owns in a subid file. */
static size_t read_subids(const char *file, const char *name, unsigned id, struct range *out, size_t cap)
{
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        if (!f)
                return 0;
        char line[512], idstr[32];
        snprintf(idstr, sizeof(idstr), "%u", id);
        size_t n = 0;
        while (n < cap && fgets(line, sizeof(line), f)) {
                char who[256];
                unsigned long start, count;
                if (line[0] == '#' || sscanf(line, "%255[^:]:%lu:%lu", who, &start, &count) != 3 || count == 0)
                        continue;
                if ((name && strcmp(who, name) == 0) || strcmp(who, idstr) == 0)
                        out[n++] = (struct range){ start, count };
        }
        return n;
}

static bool covered(unsigned long out, unsigned long count, unsigned own, const struct range *r, size_t n)
{
        if (count == 1 && out == own)
                return true;
        for (size_t i = 0; i < n; i++)
                if (out >= r[i].start && out + count <= r[i].start + r[i].count)
                        return true;
        return false;
}

static int build_map(const struct dc_config *c, const struct dc_plan_opts *o, struct dc_kvs *args,
                     struct dc_error *err)
{
        const char *key = "user.map";
        const struct dc_origin *org = dc_config_origin(c, key);
        const char *subuid = o->subuid_file ? o->subuid_file : "/etc/subuid";
        const char *subgid = o->subgid_file ? o->subgid_file : "/etc/subgid";
        bool root = o->uid == 0;
        struct passwd *pw = getpwuid(o->uid);
        const char *name = pw ? pw->pw_name : NULL;
        struct range ur[16], gr[16];
        size_t nu = read_subids(subuid, name, o->uid, ur, 16);
        size_t ng = read_subids(subgid, name, o->uid, gr, 16);
        enum dc_usermap m = c->user.map == DC_USERMAP_UNSET ? DC_USERMAP_ROOT : c->user.map;
        switch (m) {
        case DC_USERMAP_UNSET:
        case DC_USERMAP_ROOT:
                dc_kvs_addf(args, "uid", "0 %u 1", (unsigned)o->uid);
                dc_kvs_addf(args, "gid", "0 %u 1", (unsigned)o->gid);
                dc_kvs_add(args, "setgroups", root ? "allow" : "deny");
                dc_kvs_add(args, "method", "direct");
                return 0;
        case DC_USERMAP_AUTO:
                if (nu == 0 || ng == 0)
                        return dc_err_at(err, org, key, "\"auto\": %s has no range for %s in %s",
                                         name ? name : "this user", nu == 0 ? "uids" : "gids",
                                         nu == 0 ? subuid : subgid);
                if (root) {
                        dc_kvs_addf(args, "uid", "0 %lu %lu", ur[0].start, ur[0].count);
                        dc_kvs_addf(args, "gid", "0 %lu %lu", gr[0].start, gr[0].count);
                        dc_kvs_add(args, "setgroups", "allow");
                        dc_kvs_add(args, "method", "direct");
                } else {
                        dc_kvs_addf(args, "uid", "0 %u 1", (unsigned)o->uid);
                        dc_kvs_addf(args, "uid", "1 %lu %lu", ur[0].start, ur[0].count);
                        dc_kvs_addf(args, "gid", "0 %u 1", (unsigned)o->gid);
                        dc_kvs_addf(args, "gid", "1 %lu %lu", gr[0].start, gr[0].count);
                        dc_kvs_add(args, "setgroups", "allow");
                        dc_kvs_add(args, "method", "helper");
                }
                return 0;
        case DC_USERMAP_EXPLICIT:
                /* the kernel's limit on the lines of a uid_map (UID_GID_MAP_MAX_EXTENTS) */
                if (c->user.n_maps > 340)
                        return dc_err_at(err, org, key, "%zu ranges: the kernel takes at most 340", c->user.n_maps);
                for (size_t i = 0; i < c->user.n_maps; i++) {
                        const struct dc_idmap *im = &c->user.maps[i];
                        if (!root && (!covered(im->outside, im->count, o->uid, ur, nu) ||
                                      !covered(im->outside, im->count, o->gid, gr, ng)))
                                return dc_err_at(err, org, key,
                                                 "map[%zu]: %u-%llu outside is not yours to map (your id, or a range of "
                                                 "yours in %s and %s)",
                                                 i, im->outside, (unsigned long long)im->outside + im->count - 1,
                                                 subuid, subgid);
                        dc_kvs_addf(args, "uid", "%u %u %u", im->inside, im->outside, im->count);
                        dc_kvs_addf(args, "gid", "%u %u %u", im->inside, im->outside, im->count);
                }
                dc_kvs_add(args, "setgroups", "allow");
                /* one line naming only our own id needs no helper */
                bool own_only = c->user.n_maps == 1 && c->user.maps[0].count == 1 &&
                                c->user.maps[0].outside == o->uid && o->uid == o->gid;
                dc_kvs_add(args, "method", root ? "direct" : own_only ? "direct" : "helper");
                if (!root && own_only)
                        dc_kvs_set(args, "setgroups", "deny");
                return 0;
        }
        return 0;
}

/* Is ID among the inside (or, with OUTSIDE, the host's) ids of the "uid"
 * (or "gid") lines of ARGS ("IN OUT COUNT")? */
static bool in_map(const struct dc_kvs *args, const char *which, unsigned long long id, bool outside)
{
        for (size_t i = 0; i < args->n; i++) {
                unsigned long long in, out, count;
                if (strcmp(args->v[i].key, which) != 0 ||
                    sscanf(args->v[i].val, "%llu %llu %llu", &in, &out, &count) != 3)
                        continue;
                unsigned long long first = outside ? out : in;
                if (id >= first && id - first < count)
                        return true;
        }
        return false;
}

static bool mapped_inside(const struct dc_kvs *args, const char *which, unsigned long long id)
{
        return in_map(args, which, id, false);
}

char *dc_plan_root_ids(const struct dc_kvs *map)
{
        long long ids[2] = { -1, -1 };
        static const char *const which[] = { "uid", "gid" };
        for (size_t w = 0; w < 2; w++)
                for (size_t i = 0; i < map->n && ids[w] < 0; i++) {
                        unsigned long long in, out, count;
                        if (strcmp(map->v[i].key, which[w]) == 0 &&
                            sscanf(map->v[i].val, "%llu %llu %llu", &in, &out, &count) == 3 && in == 0)
                                ids[w] = (long long)out;
                }
        return ids[0] < 0 || ids[1] < 0 ? NULL : dc_xasprintf("%lld:%lld", ids[0], ids[1]);
}

static bool kernel_at_least(unsigned major, unsigned minor)
{
        struct utsname u;
        unsigned a = 0, b = 0;
        if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &a, &b) != 2)
                return false;
        return a > major || (a == major && b >= minor);
}

/* Mount points in mountinfo are escaped: a space is \040, a backslash \134. */
bool dc_plan_has_submounts(const char *dir, char **which)
{
        if (which)
                *which = NULL;
        _cleanup_free_ char *real = realpath(dir, NULL);
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!real || !f)
                return true; /* not known: keep the plain bind */
        size_t n = strlen(real);
        if (n == 1)
                return true; /* the host's / has mounts below it */
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
                char *p = line;
                for (int field = 0; field < 4 && p; field++) {
                        p = strchr(p, ' ');
                        if (p)
                                p++;
                }
                if (!p)
                        continue;
                char *end = strchr(p, ' ');
                if (end)
                        *end = 0;
                char *w = p;
                for (const char *r = p; *r; r++) {
                        unsigned v;
                        if (r[0] == '\\' && sscanf(r + 1, "%3o", &v) == 1 && strspn(r + 1, "01234567") >= 3) {
                                *w++ = (char)v;
                                r += 3;
                        } else {
                                *w++ = *r;
                        }
                }
                *w = 0;
                if (strncmp(p, real, n) == 0 && p[n] == '/') {
                        if (which)
                                *which = dc_xstrdup(p);
                        return true;
                }
        }
        return false;
}

/* "auto" idmaps a directory rootfs when, without it, the container would
 * see its root directory as nobody's (the owner is not among the ids the map
 * gives the container) while the map has that id inside (so through the
 * idmapped mount the owner is itself again: a root-owned tree is root's
 * inside). A tree already shifted for the map (chown -R 100000:100000, as
 * for LXC's unprivileged containers) is left as it is. Only when writes do
 * not reach the directory through the mount ("tmpfs", "none", an upper
 * layer): with "direct" they would land on the host with the ids the
 * container names (0 is the host's root, a setuid file too), which takes
 * rootfs.idmap = true. Nor where the kernel or the directory's mounts
 * would make it differ from the plain bind it replaces, nor for a path
 * through a link (validate.c: an idmapped source is never reached through
 * one). Where "auto" leaves the directory as it is, *WHY says why (for the
 * plan and the status; malloc'd). true on a shifted tree is an error: every
 * file would be nobody's. */
int dc_plan_rootfs_idmap(const struct dc_config *c, const struct dc_plan_opts *o, const struct dc_kvs *map,
                         enum dc_writable writable, char **why, struct dc_error *err)
{
        *why = NULL;
        if (!c->rootfs.path || !(c->namespaces & DC_NS_USER) || o->uid != 0 || c->rootfs.idmap == DC_IDMAP_NO ||
            o->skip_fs_checks)
                return c->rootfs.idmap == DC_IDMAP_YES && c->rootfs.path && o->uid == 0;
        struct stat st;
        if (stat(c->rootfs.path, &st) < 0)
                return 0; /* validate.c names it */
        bool shifted = in_map(map, "uid", st.st_uid, true);
        if (c->rootfs.idmap == DC_IDMAP_YES) {
                if (shifted)
                        return dc_err_at(err, dc_config_origin(c, "rootfs.idmap"), "rootfs.idmap",
                                         "true, but %s belongs to uid %u, one of the container's host ids already (a "
                                         "tree shifted for the map, or a map of the host's own ids): its owners are "
                                         "the container's without an idmap, and through one they would be nobody's; "
                                         "use false",
                                         c->rootfs.path, (unsigned)st.st_uid);
                return 1;
        }
        _cleanup_free_ char *link = dc_path_through_link(c->rootfs.path);
        _cleanup_free_ char *below = NULL;
        if (shifted)
                return 0; /* its ids are the container's already: nothing to say */
        if (!mapped_inside(map, "uid", st.st_uid))
                *why = dc_xasprintf("its owner, uid %u, is mapped neither inside nor outside", (unsigned)st.st_uid);
        else if (writable == DC_WRITABLE_DIRECT)
                *why = dc_xstrdup("writable \"direct\": writes would reach the directory with the ids the container "
                                  "names; writable = \"tmpfs\" or rootfs.idmap = true idmaps it");
        else if (link)
                *why = dc_xasprintf("its path goes through a link (the real path is %s)", link);
        else if (dc_plan_has_submounts(c->rootfs.path, &below))
                *why = dc_xasprintf("mounts below it (%s), which an idmapped mount would not take along",
                                    below ? below : "?");
        else if (!kernel_at_least(5, 19))
                *why = dc_xstrdup("overlayfs takes an idmapped layer from Linux 5.19");
        return *why ? 0 : 1;
}

/* A number as process.user gives it ("1000" of "1000:100"; the config
 * checked its range), or -1 for a name. */
static long long numeric_id(const char *s, size_t n)
{
        return n && strspn(s, "0123456789") >= n ? strtoll(s, NULL, 10) : -1;
}

int dc_plan_usermap(const struct dc_config *c, const struct dc_plan_opts *o, struct dc_kvs *args,
                    struct dc_error *err)
{
        int r = build_map(c, o, args, err);
        if (r < 0)
                return r;
        /* The first process becomes root of its user namespace before it
         * becomes process.user: 0 inside must be mapped. */
        if (!mapped_inside(args, "uid", 0) || !mapped_inside(args, "gid", 0))
                return dc_err_at(err, dc_config_origin(c, "user.map"), "user.map",
                                 "no range maps 0 inside: the container's first process is root of its user "
                                 "namespace first");
        /* A numeric process.user outside the map cannot be become (names are
         * looked up in the rootfs at start, and checked there). */
        const char *u = c->process.user;
        if (u) {
                const char *colon = strchr(u, ':');
                size_t un = colon ? (size_t)(colon - u) : strlen(u);
                long long uid = numeric_id(u, un), gid = colon ? numeric_id(colon + 1, strlen(colon + 1)) : -1;
                const char *bad = uid >= 0 && !mapped_inside(args, "uid", (unsigned long long)uid) ? "uid"
                                  : gid >= 0 && !mapped_inside(args, "gid", (unsigned long long)gid) ? "gid"
                                                                                                     : NULL;
                if (bad)
                        return dc_err_at(err, dc_config_origin(c, "process.user"), "process.user",
                                         "%s: the %s %lld is not mapped in the container's user namespace (user.map)",
                                         u, bad, !strcmp(bad, "uid") ? uid : gid);
        }
        return 0;
}
