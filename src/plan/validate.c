/* Checks that one key cannot make alone. Per-key syntax is checked by the
 * config parser; here we look at combinations and at the host's files. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "diyctl/fs.h"
#include "internal.h"

static bool has_dotdot(const char *p)
{
        for (const char *s = p; (s = strstr(s, "..")); s += 2) {
                bool start = s == p || s[-1] == '/';
                bool end = s[2] == 0 || s[2] == '/';
                if (start && end)
                        return true;
        }
        return false;
}

static int check_abs_path(const struct dc_config *c, const char *key, const struct dc_origin *o,
                          const char *p, struct dc_error *err)
{
        (void)c;
        if (p[0] != '/')
                return dc_err_at(err, o, key, "%s is not an absolute path", p);
        if (has_dotdot(p))
                return dc_err_at(err, o, key, "%s must not contain \"..\"", p);
        return 0;
}

/* Is A the directory B or below it (both canonical paths)? */
static bool path_under(const char *a, const char *b)
{
        size_t n = strlen(b);
        if (n == 1)
                return true; /* b is / */
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/');
}

/* A source handed over idmapped is cloned by the host's root: never through
 * a link (one a container could put on the path would lead the clone
 * anywhere on the host; the launcher opens it without following links too),
 * and not with mounts below it (the idmapped mount would not take them
 * along, and would show what they cover). */
static int check_idmap_source(const char *path, const struct dc_origin *o, const char *key, struct dc_error *err)
{
        _cleanup_free_ char *real = dc_path_through_link(path);
        if (real)
                return dc_err_at(err, o, key,
                                 "%s is reached through a link (it is %s): an idmapped source is never reached "
                                 "through one; give the real path",
                                 path, real);
        _cleanup_free_ char *below = NULL;
        if (dc_plan_has_submounts(path, &below))
                return dc_err_at(err, o, key,
                                 "%s has mounts below it (%s), which an idmapped mount of it would not take along "
                                 "(it would show what they cover); mount them as volumes of their own",
                                 path, below ? below : "?");
        return 0;
}

static int validate_rootfs(const struct dc_config *c, const struct dc_plan_opts *opts,
                           struct dc_error *err)
{
        struct stat st;
        if (c->rootfs.tarball || c->rootfs.image) {
                /* The archive itself is read by the planner (src/image/plan_image.c). */
        } else if (!c->rootfs.path) {
                return dc_err_at(err, dc_config_origin(c, "rootfs"), "rootfs", "rootfs.path is required");
        }
        if (dc_config_present(c, "rootfs.idmap")) {
                const struct dc_origin *io = dc_config_origin(c, "rootfs.idmap");
                if (c->rootfs.idmap == DC_IDMAP_YES && !(c->namespaces & DC_NS_USER))
                        return dc_err_at(err, io, "rootfs.idmap",
                                         "true needs \"user\" in namespaces (the mount is idmapped with the "
                                         "container's user namespace)");
                if (c->rootfs.idmap == DC_IDMAP_YES && opts->uid != 0)
                        return dc_err_at(err, io, "rootfs.idmap",
                                         "true needs root on the host: an unprivileged user cannot make idmapped "
                                         "mounts (user.map = \"root\" shows your own files as root's)");
        }
        if (opts->skip_fs_checks)
                return 0;
        if (c->rootfs.path && stat(c->rootfs.path, &st) < 0)
                return dc_err_at(err, dc_config_origin(c, "rootfs.path"), "rootfs.path", "%s: %s",
                                 c->rootfs.path, strerror(errno));
        if (c->rootfs.path && !S_ISDIR(st.st_mode))
                return dc_err_at(err, dc_config_origin(c, "rootfs.path"), "rootfs.path",
                                 "%s is not a directory", c->rootfs.path);
        if (c->rootfs.path && c->rootfs.idmap == DC_IDMAP_YES) {
                int r = check_idmap_source(c->rootfs.path, dc_config_origin(c, "rootfs.idmap"), "rootfs.idmap", err);
                if (r < 0)
                        return r;
        }
        if (c->rootfs.writable == DC_WRITABLE_DIR) {
                const char *w = c->rootfs.writable_dir;
                const struct dc_origin *wo = dc_config_origin(c, "rootfs.writable");
                if (stat(w, &st) < 0 || !S_ISDIR(st.st_mode))
                        return dc_err_at(err, wo, "rootfs.writable", "%s is not an existing directory", w);
                _cleanup_free_ char *real = realpath(w, NULL);
                if (real && strcmp(real, "/") == 0)
                        return dc_err_at(err, wo, "rootfs.writable",
                                         "%s is the host's root directory: the overlay's upper/ and work/ would be "
                                         "made there; give a directory of their own", w);
                /* overlayfs takes no upper layer on overlayfs (EINVAL at
                 * start), and one inside or above its lower layer changes
                 * what the lower layer holds under it */
                struct statfs sf;
                if (statfs(w, &sf) == 0 && (unsigned long)sf.f_type == 0x794c7630UL /* OVERLAYFS_SUPER_MAGIC */)
                        return dc_err_at(err, wo, "rootfs.writable",
                                         "%s is on overlayfs, which an overlay's upper layer cannot be on", w);
                if (c->rootfs.path) {
                        /* the layers are DIR/upper and DIR/work */
                        _cleanup_free_ char *rw = realpath(w, NULL), *rr = realpath(c->rootfs.path, NULL);
                        _cleanup_free_ char *up = rw ? dc_xasprintf("%s/upper", rw) : NULL;
                        _cleanup_free_ char *wk = rw ? dc_xasprintf("%s/work", rw) : NULL;
                        if (rw && rr && (path_under(rw, rr) || path_under(rr, up) || path_under(rr, wk)))
                                return dc_err_at(err, wo, "rootfs.writable",
                                                 "%s and rootfs.path %s overlap: the overlay's upper layer "
                                                 "(%s/upper) must be outside the rootfs, and the rootfs outside it",
                                                 w, c->rootfs.path, w);
                }
        }
        return 0;
}

static int validate_volumes(const struct dc_config *c, const struct dc_plan_opts *opts,
                            struct dc_error *err)
{
        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct dc_volume *v = &c->volumes[i];
                char key[64];
                snprintf(key, sizeof(key), "volumes[%zu].target", i);
                int r = check_abs_path(c, key, &v->o_target, v->target, err);
                if (r < 0)
                        return r;
                _cleanup_free_ char *norm = dc_path_normalize(v->target);
                if (strcmp(norm, "/") == 0)
                        return dc_err_at(err, &v->o_target, key, "a volume cannot replace the root directory");
                const char *rm = strcmp(norm, "/etc/resolv.conf") == 0 ? dc_plan_resolv_mode(c) : NULL;
                if (rm && strcmp(rm, "copy") == 0)
                        return dc_err_at(err, &v->o_target, key,
                                         "with network.mode \"host\" diyctl mounts a copy of the host's "
                                         "/etc/resolv.conf there, which would hide this volume");
                if (rm)
                        return dc_err_at(err, &v->o_target, key,
                                         "diyctl mounts the container's own /etc/resolv.conf there (%s), which would "
                                         "hide this volume: give the servers in network.dns instead",
                                         strcmp(rm, "list") == 0 ? "the servers of network.dns"
                                                                 : "the host's servers, network.dns = \"host\"");
                for (size_t k = 0; k < i; k++) {
                        _cleanup_free_ char *other = dc_path_normalize(c->volumes[k].target);
                        if (strcmp(norm, other) == 0)
                                return dc_err_at(err, &v->o_target, key,
                                                 "%s is already the target of volumes[%zu]", v->target, k);
                }
                char ikey[64];
                snprintf(ikey, sizeof(ikey), "volumes[%zu].idmap", i);
                if (v->idmap && !(c->namespaces & DC_NS_USER))
                        return dc_err_at(err, &v->o_idmap, ikey,
                                         "needs \"user\" in namespaces (the mount is idmapped with the container's "
                                         "user namespace)");
                if (v->idmap && opts->uid != 0)
                        return dc_err_at(err, &v->o_idmap, ikey,
                                         "needs root on the host: an unprivileged user cannot make idmapped mounts");
                if (v->type != DC_VOL_BIND || opts->skip_fs_checks)
                        continue;
                snprintf(key, sizeof(key), "volumes[%zu].source", i);
                struct stat st;
                if (stat(v->source, &st) < 0)
                        return dc_err_at(err, &v->o_source, key, "%s: %s", v->source, strerror(errno));
                if (v->idmap && (r = check_idmap_source(v->source, &v->o_idmap, ikey, err)) < 0)
                        return r;
        }
        return 0;
}

unsigned dc_plan_namespaces(const struct dc_config *c)
{
        unsigned ns = c->namespaces;
        if (c->network.mode == DC_NET_HOST && !dc_config_present(c, "namespaces"))
                ns &= ~(unsigned)DC_NS_NET;
        return ns;
}

static int validate_network(const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_error *err)
{
        const char *mkey = "network.mode";
        bool netns = dc_plan_namespaces(c) & DC_NS_NET;
        enum dc_netmode mode = c->network.mode;
        /* namespaces without "net" and no mode given: the host's network */
        if (!dc_config_present(c, mkey) && !netns)
                mode = DC_NET_HOST;
        switch (mode) {
        case DC_NET_NONE:
                if (!netns)
                        return dc_err_at(err, dc_config_origin(c, mkey), mkey,
                                         "\"none\" needs \"net\" in namespaces (use \"host\" to share the host's network)");
                break;
        case DC_NET_HOST:
                if (netns)
                        return dc_err_at(err, dc_config_origin(c, "namespaces"), "namespaces",
                                         "\"net\" conflicts with network.mode = \"host\" (%s:%d)",
                                         dc_config_origin(c, mkey)->file, dc_config_origin(c, mkey)->line);
                break;
        case DC_NET_NAT:
        case DC_NET_BRIDGE:
                if (opts->uid != 0)
                        return dc_err_at(err, dc_config_origin(c, mkey), mkey,
                                         "\"%s\" networking needs root (use \"none\" or \"host\" without it)",
                                         mode == DC_NET_NAT ? "nat" : "bridge");
                return dc_plan_validate_net(c, opts, mode, err);
        }
        static const char *const vethkeys[] = {
                "network.interface", "network.address", "network.bridge", "network.gateway",
                "network.ipv6", "network.ports",
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(vethkeys); i++)
                if (dc_config_present(c, vethkeys[i]))
                        return dc_err_at(err, dc_config_origin(c, vethkeys[i]), vethkeys[i],
                                         strcmp(vethkeys[i], "network.ports") == 0
                                                 ? "port forwards need network.mode \"nat\""
                                                 : "only used with network.mode \"nat\" or \"bridge\"");
        if (dc_config_present(c, "network.dns") && mode == DC_NET_HOST)
                return dc_err_at(err, dc_config_origin(c, "network.dns"), "network.dns",
                                 "with network.mode \"host\" the container uses the host's resolv.conf");
        return 0;
}

/* The kernel takes a time namespace's offset when the clock it gives
 * stays between 0 and KTIME_SEC_MAX / 2 (about 146 years) seconds. The
 * host's clock only grows until the start, so an offset that fits now
 * below fits then too. */
static int check_time_offset(const struct dc_config *c, const char *key, clockid_t clock, long long off,
                             struct dc_error *err)
{
        const long long max = 9223372036LL / 2;
        struct timespec now;
        if (off == 0 || clock_gettime(clock, &now) < 0)
                return 0;
        if ((long long)now.tv_sec + off < 0)
                return dc_err_at(err, dc_config_origin(c, key), key,
                                 "%lld would set the container's clock before 0: this host's is at %lld s%s",
                                 off, (long long)now.tv_sec,
                                 clock == CLOCK_BOOTTIME ? " (boottime = \"reset\" starts it at 0)" : "");
        if (off > max - (long long)now.tv_sec)
                return dc_err_at(err, dc_config_origin(c, key), key,
                                 "%lld would set the container's clock past the kernel's limit of %lld s", off, max);
        return 0;
}

/* The rules that combine keys, and the host's files. Each group of rules
 * below is checked whatever the others found, so that check names every
 * key with an error at once. */
static int validate_namespaces(const struct dc_config *c, struct dc_error *err)
{
        if (!(c->namespaces & DC_NS_MOUNT))
                return dc_err_at(err, dc_config_origin(c, "namespaces"), "namespaces",
                                 "\"mount\" is required: a container needs its own mount namespace");
        /* /proc belongs to a pid namespace, and only the user namespace that
         * owns that pid namespace may mount it: the host's, for a container
         * without "pid", which the container's root never is. */
        if ((c->namespaces & DC_NS_USER) && !(c->namespaces & DC_NS_PID))
                return dc_err_at(err, dc_config_origin(c, "namespaces"), "namespaces",
                                 "\"user\" needs \"pid\" too: a user namespace's root may mount /proc only for a "
                                 "pid namespace of its own");
        return 0;
}

static int validate_needs_ns(const struct dc_config *c, struct dc_error *err)
{
        if (dc_config_present(c, "user") && !(c->namespaces & DC_NS_USER))
                return dc_err_at(err, dc_config_origin(c, "user"), "user", "needs \"user\" in namespaces");
        return 0;
}

/* Each device is one on this host: a character or block device node
 * (links followed, as /dev/disk/by-id/ holds them). */
static int validate_devices(const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_error *err)
{
        if (c->n_devices > DC_DEVICES_MAX)
                return dc_err_at(err, &c->devices[DC_DEVICES_MAX].origin, "devices",
                                 "more than %d devices", DC_DEVICES_MAX);
        for (size_t i = 0; i < c->n_devices; i++) {
                const struct dc_device *d = &c->devices[i];
                bool narrowed = strcmp(d->perms, "rwm") != 0;
                /* permissions are the device allow-list's, which only a
                 * container of root's with its cgroup has */
                if (narrowed && (opts->uid != 0 || !opts->cgroups))
                        return dc_err_at(err, &d->origin, "devices",
                                         "%s: permissions (:%s) need the device allow-list, which a container "
                                         "without root has not: leave them out, and the node's own mode decides",
                                         d->host, d->perms);
                /* a volume mounted above it would hide it */
                for (size_t v = 0; v < c->n_volumes; v++) {
                        _cleanup_free_ char *t = dc_path_normalize(c->volumes[v].target);
                        size_t n = strlen(t);
                        if (strncmp(d->container, t, n) == 0 && d->container[n] == '/')
                                return dc_err_at(err, &c->volumes[v].o_target, "volumes[].target",
                                                 "%s would hide the device %s (devices, %s:%d)", t, d->container,
                                                 d->origin.file, d->origin.line);
                }
                if (opts->skip_fs_checks)
                        continue;
                struct stat st;
                if (stat(d->host, &st) < 0)
                        return dc_err_at(err, &d->origin, "devices", "%s: %s", d->host, strerror(errno));
                if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                        return dc_err_at(err, &d->origin, "devices", "%s is not a device node but %s", d->host,
                                         S_ISDIR(st.st_mode) ? "a directory" : S_ISREG(st.st_mode) ? "a file"
                                                                                     : "something else");
                if (narrowed && dc_devices_is_default(S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev),
                                                      minor(st.st_rdev)))
                        return dc_err_at(err, &d->origin, "devices",
                                         "%s is a device every container may use fully (as /dev/null, /dev/tty or "
                                         "a pty): its permissions cannot be narrowed", d->host);
        }
        return 0;
}

/* Each sysctl needs the container's own namespace that holds it: without
 * it, the parameter is the host's. */
static int validate_sysctls(const struct dc_config *c, struct dc_error *err)
{
        for (size_t i = 0; i < c->sysctls.n; i++) {
                const char *v = c->sysctls.v[i];
                _cleanup_free_ char *name = dc_xstrndup(v, (size_t)(strchr(v, '=') - v));
                unsigned ns = dc_sysctl_namespace(name);
                const struct dc_origin *o = &c->sysctl_origins[i];
                if (ns == DC_NS_NET && dc_plan_netmode(c) == DC_NET_HOST)
                        return dc_err_at(err, o, "sysctls",
                                         "%s needs the container's own network namespace (\"net\" in namespaces, "
                                         "network.mode not \"host\"): here it would be the host's",
                                         name);
                if (ns != DC_NS_NET && !(c->namespaces & ns))
                        return dc_err_at(err, o, "sysctls", "%s needs \"%s\" in namespaces: without it, it is the "
                                         "host's", name, dc_ns_name(ns));
        }
        return 0;
}

static int validate_hostname(const struct dc_config *c, struct dc_error *err)
{
        if (dc_config_present(c, "hostname") && !(c->namespaces & DC_NS_UTS))
                return dc_err_at(err, dc_config_origin(c, "hostname"), "hostname",
                                 "setting the hostname needs \"uts\" in namespaces");
        return 0;
}

static int validate_time(const struct dc_config *c, struct dc_error *err)
{
        static const char *const timekeys[] = { "time", "time.boottime", "time.monotonic" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(timekeys); i++)
                if (dc_config_present(c, timekeys[i]) && !(c->namespaces & DC_NS_TIME))
                        return dc_err_at(err, dc_config_origin(c, timekeys[i]), timekeys[i],
                                         "needs \"time\" in namespaces");
        if (!(c->namespaces & DC_NS_TIME))
                return 0;
        int r = check_time_offset(c, "time.monotonic", CLOCK_MONOTONIC, c->time.monotonic, err);
        if (r == 0 && !c->time.boottime_reset)
                r = check_time_offset(c, "time.boottime", CLOCK_BOOTTIME, c->time.boottime, err);
        return r;
}

static int validate_limits(const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_error *err)
{
        if (dc_config_present(c, "limits") && !opts->cgroups)
                return dc_err_at(err, dc_config_origin(c, "limits"), "limits",
                                 "resource limits need the container's own cgroup; unprivileged, diyctl makes "
                                 "it inside a cgroup v2 subtree delegated to you, and it is not running in "
                                 "one: start it with `systemd-run --user --scope -p Delegate=yes diyctl start "
                                 "FILE` (or from a user unit with Delegate=yes), or run it as root");
        if (opts->cgroups && opts->uid != 0 && !dc_streq(opts->cgroup_parent, "self"))
                return dc_err(err, EINVAL, "internal error: an unprivileged container's cgroup must be inside the "
                              "launcher's delegated cgroup");
        /* A quota of more CPUs than the host has limits nothing: a typo
         * (100 for 1.00) Docker refuses too. */
        long ncpu = c->limits.cpus > 0 && !opts->skip_fs_checks ? sysconf(_SC_NPROCESSORS_ONLN) : 0;
        if (ncpu > 0 && c->limits.cpus > (double)ncpu)
                return dc_err_at(err, dc_config_origin(c, "limits.cpus"), "limits.cpus",
                                 "%g is more than the %ld CPUs this host has: at most %ld", c->limits.cpus, ncpu,
                                 ncpu);
        return 0;
}

static int validate_cwd(const struct dc_config *c, struct dc_error *err)
{
        if (!c->process.cwd)
                return 0;
        return check_abs_path(c, "process.cwd", dc_config_origin(c, "process.cwd"), c->process.cwd, err);
}

int dc_plan_validate(const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_error *err)
{
        struct dc_errs all = { 0 };
        for (int part = 0; part < 12; part++) {
                struct dc_error one = { 0 };
                int r = 0;
                switch (part) {
                case 0: r = validate_rootfs(c, opts, &one); break;
                case 1: r = validate_namespaces(c, &one); break;
                case 2: r = validate_needs_ns(c, &one); break;
                case 3: r = validate_hostname(c, &one); break;
                case 4: r = validate_time(c, &one); break;
                case 5: r = validate_limits(c, opts, &one); break;
                case 6: r = validate_cwd(c, &one); break;
                case 7: r = validate_volumes(c, opts, &one); break;
                case 8: r = dc_plan_validate_security(c, &one); break;
                case 9: r = validate_network(c, opts, &one); break;
                case 10: r = validate_sysctls(c, &one); break;
                case 11: r = validate_devices(c, opts, &one); break;
                }
                if (r < 0)
                        dc_errs_add(&all, &one);
        }
        dc_plan_validate_rootfs_contents(c, opts, NULL, &all);
        return dc_errs_end(&all, err);
}
