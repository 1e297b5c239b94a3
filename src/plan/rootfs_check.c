/* What start would find missing in a directory rootfs, found by check and
 * plan first (start itself finds them where they fail, with the exit codes
 * a user expects, 127 for a missing program, and spares the lookups): the
 * program, process.cwd, a process.user name, bind targets of the other kind
 * than their source, the link /etc/resolv.conf may be where diyctl binds
 * its own, and (rootfs.writable = "none") mount points.
 *
 * Paths are looked up in the rootfs as the container will see them: links
 * followed inside it (an absolute target starts again at its root),
 * read-only. Each volume is where start mounts it (its target resolved the
 * same way). What a volume provides, and what is under /proc, /sys and
 * /dev, is not known before the start and is left alone; /run and /tmp are
 * empty tmpfs there. Also left alone: a rootfs with a persistent upper
 * layer (rootfs.writable = DIR: earlier runs changed what the container
 * sees), an empty rootfs directory (a mount point, or a placeholder on a
 * machine that checks a fleet's configs for others) and anything the caller
 * may not read. Paths the config rules refuse (relative, with "..") are
 * theirs to report. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/util.h"
#include "internal.h"

struct rootfs {
        const struct dc_config *c;
        int root;     /* O_PATH of rootfs.path, or of a cached tarball's tree */
        char **vols;  /* each volume's target, resolved as start mounts it */
        size_t n;
};

/* Is A the directory B or below it (both normalized)? */
static bool under(const char *a, const char *b)
{
        size_t n = strlen(b);
        if (n == 1)
                return true;
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/');
}

enum seen { SEEN_ROOTFS, SEEN_UNKNOWN, SEEN_TMPFS, SEEN_IN_TMPFS };

/* What is at PATH (resolved) once the container runs: the rootfs's (look
 * there), not known (a volume, or /proc, /sys, /dev), the root of diyctl's
 * empty tmpfs on /run or /tmp, or something inside one (nothing is, but
 * what start makes for a volume). With STRICT, a mount at PATH itself does
 * not count (a mount point's own existence is the question). */
static enum seen what_is(const struct rootfs *r, const char *path, bool strict)
{
        for (size_t i = 0; i < r->n; i++)
                if (under(path, r->vols[i]) && !(strict && strcmp(path, r->vols[i]) == 0))
                        return SEEN_UNKNOWN;
        static const char *const unknown[] = { "/proc", "/sys", "/dev" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(unknown); i++)
                if (under(path, unknown[i]) && !(strict && strcmp(path, unknown[i]) == 0))
                        return SEEN_UNKNOWN;
        static const char *const empty[] = { "/run", "/tmp" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(empty); i++) {
                if (!under(path, empty[i]))
                        continue;
                if (strcmp(path, empty[i]) != 0)
                        return SEEN_IN_TMPFS;
                if (!strict)
                        return SEEN_TMPFS;
        }
        if (!strict && dc_plan_resolv_mode(r->c) && strcmp(path, "/etc/resolv.conf") == 0)
                return SEEN_UNKNOWN;
        return SEEN_ROOTFS;
}

/* Is a volume mounted at PATH or below it (the directories down to it are
 * made at the start, when the root can be written)? */
static bool leads_to_volume(const struct rootfs *r, const char *path)
{
        for (size_t i = 0; i < r->n; i++)
                if (under(r->vols[i], path))
                        return true;
        return false;
}

/* How walk treats mounts: not at all (a volume's target, resolved as the
 * kernel sees the rootfs alone), or stopping where one is (the rest is
 * the mount's), with STRICT for the path itself as in what_is. */
enum walk_mode { WALK_ROOTFS, WALK_MOUNTS, WALK_MOUNTS_STRICT };

/* Resolve PATH in the rootfs: links followed inside it, "." and ".."
 * applied, components that are not there kept as written. Into OUT
 * (PATH_MAX). Returns how many components are missing from the first one
 * not there (0: all there), or -errno. *STOPPED: the walk reached a mount
 * and OUT is where, with the rest appended. *TRAILING: the path asks for
 * a directory (a trailing slash). */
static int walk(const struct rootfs *r, const char *path, enum walk_mode mode, char *out, bool *stopped,
                bool *trailing)
{
        char cur[PATH_MAX] = ""; /* resolved so far; "" is "/" */
        char rest[2 * PATH_MAX];
        snprintf(rest, sizeof(rest), "%s", path);
        char *p = rest;
        int links = 0, missing = 0;
        *stopped = false;
        *trailing = false;
        for (;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char *end = strchrnul(p, '/');
                size_t n = (size_t)(end - p);
                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                char comp[NAME_MAX + 1];
                memcpy(comp, p, n);
                comp[n] = 0;
                p = end;
                *trailing = *p == '/';
                if (strcmp(comp, ".") == 0)
                        continue;
                if (strcmp(comp, "..") == 0 && !missing) {
                        char *slash = strrchr(cur, '/');
                        if (slash)
                                *slash = 0;
                        continue;
                }
                char next[PATH_MAX];
                if ((size_t)snprintf(next, sizeof(next), "%s/%s", cur, comp) >= sizeof(next))
                        return -ENAMETOOLONG;
                if (mode != WALK_ROOTFS) {
                        const char *after = p + strspn(p, "/");
                        enum seen w = what_is(r, next, mode == WALK_MOUNTS_STRICT && !*after);
                        if (w == SEEN_UNKNOWN || w == SEEN_IN_TMPFS) {
                                /* the rootfs's links here are hidden by the mount */
                                snprintf(out, PATH_MAX, "%s%s", next, p);
                                *stopped = true;
                                return missing;
                        }
                        if (w == SEEN_TMPFS) { /* a directory, whatever the rootfs has there */
                                memcpy(cur, next, sizeof(cur));
                                continue;
                        }
                }
                struct stat ls;
                if (missing || fstatat(r->root, next + 1, &ls, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (!missing && errno != ENOENT)
                                return -errno;
                        missing++;
                        memcpy(cur, next, sizeof(cur));
                        continue;
                }
                if (S_ISLNK(ls.st_mode)) {
                        if (++links > 40)
                                return -ELOOP;
                        char target[PATH_MAX];
                        ssize_t t = readlinkat(r->root, next + 1, target, sizeof(target) - 1);
                        if (t <= 0)
                                return t < 0 ? -errno : -ENOENT;
                        target[t] = 0;
                        if (target[0] == '/')
                                cur[0] = 0;
                        char again[2 * PATH_MAX]; /* P is "" or "/rest..." */
                        if ((size_t)snprintf(again, sizeof(again), "%s%s", target, p) >= sizeof(again))
                                return -ENAMETOOLONG;
                        memcpy(rest, again, sizeof(rest));
                        p = rest;
                        continue;
                }
                memcpy(cur, next, sizeof(cur));
        }
        snprintf(out, PATH_MAX, "%s", cur[0] ? cur : "/");
        return missing;
}

/* Look PATH up as the container will see it. 0 with *ST (the rootfs's
 * file, at RESOLVED when given, PATH_MAX bytes); -ENOENT or -ENOTDIR: not
 * there; -EAGAIN: a mount provides it (cannot tell); another -errno: we
 * cannot tell. STRICT as for what_is. */
static int look(const struct rootfs *r, const char *path, bool strict, struct stat *st, char *resolved)
{
        char at[PATH_MAX];
        bool stopped, trailing;
        int missing = walk(r, path, strict ? WALK_MOUNTS_STRICT : WALK_MOUNTS, at, &stopped, &trailing);
        if (missing < 0)
                return missing;
        switch (what_is(r, at, strict)) {
        case SEEN_UNKNOWN:
        case SEEN_TMPFS: /* a directory, not the rootfs's */
                return -EAGAIN;
        case SEEN_IN_TMPFS: /* nothing there, but what start makes for a volume */
                return leads_to_volume(r, at) ? -EAGAIN : -ENOENT;
        case SEEN_ROOTFS:
                break;
        }
        /* not in the rootfs: made at the start only on the way to a volume
         * (and only in a root that can be written) */
        if (missing)
                return r->c->rootfs.writable != DC_WRITABLE_NONE && leads_to_volume(r, at) ? -EAGAIN : -ENOENT;
        if (fstatat(r->root, strcmp(at, "/") == 0 ? "." : at + 1, st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (trailing && !S_ISDIR(st->st_mode))
                return -ENOTDIR;
        if (resolved)
                snprintf(resolved, PATH_MAX, "%s", at);
        return 0;
}

static bool missing(int r)
{
        return r == -ENOENT || r == -ENOTDIR;
}

/* Absolute, without "..": a path the config rules accept. */
static bool plain(const char *p)
{
        if (p[0] != '/')
                return false;
        for (const char *s = p; (s = strstr(s, "..")); s += 2)
                if ((s == p || s[-1] == '/') && (s[2] == 0 || s[2] == '/'))
                        return false;
        return true;
}

/* Does the directory ROOT hold anything? */
static bool populated(int root)
{
        int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return false;
        }
        bool any = false;
        for (struct dirent *e; !any && (e = readdir(d));)
                any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        closedir(d);
        return any;
}

static bool digits(const char *s)
{
        return s && *s && strspn(s, "0123456789") == strlen(s);
}

/* Is NAME (the user or group part of process.user) an entry of the
 * rootfs's FILE (/etc/passwd: NAME:PW:UID:GID:...; /etc/group:
 * NAME:PW:GID:...), read as start reads it (numeric ids)? true when we
 * cannot tell. */
static bool names_entry(const struct rootfs *r, const char *file, const char *name, size_t n)
{
        struct stat st;
        char at[PATH_MAX];
        int e = look(r, file, false, &st, at);
        if (e < 0)
                return !missing(e);
        if (!S_ISREG(st.st_mode))
                return true; /* a FIFO or a device: not read */
        bool passwd = strcmp(file, "/etc/passwd") == 0;
        _cleanup_close_ int fd = openat(r->root, at + 1, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        _cleanup_fclose_ FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
        if (!f)
                return true;
        fd = -1; /* the FILE owns it */
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) >= 0) {
                line[strcspn(line, "\n")] = 0;
                char *rest = line;
                char *nm = strsep(&rest, ":");
                (void)strsep(&rest, ":");
                char *id1 = strsep(&rest, ":");
                char *id2 = passwd ? strsep(&rest, ":") : NULL;
                if (nm && strlen(nm) == n && strncmp(nm, name, n) == 0 && digits(id1) && (!passwd || digits(id2)))
                        return true;
        }
        return false;
}

static int check_user(const struct rootfs *r, struct dc_error *err)
{
        const char *u = r->c->process.user;
        if (!u)
                return 0;
        const char *colon = strchr(u, ':');
        size_t un = colon ? (size_t)(colon - u) : strlen(u);
        const struct dc_origin *o = dc_config_origin(r->c, "process.user");
        bool numeric = un && strspn(u, "0123456789") >= un;
        if (!numeric && !names_entry(r, "/etc/passwd", u, un))
                return dc_err_at(err, o, "process.user", "user %.*s is not in the rootfs's /etc/passwd", (int)un, u);
        if (colon && colon[1] && !digits(colon + 1) && !names_entry(r, "/etc/group", colon + 1, strlen(colon + 1)))
                return dc_err_at(err, o, "process.user", "group %s is not in the rootfs's /etc/group", colon + 1);
        return 0;
}

static int check_cwd(const struct rootfs *r, struct dc_error *err)
{
        const char *cwd = r->c->process.cwd;
        if (!cwd || !plain(cwd))
                return 0; /* "/", or the rules' to report */
        struct stat st;
        int e = look(r, cwd, false, &st, NULL);
        const struct dc_origin *o = dc_config_origin(r->c, "process.cwd");
        if (missing(e))
                return dc_err_at(err, o, "process.cwd", "%s: no such directory in the rootfs", cwd);
        if (e == 0 && !S_ISDIR(st.st_mode))
                return dc_err_at(err, o, "process.cwd", "%s is not a directory in the rootfs", cwd);
        return 0;
}

/* Is PATH an executable file of the rootfs? 1 yes, 0 no, -1 cannot tell. */
static int executable(const struct rootfs *r, const char *path)
{
        struct stat st;
        int e = look(r, path, false, &st, NULL);
        if (missing(e))
                return 0;
        if (e < 0)
                return -1;
        return S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

static int check_program(const struct rootfs *r, struct dc_error *err)
{
        const struct dc_config *c = r->c;
        const char *prog = c->process.args.n ? c->process.args.v[0] : "/bin/sh";
        const char *dflt = c->process.args.n ? "" : " (the default program)";
        const struct dc_origin *o = dc_config_origin(c, "process.args");
        if (strchr(prog, '/')) {
                if (prog[0] != '/')
                        return 0; /* relative to process.cwd: left to start */
                if (executable(r, prog) == 0)
                        return dc_err_at(err, o, "process.args", "%s%s: no such executable file in the rootfs", prog,
                                         dflt);
                return 0;
        }
        /* a bare name: searched in the PATH the process will have */
        const char *path = DC_DEFAULT_PATH;
        for (size_t i = 0; i < c->process.env.n; i++)
                if (dc_startswith(c->process.env.v[i], "PATH="))
                        path = c->process.env.v[i] + 5;
        _cleanup_free_ char *copy = dc_xstrdup(path);
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                if (d[0] != '/')
                        return 0; /* relative entries: left to start */
                _cleanup_free_ char *full = dc_xasprintf("%s/%s", d, prog);
                if (executable(r, full) != 0)
                        return 0; /* found, or cannot tell */
        }
        return dc_err_at(err, o, "process.args", "%s: command not found in the rootfs (PATH %s)", prog, path);
}

/* Bind volumes: a directory onto a directory, a file onto a file. */
static int check_bind_kinds(const struct rootfs *r, struct dc_error *err)
{
        for (size_t i = 0; i < r->c->n_volumes; i++) {
                const struct dc_volume *v = &r->c->volumes[i];
                if (v->type != DC_VOL_BIND || !plain(v->target))
                        continue;
                struct stat src, dst;
                if (stat(v->source, &src) < 0 || look(r, v->target, true, &dst, NULL) < 0)
                        continue;
                if (S_ISDIR(src.st_mode) != S_ISDIR(dst.st_mode)) {
                        char key[48];
                        snprintf(key, sizeof(key), "volumes[%zu].target", i);
                        return dc_err_at(err, &v->o_target, key,
                                         "%s is a %s in the rootfs, and the source %s a %s: a bind needs the same "
                                         "kind at both ends",
                                         v->target, S_ISDIR(dst.st_mode) ? "directory" : "file", v->source,
                                         S_ISDIR(src.st_mode) ? "directory" : "file");
                }
        }
        return 0;
}

/* Does the rootfs's /etc/resolv.conf lead into diyctl's own /run or /tmp
 * (systemd-resolved's ../run/systemd/resolve/stub-resolv.conf), where
 * start makes the file it binds? */
static bool resolv_made_in_tmpfs(const struct rootfs *r)
{
        char at[PATH_MAX];
        bool stopped, trailing;
        return walk(r, "/etc/resolv.conf", WALK_MOUNTS_STRICT, at, &stopped, &trailing) >= 0 &&
               what_is(r, at, true) == SEEN_IN_TMPFS && !leads_to_volume(r, at);
}

/* Where diyctl binds the container's resolv.conf: a link in the rootfs
 * that leads nowhere the container will have, and not into its own /run
 * or /tmp, fails the start. */
static int check_resolv_link(const struct rootfs *r, struct dc_error *err)
{
        if (!dc_plan_resolv_mode(r->c))
                return 0;
        struct stat ls, st;
        if (fstatat(r->root, "etc/resolv.conf", &ls, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(ls.st_mode))
                return 0;
        /* as a mount point: the link's own destination is the question */
        if (!missing(look(r, "/etc/resolv.conf", true, &st, NULL)) || resolv_made_in_tmpfs(r))
                return 0;
        char to[PATH_MAX];
        ssize_t n = readlinkat(r->root, "etc/resolv.conf", to, sizeof(to) - 1);
        to[n > 0 ? n : 0] = 0;
        const char *key = dc_config_present(r->c, "network.dns") ? "network.dns" : "network.mode";
        return dc_err_at(err, dc_config_origin(r->c, key), key,
                         "diyctl binds the container's /etc/resolv.conf, and the rootfs's is a link to %s, which "
                         "will not exist in the container: make it a file in the rootfs",
                         to);
}

/* rootfs.writable = "none": nothing can be made in the root, so every
 * mount point must be there (unless a mount above it provides it). */
static int check_mount_points(const struct rootfs *r, struct dc_error *err)
{
        const struct dc_config *c = r->c;
        if (c->rootfs.writable != DC_WRITABLE_NONE)
                return 0;
        const struct dc_origin *wo = dc_config_origin(c, "rootfs.writable");
        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct dc_volume *v = &c->volumes[i];
                struct stat st;
                if (!plain(v->target) || !missing(look(r, v->target, true, &st, NULL)))
                        continue;
                char key[48];
                snprintf(key, sizeof(key), "volumes[%zu].target", i);
                return dc_err_at(err, &v->o_target, key,
                                 "%s is not in the rootfs, and rootfs.writable = \"none\" (%s:%d) lets nothing be "
                                 "made there: create it in the rootfs",
                                 v->target, wo->file, wo->line);
        }
        static const char *const ours[] = { "/proc", "/sys", "/dev", "/run", "/tmp", "/etc/resolv.conf" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(ours); i++) {
                bool resolv = strcmp(ours[i], "/etc/resolv.conf") == 0;
                struct stat st;
                if ((resolv && (!dc_plan_resolv_mode(c) || resolv_made_in_tmpfs(r))) ||
                    !missing(look(r, ours[i], true, &st, NULL)))
                        continue;
                return dc_err_at(err, wo, "rootfs.writable",
                                 "\"none\": the rootfs has no %s, where diyctl mounts its own, and nothing can be "
                                 "made in it: create the %s in the rootfs",
                                 ours[i], resolv ? "file" : "directory");
        }
        return 0;
}

void dc_plan_validate_rootfs_contents(const struct dc_config *c, const struct dc_plan_opts *opts,
                                      const char *tree, struct dc_errs *all)
{
        const char *dir = tree ? tree : c->rootfs.path;
        if (!opts->check_contents || opts->skip_fs_checks || !dir || (!tree && (c->rootfs.tarball || c->rootfs.image)) ||
            c->rootfs.writable == DC_WRITABLE_DIR)
                return;
        _cleanup_close_ int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0 || !populated(root))
                return; /* validate_rootfs says why; or nothing to look into */
        /* each volume where start mounts it: its target resolved in the
         * rootfs alone (links followed, missing parts as written) */
        struct rootfs r = { .c = c, .root = root, .vols = dc_xcalloc(c->n_volumes + 1, sizeof(char *)) };
        for (size_t i = 0; i < c->n_volumes; i++) {
                char at[PATH_MAX];
                bool stopped, trailing;
                if (!plain(c->volumes[i].target) ||
                    walk(&r, c->volumes[i].target, WALK_ROOTFS, at, &stopped, &trailing) < 0)
                        continue;
                r.vols[r.n++] = dc_xstrdup(at);
        }
        static int (*const checks[])(const struct rootfs *, struct dc_error *) = {
                check_program, check_cwd, check_user, check_bind_kinds, check_mount_points, check_resolv_link,
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(checks); i++) {
                struct dc_error one = { 0 };
                if (checks[i](&r, &one) < 0)
                        dc_errs_add(all, &one);
        }
        for (size_t i = 0; i < r.n; i++)
                free(r.vols[i]);
        free(r.vols);
}
