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

/* Look PATH up in the rootfs: 0 with *ST, -ENOENT/-ENOTDIR when it is not
 * there, another -errno when we cannot tell. */
static int look(int root, const char *path, struct stat *st)
{
        struct dc_error ignored;
        int fd = dc_open_in_root(root, path, DC_CREATE_NONE, &ignored);
        if (fd < 0)
                return fd;
        int r = fstat(fd, st) < 0 ? -errno : 0;
        close(fd);
        return r;
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
static bool names_entry(int root, const char *file, const char *name, size_t n)
{
        struct dc_error ignored;
        _cleanup_close_ int pfd = dc_open_in_root(root, file, DC_CREATE_NONE, &ignored);
        if (pfd < 0)
                return !missing(pfd);
        /* an O_PATH fd: opened for reading through /proc */
        _cleanup_close_ int fd = open(dc_fdpath(pfd).s, O_RDONLY | O_CLOEXEC);
        _cleanup_fclose_ FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
        if (!f)
                return true;
        fd = -1; /* the FILE owns it */
        char line[4096];
        while (fgets(line, sizeof(line), f))
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
        if (!numeric && !provided(c, "/etc/passwd", false) && !names_entry(root, "/etc/passwd", u, un))
                return dc_err_at(err, o, "process.user", "user %.*s is not in the rootfs's /etc/passwd", (int)un, u);
        if (colon && colon[1] && strspn(colon + 1, "0123456789") < strlen(colon + 1) &&
            !provided(c, "/etc/group", false) && !names_entry(root, "/etc/group", colon + 1, strlen(colon + 1)))
                return dc_err_at(err, o, "process.user", "group %s is not in the rootfs's /etc/group", colon + 1);
        return 0;
}

static int check_cwd(const struct dc_config *c, int root, struct dc_error *err)
{
        if (!c->process.cwd || !plain(c->process.cwd))
                return 0; /* "/", or the rules' to report */
        _cleanup_free_ char *cwd = dc_path_normalize(c->process.cwd);
        if (provided(c, cwd, false))
                return 0;
        struct stat st;
        int r = look(root, cwd, &st);
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
        _cleanup_free_ char *p = dc_path_normalize(path);
        if (provided(c, p, false))
                return -1;
        struct stat st;
        int r = look(root, p, &st);
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
                if (provided(c, t, true) || stat(v->source, &src) < 0 || look(root, t, &dst) < 0)
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
                if (provided(c, t, true) || !missing(look(root, t, &st)))
                        continue;
                char key[48];
                snprintf(key, sizeof(key), "volumes[%zu].target", i);
                return dc_err_at(err, &v->o_target, key,
                                 "%s is not in the rootfs, and rootfs.writable = \"none\" (%s:%d) lets nothing be "
                                 "made there: create it in the rootfs",
                                 v->target, wo->file, wo->line);
        }
        static const char *const ours[] = { "/proc", "/sys", "/dev", "/run", "/tmp" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(ours); i++) {
                struct stat st;
                if (!missing(look(root, ours[i], &st)))
                        continue;
                return dc_err_at(err, wo, "rootfs.writable",
                                 "\"none\": the rootfs has no %s, where diyctl mounts its own, and nothing can be "
                                 "made in it: create the directory in the rootfs",
                                 ours[i]);
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
