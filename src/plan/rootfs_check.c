/* What start would find missing in a directory rootfs, found by check and
 * plan first (start itself finds them where they fail, with the exit codes
 * a user expects, 127 for a missing program, and spares the lookups): the
 * program, process.cwd, a process.user name, bind targets of the other kind
 * than their source, and (rootfs.writable = "none") mount points.
 *
 * Paths are looked up inside the rootfs as the container sees it (links
 * resolve inside it: openat2 RESOLVE_IN_ROOT), read-only. A path that a
 * mount provides (a volume, or diyctl's own /proc, /sys, /dev, /run, /tmp)
 * is not known before the start and is left alone, as is a rootfs with a
 * persistent upper layer (rootfs.writable = DIR: earlier runs changed what
 * the container sees), an empty rootfs directory (a mount point, or a
 * placeholder on a machine that checks a fleet's configs for others) and
 * anything the caller may not read. Paths the config rules refuse
 * (relative, with "..") are theirs to report. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/fs.h"
#include "diyctl/util.h"
#include "internal.h"

/* Is A the directory B or below it (both normalized)? */
static bool under(const char *a, const char *b)
{
        size_t n = strlen(b);
        if (n == 1)
                return true;
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/');
}

/* Does a mount provide PATH (normalized), or a directory above it? With
 * STRICT, only a mount strictly above it counts (a mount point's own
 * existence is the question then). */
static bool provided(const struct dc_config *c, const char *path, bool strict)
{
        static const char *const ours[] = { "/proc", "/sys", "/dev", "/run", "/tmp" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(ours); i++)
                if (under(path, ours[i]) && !(strict && strcmp(path, ours[i]) == 0))
                        return true;
        if (dc_plan_resolv_mode(c) && strcmp(path, "/etc/resolv.conf") == 0 && !strict)
                return true;
        for (size_t i = 0; i < c->n_volumes; i++) {
                _cleanup_free_ char *t = dc_path_normalize(c->volumes[i].target);
                if (under(path, t) && !(strict && strcmp(path, t) == 0))
                        return true;
        }
        return false;
}

/* Is a volume mounted at PATH (normalized) or below it? The directories
 * down to its target are made at the start. */
static bool leads_to_mount(const struct dc_config *c, const char *path)
{
        for (size_t i = 0; i < c->n_volumes; i++) {
                _cleanup_free_ char *t = dc_path_normalize(c->volumes[i].target);
                if (under(t, path))
                        return true;
        }
        return false;
}

/* Look PATH up in the rootfs as the container will see it: links
 * followed inside the root (an absolute target starts again at its "/"),
 * and a place a mount provides is where knowledge ends, also when a link
 * leads there. STRICT: for PATH itself only a mount strictly above it
 * counts (a mount point's existence is the question). 0 with *ST (and the
 * resolved path in RESOLVED, PATH_MAX bytes, when given); -ENOENT or
 * -ENOTDIR: not there; -EAGAIN: a mount provides it; another -errno: we
 * cannot tell. */
static int look(const struct dc_config *c, int root, const char *path, bool strict, struct stat *st,
                char *resolved)
{
        char cur[PATH_MAX] = ""; /* resolved so far, without links; "" is "/" */
        char rest[2 * PATH_MAX];
        snprintf(rest, sizeof(rest), "%s", path);
        char *p = rest;
        int links = 0;
        for (;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char *end = strchrnul(p, '/');
                size_t n = (size_t)(end - p);
                char comp[NAME_MAX + 1];
                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(comp, p, n);
                comp[n] = 0;
                p = end;
                if (strcmp(comp, ".") == 0)
                        continue;
                if (strcmp(comp, "..") == 0) {
                        char *slash = strrchr(cur, '/');
                        if (slash)
                                *slash = 0;
                        continue;
                }
                char next[PATH_MAX];
                if ((size_t)snprintf(next, sizeof(next), "%s/%s", cur, comp) >= sizeof(next))
                        return -ENAMETOOLONG;
                const char *after = p;
                while (*after == '/')
                        after++;
                bool last = !*after;
                if (provided(c, next, strict && last && links == 0))
                        return -EAGAIN;
                struct stat ls;
                if (fstatat(root, next + 1, &ls, AT_SYMLINK_NOFOLLOW) < 0) {
                        /* missing, but made at the start for a volume below it
                         * (a root that can be written) */
                        if (errno == ENOENT && c->rootfs.writable != DC_WRITABLE_NONE && leads_to_mount(c, next))
                                return -EAGAIN;
                        return -errno;
                }
                if (S_ISLNK(ls.st_mode)) {
                        if (++links > 40)
                                return -ELOOP;
                        char target[PATH_MAX];
                        ssize_t t = readlinkat(root, next + 1, target, sizeof(target) - 1);
                        if (t <= 0)
                                return t < 0 ? -errno : -ENOENT;
                        target[t] = 0;
                        if (target[0] == '/')
                                cur[0] = 0;
                        char again[2 * PATH_MAX];
                        if ((size_t)snprintf(again, sizeof(again), "%s/%s", target, p) >= sizeof(again))
                                return -ENAMETOOLONG;
                        memcpy(rest, again, sizeof(rest));
                        p = rest;
                        continue;
                }
                if (!last && !S_ISDIR(ls.st_mode))
                        return -ENOTDIR;
                memcpy(cur, next, sizeof(cur));
        }
        if (fstatat(root, cur[0] ? cur + 1 : ".", st, AT_EMPTY_PATH) < 0)
                return -errno;
        if (resolved)
                snprintf(resolved, PATH_MAX, "%s", cur[0] ? cur : "/");
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

/* Is NAME (the user or group part of process.user) in the rootfs's FILE
 * (/etc/passwd or /etc/group)? true when we cannot tell. */
static bool names_entry(const struct dc_config *c, int root, const char *file, const char *name, size_t n)
{
        struct stat st;
        char at[PATH_MAX];
        int r = look(c, root, file, false, &st, at);
        if (r < 0)
                return !missing(r);
        _cleanup_close_ int fd = openat(root, at + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_fclose_ FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
        if (!f)
                return true;
        fd = -1; /* the FILE owns it */
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) >= 0)
                if (strncmp(line, name, n) == 0 && line[n] == ':')
                        return true;
        return false;
}

static int check_user(const struct dc_config *c, int root, struct dc_error *err)
{
        const char *u = c->process.user;
        if (!u)
                return 0;
        const char *colon = strchr(u, ':');
        size_t un = colon ? (size_t)(colon - u) : strlen(u);
        const struct dc_origin *o = dc_config_origin(c, "process.user");
        bool numeric = un && strspn(u, "0123456789") >= un;
        if (!numeric && !names_entry(c, root, "/etc/passwd", u, un))
                return dc_err_at(err, o, "process.user", "user %.*s is not in the rootfs's /etc/passwd", (int)un, u);
        if (colon && colon[1] && strspn(colon + 1, "0123456789") < strlen(colon + 1) &&
            !names_entry(c, root, "/etc/group", colon + 1, strlen(colon + 1)))
                return dc_err_at(err, o, "process.user", "group %s is not in the rootfs's /etc/group", colon + 1);
        return 0;
}

static int check_cwd(const struct dc_config *c, int root, struct dc_error *err)
{
        if (!c->process.cwd || !plain(c->process.cwd))
                return 0; /* "/", or the rules' to report */
        struct stat st;
        int r = look(c, root, c->process.cwd, false, &st, NULL);
        const struct dc_origin *o = dc_config_origin(c, "process.cwd");
        if (missing(r))
                return dc_err_at(err, o, "process.cwd", "%s: no such directory in the rootfs", c->process.cwd);
        if (r == 0 && !S_ISDIR(st.st_mode))
                return dc_err_at(err, o, "process.cwd", "%s is not a directory in the rootfs", c->process.cwd);
        return 0;
}

/* Is PATH an executable file of the rootfs? 1 yes, 0 no, -1 cannot tell. */
static int executable(const struct dc_config *c, int root, const char *path)
{
        struct stat st;
        int r = look(c, root, path, false, &st, NULL);
        if (missing(r))
                return 0;
        if (r < 0)
                return -1;
        return S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

static int check_program(const struct dc_config *c, int root, struct dc_error *err)
{
        const char *prog = c->process.args.n ? c->process.args.v[0] : "/bin/sh";
        const char *key = "process.args";
        const char *dflt = c->process.args.n ? "" : " (the default program)";
        const struct dc_origin *o = dc_config_origin(c, "process.args");
        if (strchr(prog, '/')) {
                if (prog[0] != '/')
                        return 0; /* relative to process.cwd: left to start */
                if (executable(c, root, prog) == 0)
                        return dc_err_at(err, o, key, "%s%s: no such executable file in the rootfs", prog, dflt);
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
                if (executable(c, root, full) != 0)
                        return 0; /* found, or cannot tell */
        }
        return dc_err_at(err, o, key, "%s: command not found in the rootfs (PATH %s)", prog, path);
}

/* Bind volumes: a directory onto a directory, a file onto a file. */
static int check_bind_kinds(const struct dc_config *c, int root, struct dc_error *err)
{
        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct dc_volume *v = &c->volumes[i];
                if (v->type != DC_VOL_BIND || !plain(v->target))
                        continue;
                _cleanup_free_ char *t = dc_path_normalize(v->target);
                struct stat src, dst;
                if (stat(v->source, &src) < 0 || look(c, root, t, true, &dst, NULL) < 0)
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

/* rootfs.writable = "none": nothing can be made in the root, so every
 * mount point must be there (unless a mount above it provides it). */
static int check_mount_points(const struct dc_config *c, int root, struct dc_error *err)
{
        if (c->rootfs.writable != DC_WRITABLE_NONE)
                return 0;
        const struct dc_origin *wo = dc_config_origin(c, "rootfs.writable");
        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct dc_volume *v = &c->volumes[i];
                if (!plain(v->target))
                        continue;
                _cleanup_free_ char *t = dc_path_normalize(v->target);
                struct stat st;
                if (!missing(look(c, root, t, true, &st, NULL)))
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
                if ((resolv && !dc_plan_resolv_mode(c)) || !missing(look(c, root, ours[i], true, &st, NULL)))
                        continue;
                return dc_err_at(err, wo, "rootfs.writable",
                                 "\"none\": the rootfs has no %s, where diyctl mounts its own, and nothing can be "
                                 "made in it: create the %s in the rootfs",
                                 ours[i], resolv ? "file" : "directory");
        }
        return 0;
}

int dc_plan_validate_rootfs_contents(const struct dc_config *c, const struct dc_plan_opts *opts, int part,
                                     struct dc_error *err)
{
        if (!opts->check_contents || opts->skip_fs_checks || !c->rootfs.path || c->rootfs.tarball ||
            c->rootfs.image || c->rootfs.writable == DC_WRITABLE_DIR)
                return 0;
        _cleanup_close_ int root = open(c->rootfs.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0 || !populated(root))
                return 0; /* validate_rootfs says why; or nothing to look into */
        switch (part) {
        case 0: return check_program(c, root, err);
        case 1: return check_cwd(c, root, err);
        case 2: return check_user(c, root, err);
        case 3: return check_bind_kinds(c, root, err);
        case 4: return check_mount_points(c, root, err);
        }
        return 0;
}
