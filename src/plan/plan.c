/* Plan building: config -> ordered, fully resolved steps. Pure: no side
 * effects, so `diyctl plan` shows exactly what `start` will run. */
#include "diyctl/plan.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "diyctl/fs.h"
#include "diyctl/host.h"
#include "diyctl/util.h"
#include "image/plan_image.h"
#include "internal.h"

bool dc_name_valid(const char *name)
{
        size_t n = strlen(name);
        if (n < 1 || n > 63)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = name[i];
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
                if (!alnum && (i == 0 || !strchr("_.-", ch)))
                        return false;
        }
        return true;
}


/* How many components PATH has ("/a/b/" and "/a//b" have two). */
static size_t path_depth(const char *path)
{
        size_t n = 0;
        for (const char *s = path; s && *s; s++)
                if (*s != '/' && (s == path || s[-1] == '/'))
                        n++;
        return n;
}

static struct dc_step *add_step(struct dc_plan *p, const char *kind)
{
        const struct dc_step_ops *ops = dc_step_find(kind);
        if (!ops)
                abort(); /* a planner bug: every kind it emits is in the table */
        p->steps = dc_xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
        struct dc_step *s = &p->steps[p->n++];
        memset(s, 0, sizeof(*s));
        s->ops = ops;
        return s;
}

struct dc_step *dc_plan_add_step(struct dc_plan *p, const char *kind)
{
        return add_step(p, kind);
}

static struct dc_step *add_mount(struct dc_plan *p, const char *fstype, const char *target, const char *flags,
                                 const char *data)
{
        struct dc_step *s = add_step(p, "mount");
        dc_kvs_add(&s->args, "fstype", fstype);
        dc_kvs_add(&s->args, "target", target);
        dc_kvs_add(&s->args, "flags", flags);
        if (data)
                dc_kvs_add(&s->args, "data", data);
        return s;
}

static void add_devbind(struct dc_plan *p, const char *dev)
{
        struct dc_step *s = add_step(p, "bind");
        _cleanup_free_ char *src = dc_xasprintf("/dev/%s", dev);
        dc_kvs_add(&s->args, "source", src);
        dc_kvs_add(&s->args, "target", src);
        dc_kvs_add(&s->args, "create", "file");
        /* the host's own node: read-only, so that the container's root
         * (CAP_CHOWN, CAP_FOWNER) cannot chmod or chown it on the host;
         * reading and writing the device are not file system writes */
        dc_kvs_add(&s->args, "readonly", "1");
}

/* A devices[] entry's node on this host, "c MAJOR:MINOR" into OUT. */
static int device_of(const struct dc_device *d, char *out, size_t size, struct dc_error *err)
{
        struct stat st;
        if (stat(d->host, &st) < 0 || (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)))
                return dc_err_at(err, &d->origin, "devices", "%s is not a device node on this host", d->host);
        snprintf(out, size, "%c %u:%u", S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev), minor(st.st_rdev));
        return 0;
}

static void add_symlink(struct dc_plan *p, const char *path, const char *to)
{
        struct dc_step *s = add_step(p, "symlink");
        dc_kvs_add(&s->args, "path", path);
        dc_kvs_add(&s->args, "to", to);
}

static const char *writable_name(enum dc_writable w)
{
        switch (w) {
        case DC_WRITABLE_TMPFS: return "tmpfs";
        case DC_WRITABLE_DIRECT: return "direct";
        case DC_WRITABLE_NONE: return "none";
        case DC_WRITABLE_DIR: return "dir";
        case DC_WRITABLE_DEFAULT: break;
        }
        return "direct";
}

static char *ns_list(unsigned ns)
{
        char buf[128] = "";
        for (unsigned bit = 1; bit <= DC_NS_TIME; bit <<= 1) {
                if (!(ns & bit))
                        continue;
                if (buf[0])
                        strcat(buf, ",");
                strcat(buf, dc_ns_name(bit));
        }
        return dc_xstrdup(buf);
}

static void origin_str(char *buf, size_t n, const struct dc_origin *o, const char *key)
{
        if (o->line > 0)
                snprintf(buf, n, "%s:%d: %s", o->file, o->line, key);
        else
                snprintf(buf, n, "%s: %s", o->file, key);
}

/* The order volumes are mounted in: parents before what is mounted inside
 * them (by the depth of the target, then in the order given), as Docker
 * sorts them: a volume on /data listed after one on /data/cache would
 * otherwise hide it. */
static size_t *volume_order(const struct dc_config *c)
{
        size_t *order = dc_xcalloc(c->n_volumes ? c->n_volumes : 1, sizeof(*order));
        size_t *depth = dc_xcalloc(c->n_volumes ? c->n_volumes : 1, sizeof(*depth));
        for (size_t i = 0; i < c->n_volumes; i++) {
                _cleanup_free_ char *t = dc_path_normalize(c->volumes[i].target);
                order[i] = i;
                depth[i] = path_depth(t);
        }
        for (size_t i = 1; i < c->n_volumes; i++) /* insertion sort: stable, and lists are short */
                for (size_t k = i; k > 0 && depth[order[k - 1]] > depth[order[k]]; k--) {
                        size_t x = order[k];
                        order[k] = order[k - 1];
                        order[k - 1] = x;
                }
        free(depth);
        return order;
}

int dc_plan_build(const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_plan **out,
                  struct dc_error *err)
{
        *out = NULL;
        int r = dc_plan_validate(c, opts, err);
        if (r < 0)
                return r;

        struct dc_plan *p = dc_xcalloc(1, sizeof(*p));
        _cleanup_plan_ struct dc_plan *guard = p;
        p->name = dc_xstrdup(c->name);
        p->config_file = dc_xstrdup(c->file);
        _cleanup_free_ char *root_dir = opts->state_root ? dc_xstrdup(opts->state_root)
                                                         : dc_state_root_of(opts->uid, opts->host, err);
        if (!root_dir)
                return -err->code;
        p->state_dir = dc_xasprintf("%s/%s", root_dir, c->name);
        p->namespaces = dc_plan_namespaces(c);
        p->terminal = c->process.terminal == DC_TERM_YES ||
                      (c->process.terminal == DC_TERM_AUTO && opts->stdin_tty);
        p->init = c->process.init;
        p->log_max_size = c->process.log_max_size_set ? c->process.log_max_size
                          : opts->host                  ? opts->host->log_max_size
                                                        : DC_LOG_MAX_SIZE_DEFAULT;
        bool netns = p->namespaces & DC_NS_NET;

        /* 1. The state directory: lock, journal, mount point for the root. */
        struct dc_step *s = add_step(p, "statedir");
        dc_kvs_add(&s->args, "path", p->state_dir);
        dc_kvs_add(&s->args, "name", c->name);
        dc_kvs_add(&s->args, "config", c->file);

        /* The image or tarball: its cache entries (unpacked unless cached), and
         * the process defaults its config gives. */
        _cleanup_plan_image_ struct dc_plan_image img = { 0 };
        if ((r = dc_plan_image_load(c, opts, p->state_dir, &img, err)) < 0)
                return r;
        for (size_t i = 0; i < img.n_steps; i++)
                dc_kvs_copy(&add_step(p, "image-unpack")->args, &img.steps[i]);
        /* check and plan look into a tarball already in the cache as into a
         * directory rootfs (an image's layers are only whole when stacked) */
        struct stat tst;
        if (opts->check_contents && c->rootfs.tarball && img.lowers.n == 1 && stat(img.lowers.v[0], &tst) == 0) {
                struct dc_errs all = { 0 };
                dc_plan_validate_rootfs_contents(c, opts, img.lowers.v[0], &all);
                if ((r = dc_errs_end(&all, err)) < 0)
                        return r;
        }

        /* Its resolv.conf, written into the state dir now, so the first
         * process binds it without waiting for the network steps (net.c). */
        dc_plan_net_resolv(p, c);

        /* 2. The container's first process, in its new namespaces; the user
         * namespace owns the others. It is cloned with all of them and waits
         * for its uid/gid maps, written right after the spawn. With a time
         * namespace, whose offsets must be set before any process is in it,
         * a holder process makes the user namespace first and the time
         * namespace in it (exec.c): the maps come before the spawn. */
        bool userns = p->namespaces & DC_NS_USER;
        bool holder = userns && (p->namespaces & DC_NS_TIME);
        struct dc_kvs idmap_args = { 0 };
        if (userns) {
                r = dc_plan_usermap(c, opts, &idmap_args, err);
                if (r < 0) {
                        dc_kvs_free(&idmap_args);
                        return r;
                }
        }
        if (holder) {
                s = add_step(p, "idmap");
                dc_kvs_copy(&s->args, &idmap_args);
                dc_kvs_add(&s->args, "holder", "1");
        }
        /* Its cgroup, before it exists: it is cloned into it (steps/cgroup.c). */
        if (opts->cgroups) {
                s = add_step(p, "cgroup");
                _cleanup_free_ char *g = opts->cgroup_parent ? dc_xstrdup(c->name) : dc_xasprintf("diyctl/%s", c->name);
                dc_kvs_add(&s->args, "group", g);
                if (opts->cgroup_parent)
                        dc_kvs_add(&s->args, "under", opts->cgroup_parent);
                /* Unprivileged (under "self" only, validate.c): the v2 hierarchy
                 * alone, no device program (steps/cgroup.c). */
                if (opts->uid != 0)
                        dc_kvs_add(&s->args, "unprivileged", "1");
                if (c->limits.memory)
                        dc_kvs_addf(&s->args, "memory", "%llu", c->limits.memory);
                if (c->limits.cpus > 0)
                        dc_kvs_addf(&s->args, "cpus", "%g", c->limits.cpus);
                if (c->limits.pids)
                        dc_kvs_addf(&s->args, "pids", "%lld", c->limits.pids);
                /* the devices of the config, allowed beside diyctl's own
                 * (steps/devices.c): type, major:minor and permissions */
                for (size_t i = 0; i < c->n_devices; i++) {
                        const struct dc_device *d = &c->devices[i];
                        char dev[48];
                        if (device_of(d, dev, sizeof(dev), err) < 0)
                                return -EINVAL;
                        dc_kvs_addf(&s->args, "device", "%s %s %s", dev, d->perms, d->container);
                }
                /* Where each limit was set, for errors at start (a controller missing). */
                static const char *const lim[] = { "memory", "cpus", "pids" };
                for (size_t i = 0; i < DC_ARRAY_SIZE(lim); i++) {
                        char key[32], o[1024];
                        snprintf(key, sizeof(key), "limits.%s", lim[i]);
                        if (!dc_config_present(c, key))
                                continue;
                        origin_str(o, sizeof(o), dc_config_origin(c, key), key);
                        snprintf(key, sizeof(key), "%s-origin", lim[i]);
                        dc_kvs_add(&s->args, key, o);
                }
        }
        /* As root on a host with cgroup v1 hierarchies, those come right
         * after the spawn, while the first process mounts (steps/cgroup.c). */
        ssize_t cg_index = opts->cgroups && opts->uid == 0 ? (ssize_t)p->n - 1 : -1;
        if (cg_index >= 0)
                dc_kvs_add(&p->steps[cg_index].args, "part", "v2");
        s = add_step(p, "spawn");
        _cleanup_free_ char *nsl = ns_list(p->namespaces);
        dc_kvs_add(&s->args, "namespaces", nsl);
        if (p->namespaces & DC_NS_TIME) {
                if (c->time.boottime_reset)
                        dc_kvs_add(&s->args, "boottime", "reset");
                else
                        dc_kvs_addf(&s->args, "boottime", "%lld", c->time.boottime);
                dc_kvs_addf(&s->args, "monotonic", "%lld", c->time.monotonic);
        }
        if (userns && !holder) {
                s = add_step(p, "idmap");
                dc_kvs_copy(&s->args, &idmap_args);
        }
        enum dc_writable w = c->rootfs.writable != DC_WRITABLE_DEFAULT ? c->rootfs.writable
                             : img.active                            ? DC_WRITABLE_TMPFS
                                                                     : DC_WRITABLE_DIRECT;
        /* As root, the image cache holds the image's own owners: each layer
         * is handed to the first process as an idmapped mount for its user
         * namespace, so those owners are the same inside (steps/idmap_layers.c).
         * A directory rootfs is too, as rootfs.idmap says (usermap.c). */
        _cleanup_free_ char *idmap_why = NULL;
        int dir_r = userns && !img.active ? dc_plan_rootfs_idmap(c, opts, &idmap_args, w, &idmap_why, err) : 0;
        /* the host ids of the container's root, for what an upper layer
         * directory must belong to */
        _cleanup_free_ char *root_ids = userns && w == DC_WRITABLE_DIR ? dc_plan_root_ids(&idmap_args) : NULL;
        dc_kvs_free(&idmap_args);
        if (dir_r < 0)
                return dir_r;
        bool dir_idmap = dir_r > 0;
        /* In a user namespace overlayfs takes no lower layer with mounts
         * below it (they are locked to it): a directory rootfs under a tmpfs
         * or upper layer, not idmapped (which refuses them), fails there. */
        _cleanup_free_ char *below = NULL;
        if (userns && !img.active && !dir_idmap && (w == DC_WRITABLE_TMPFS || w == DC_WRITABLE_DIR) &&
            !opts->skip_fs_checks && dc_plan_has_submounts(c->rootfs.path, &below) && below)
                return dc_err_at(err, dc_config_origin(c, "rootfs.path"), "rootfs.path",
                                 "%s has mounts below it (%s): in a user namespace overlayfs takes no lower layer "
                                 "with mounts below it (rootfs.writable \"tmpfs\" or an upper layer); unmount "
                                 "them and give them as volumes, or use writable = \"none\" or \"direct\"",
                                 c->rootfs.path, below);
        bool idmapped = userns && img.active && opts->uid == 0;
        _cleanup_free_ size_t *order = volume_order(c);
        bool vol_idmap = false;
        for (size_t i = 0; i < c->n_volumes; i++)
                vol_idmap |= c->volumes[i].idmap;
        if (idmapped || dir_idmap || vol_idmap)
                s = add_step(p, "idmap-layers");
        /* volumes[].idmap, in the order they are mounted (the launcher
         * makes read-only ones read-only) */
        for (size_t n = 0; n < c->n_volumes; n++) {
                const struct dc_volume *v = &c->volumes[order[n]];
                if (!v->idmap)
                        continue;
                char key[48], o[300];
                snprintf(key, sizeof(key), "volumes[%zu].idmap", order[n]);
                origin_str(o, sizeof(o), &v->o_idmap, key);
                dc_kvs_addf(&s->args, "volume", "%s %s", v->readonly ? "ro" : "rw", v->source);
                dc_kvs_add(&s->args, "volume-origin", o);
        }
        if (idmapped) {
                for (size_t i = 0; i < img.lowers.n; i++)
                        dc_kvs_add(&s->args, "lower", img.lowers.v[i]);
        } else if (dir_idmap) {
                idmapped = true;
                dc_kvs_add(&s->args, "source", c->rootfs.path);
                if (w == DC_WRITABLE_DIRECT)
                        dc_kvs_add(&s->args, "writable", "1");
                /* "auto" on a file system that cannot be idmapped: the
                 * directory as it is, as without a user namespace's map */
                if (c->rootfs.idmap == DC_IDMAP_AUTO)
                        dc_kvs_add(&s->args, "auto", "1");
                char o[300];
                origin_str(o, sizeof(o), dc_config_origin(c, "rootfs.idmap"), "rootfs.idmap");
                dc_kvs_add(&s->args, "origin", o);
        }
        if (cg_index >= 0) {
                s = add_step(p, "cgroup");
                const struct dc_kvs *a = &p->steps[cg_index].args;
                for (size_t i = 0; i < a->n; i++)
                        dc_kvs_add(&s->args, a->v[i].key, strcmp(a->v[i].key, "part") == 0 ? "v1" : a->v[i].val);
        }

        /* The launcher, while the first process makes its mounts: its named netns. */
        if ((p->namespaces & DC_NS_NET) && opts->uid == 0) {
                s = add_step(p, "netns");
                dc_kvs_add(&s->args, "dir", "/run/netns");
                _cleanup_free_ char *nsp = dc_xasprintf("/run/netns/diyctl-%s", c->name);
                dc_kvs_add(&s->args, "path", nsp);
                /* and its lo, while the first process mounts (steps/netns.c) */
                add_step(p, "loopback-up");
        }
        /* Links, addresses, routes, sysctls, firewall rules (net.c). */
        r = dc_plan_net(p, c, opts, err);
        if (r < 0)
                return r;

        /* 3. Inside: nothing propagates back to the host. The first process
         * runs its steps while the launcher runs the host steps above; it
         * waits for them ("wait-launcher") only before the first step that
         * needs them: the idmapped layers, its cgroup namespace (after the
         * launcher placed it), exec. */
        add_step(p, "make-private");
        bool waited = idmapped;
        if (idmapped)
                add_step(p, "wait-launcher");

        /* 4. The root filesystem, mounted at STATE/root in the child's namespace. */
        s = add_step(p, "rootfs");
        if (img.active)
                for (size_t i = 0; i < img.lowers.n; i++)
                        dc_kvs_add(&s->args, "lower", img.lowers.v[i]);
        else
                dc_kvs_add(&s->args, "source", c->rootfs.path);
        dc_kvs_add(&s->args, "writable", writable_name(w));
        if (w == DC_WRITABLE_DIR)
                dc_kvs_add(&s->args, "upper", c->rootfs.writable_dir);
        if (root_ids)
                dc_kvs_add(&s->args, "upper-owner", root_ids);
        /* what rootfs.idmap "auto" decided against, and why (plan, status) */
        if (idmap_why)
                dc_kvs_add(&s->args, "idmap-note", idmap_why);
        _cleanup_free_ char *mnt = dc_xasprintf("%s/root", p->state_dir);
        dc_kvs_add(&s->args, "target", mnt);
        if (userns)
                dc_kvs_add(&s->args, "userns", "1");
        if (idmapped)
                dc_kvs_add(&s->args, "idmapped", "1");
        /* A read-only root is read-only before anything is mounted on it:
         * a mount point missing in the rootfs is an error, never a directory
         * made in the host's (or the cache's) tree. */
        if (w == DC_WRITABLE_NONE) {
                s = add_step(p, "remount-root-ro");
                char o[300];
                origin_str(o, sizeof(o), dc_config_origin(c, "rootfs.writable"), "rootfs.writable");
                dc_kvs_add(&s->args, "origin", o);
        }

        /* 5. The kernel filesystems and a minimal /dev. */
        add_mount(p, "proc", "/proc", "nosuid,nodev,noexec", NULL);
        if (userns && !netns) {
                /* sysfs can only be mounted by the owner of the net namespace */
                s = add_step(p, "bind");
                dc_kvs_add(&s->args, "source", "/sys");
                dc_kvs_add(&s->args, "target", "/sys");
                dc_kvs_add(&s->args, "readonly", "1");
        } else {
                /* read-only also without a net namespace: the kernel's knobs are the host's */
                add_mount(p, "sysfs", "/sys", "ro,nosuid,nodev,noexec", NULL);
        }
        add_mount(p, "tmpfs", "/dev", "nosuid,noexec", "mode=755,size=4096k");
        static const char *const devs[] = { "null", "zero", "full", "random", "urandom", "tty" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(devs); i++)
                add_devbind(p, devs[i]);
        add_mount(p, "devpts", "/dev/pts", "nosuid,noexec", "newinstance,ptmxmode=0666,mode=0620");
        add_symlink(p, "/dev/ptmx", "pts/ptmx");
        add_symlink(p, "/dev/fd", "/proc/self/fd");
        add_symlink(p, "/dev/stdin", "/proc/self/fd/0");
        add_symlink(p, "/dev/stdout", "/proc/self/fd/1");
        add_symlink(p, "/dev/stderr", "/proc/self/fd/2");
        /* the host's devices the config gives it (devices[]), bound as
         * null and the others are */
        for (size_t i = 0; i < c->n_devices; i++) {
                const struct dc_device *d = &c->devices[i];
                char dev[48];
                if (device_of(d, dev, sizeof(dev), err) < 0)
                        return -EINVAL;
                s = add_step(p, "bind");
                dc_kvs_add(&s->args, "source", d->host);
                dc_kvs_add(&s->args, "target", d->container);
                /* what the source must still be when it is bound (a path
                 * swapped meanwhile for a directory or another device is
                 * refused), read-only as the others */
                dc_kvs_add(&s->args, "device", dev);
                dc_kvs_add(&s->args, "readonly", "1");
                char key[32], o[300];
                snprintf(key, sizeof(key), "devices[%zu]", i);
                origin_str(o, sizeof(o), &d->origin, key);
                dc_kvs_add(&s->args, "origin", o);
        }
        add_mount(p, "tmpfs", "/dev/shm", "nosuid,nodev,noexec", "mode=1777,size=65536k");
        /* its own /run and /tmp, known by their device later when a
         * resolv.conf is bound (a link of the rootfs into one,
         * child_steps.c); without one, nothing is looked up for it */
        bool own = dc_plan_resolv_mode(c) != NULL;
        s = add_mount(p, "tmpfs", "/run", "nosuid,nodev", "mode=755");
        if (own)
                dc_kvs_add(&s->args, "own-tmpfs", "1");
        s = add_mount(p, "tmpfs", "/tmp", "nosuid,nodev", "mode=1777");
        if (own)
                dc_kvs_add(&s->args, "own-tmpfs", "1");

        /* 6. Volumes, parents first (volume_order). */
        size_t n_idmapped = 0;
        for (size_t n = 0; n < c->n_volumes; n++) {
                size_t i = order[n];
                const struct dc_volume *v = &c->volumes[i];
                _cleanup_free_ char *target = dc_path_normalize(v->target);
                /* where the volume is written, for the first process's errors */
                char key[48], o[300];
                snprintf(key, sizeof(key), "volumes[%zu].target", i);
                origin_str(o, sizeof(o), &v->o_target, key);
                if (v->type == DC_VOL_TMPFS) {
                        unsigned mode = (v->mode ? v->mode : DC_TMPFS_MODE) & 07777;
                        _cleanup_free_ char *data = v->size ? dc_xasprintf("mode=%o,size=%llu", mode, v->size)
                                                            : dc_xasprintf("mode=%o", mode);
                        s = add_mount(p, "tmpfs", target, v->readonly ? "ro,nosuid,nodev" : "nosuid,nodev", data);
                        dc_kvs_add(&s->args, "origin", o);
                        continue;
                }
                /* an idmapped one is cloned by the launcher (idmap-layers),
                 * and handed over before "go" */
                if (v->idmap && !waited) {
                        add_step(p, "wait-launcher");
                        waited = true;
                }
                s = add_step(p, "bind");
                dc_kvs_add(&s->args, "origin", o);
                dc_kvs_add(&s->args, "source", v->source);
                dc_kvs_add(&s->args, "target", target);
                dc_kvs_add(&s->args, "host", "1");
                if (v->readonly)
                        dc_kvs_add(&s->args, "readonly", "1");
                if (v->idmap)
                        dc_kvs_addf(&s->args, "idmapped", "%zu", n_idmapped++);
        }
        /* The container's resolv.conf, from the state dir (written before
         * the spawn: no wait for the launcher). */
        dc_plan_net_child(p, c);

        /* 7. Identity and root. */
        if (p->namespaces & DC_NS_UTS) {
                s = add_step(p, "hostname");
                dc_kvs_add(&s->args, "name", c->hostname);
        }
        if (netns && opts->uid != 0)
                add_step(p, "loopback-inside"); /* unprivileged: no launcher step for it */
        add_step(p, "pivot-root");
        /* sysctls of its own namespaces, through its /proc before /proc/sys
         * is made read-only (validate.c refused any other); after the
         * launcher's steps, which move its interfaces in (an eth0's) */
        if (c->sysctls.n && !waited) {
                add_step(p, "wait-launcher");
                waited = true;
        }
        for (size_t i = 0; i < c->sysctls.n; i++) {
                const char *v = c->sysctls.v[i];
                s = add_step(p, "sysctl-inside");
                _cleanup_free_ char *name = dc_xstrndup(v, (size_t)(strchr(v, '=') - v));
                _cleanup_free_ char *path = dc_sysctl_path(name);
                dc_kvs_add(&s->args, "name", name);
                dc_kvs_add(&s->args, "value", strchr(v, '=') + 1);
                dc_kvs_add(&s->args, "path", path);
                dc_kvs_add(&s->args, "namespace", dc_ns_name(dc_sysctl_namespace(name)));
                char so[300];
                origin_str(so, sizeof(so), &c->sysctl_origins[i], "sysctls");
                dc_kvs_add(&s->args, "origin", so);
        }
        /* Inside the new root: kernel files hidden or read-only, nodev everywhere. */
        dc_plan_add_hardening(c, p);
        if (!waited)
                add_step(p, "wait-launcher");
        /* Its own cgroup as "/": the launcher has placed it by now. */
        if (p->namespaces & DC_NS_CGROUP)
                add_step(p, "cgroupns");

        /* 8. The process. */
        s = add_step(p, "exec");
        char o[512];
        origin_str(o, sizeof(o), dc_config_origin(c, "process.args"), "process.args");
        if (!c->process.args_set && img.args.n)
                snprintf(o, sizeof(o), "%s Entrypoint/Cmd", img.origin);
        dc_kvs_add(&s->args, "origin", o);
        if (c->process.args_set)
                for (size_t i = 0; i < c->process.args.n; i++)
                        dc_kvs_add(&s->args, "arg", c->process.args.v[i]);
        else if (img.args.n)
                for (size_t i = 0; i < img.args.n; i++)
                        dc_kvs_add(&s->args, "arg", img.args.v[i]);
        else
                dc_kvs_add(&s->args, "arg", "/bin/sh");
        /* the image's Env is the base; process.env overrides it name by name */
        dc_plan_image_env(&img, &c->process.env, &s->args);
        /* an image's process gets HOME from passwd when nothing sets it, as
         * under Docker (its images expect one) */
        if (c->rootfs.image)
                dc_kvs_add(&s->args, "home-default", "1");
        dc_kvs_add(&s->args, "cwd", c->process.cwd ? c->process.cwd : img.cwd ? img.cwd : "/");
        origin_str(o, sizeof(o), dc_config_origin(c, "process.cwd"), "process.cwd");
        if (!c->process.cwd && img.cwd)
                snprintf(o, sizeof(o), "%s WorkingDir", img.origin);
        dc_kvs_add(&s->args, "cwd-origin", o);
        /* an image's WorkingDir is made when missing, as Docker does */
        if (!c->process.cwd && img.cwd)
                dc_kvs_add(&s->args, "cwd-create", "1");
        dc_kvs_add(&s->args, "user", c->process.user ? c->process.user : img.user ? img.user : "0:0");
        origin_str(o, sizeof(o), dc_config_origin(c, "process.user"), "process.user");
        if (!c->process.user && img.user)
                snprintf(o, sizeof(o), "%s User", img.origin);
        dc_kvs_add(&s->args, "user-origin", o);
        /* What stop sends first (the launcher turns its SIGTERM into it). */
        int stop = c->process.stop_signal;
        if (!stop && img.stop_signal) {
                stop = dc_signal_parse_loose(img.stop_signal); /* "SIGQUIT", "quit" or "3" */
                if (stop < 0 || !dc_valid_stop_signal(stop))
                        return dc_err(err, EINVAL, "%s: StopSignal %.40s is not a signal a container can be stopped "
                                      "with; set process.stop_signal", img.origin, img.stop_signal);
        }
        if (stop && stop != SIGTERM) {
                char name[24];
                dc_kvs_add(&s->args, "stop-signal", dc_signal_name(stop, name));
                origin_str(o, sizeof(o), dc_config_origin(c, "process.stop_signal"), "process.stop_signal");
                if (!c->process.stop_signal)
                        snprintf(o, sizeof(o), "%s StopSignal", img.origin);
                dc_kvs_add(&s->args, "stop-signal-origin", o);
        }
        /* Resource limits: the launcher raises the hard ones the process
         * cannot (exec.c), the process sets them exactly (child.c). */
        for (size_t i = 0; i < DC_RLIMIT_N; i++) {
                if (!c->process.rlimit_set[i])
                        continue;
                char key[48];
                snprintf(key, sizeof(key), "process.rlimits.%s", dc_rlimit_names[i]);
                origin_str(o, sizeof(o), dc_config_origin(c, key), key);
                dc_rlimit_add_arg(&s->args, i, &c->process.rlimits[i], o);
        }
        dc_kvs_add(&s->args, "terminal", p->terminal ? "1" : "0");
        dc_kvs_add(&s->args, "init", p->init ? "1" : "0");
        if (userns)
                dc_kvs_add(&s->args, "userns", "1");
        /* Capabilities, seccomp, no_new_privs (security.c). */
        r = dc_plan_exec_security(c, &s->args, err);
        if (r < 0)
                return r;

        *out = DC_TAKE(guard);
        return 0;
}

void dc_plan_free(struct dc_plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++)
                dc_kvs_free(&p->steps[i].args);
        free(p->steps);
        free(p->name);
        free(p->config_file);
        free(p->state_dir);
        free(p);
}

static const char *side_name(enum dc_side side)
{
        switch (side) {
        case DC_SIDE_HOST: return "host";
        case DC_SIDE_SPAWN: return "spawn";
        case DC_SIDE_CHILD: return "child";
        case DC_SIDE_PARENT: return "parent";
        }
        return "?";
}

void dc_plan_print(const struct dc_plan *p, FILE *out)
{
        fprintf(out, "plan for %s (%s); state in %s\n", p->name, p->config_file, p->state_dir);
        fprintf(out, "steps marked * change the host and are journaled\n");
        for (size_t i = 0; i < p->n; i++) {
                const struct dc_step *s = &p->steps[i];
                fprintf(out, "%3zu %c %-6s %-16s ", i + 1, s->ops->side == DC_SIDE_HOST ? '*' : ' ',
                        side_name(s->ops->side), s->ops->kind);
                s->ops->describe(s, out);
                fputc('\n', out);
        }
}

void dc_plan_print_json(const struct dc_plan *p, FILE *out)
{
        fputs("{\"name\":", out);
        dc_json_str(out, p->name);
        fputs(",\"config\":", out);
        dc_json_str(out, p->config_file);
        fputs(",\"state_dir\":", out);
        dc_json_str(out, p->state_dir);
        fputs(",\"steps\":[", out);
        for (size_t i = 0; i < p->n; i++) {
                const struct dc_step *s = &p->steps[i];
                fprintf(out, "%s{\"index\":%zu,\"kind\":", i ? "," : "", i + 1);
                dc_json_str(out, s->ops->kind);
                fprintf(out, ",\"side\":\"%s\",\"host_change\":%s,\"args\":[", side_name(s->ops->side),
                        s->ops->side == DC_SIDE_HOST ? "true" : "false");
                for (size_t k = 0; k < s->args.n; k++) {
                        fputs(k ? ",[" : "[", out);
                        dc_json_str(out, s->args.v[k].key);
                        fputc(',', out);
                        dc_json_str(out, s->args.v[k].val);
                        fputc(']', out);
                }
                fputs("],\"description\":", out);
                char *buf = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&buf, &len);
                if (m) {
                        s->ops->describe(s, m);
                        fclose(m);
                }
                dc_json_str(out, buf ? buf : "");
                free(buf);
                fputc('}', out);
        }
        fputs("]}\n", out);
}
