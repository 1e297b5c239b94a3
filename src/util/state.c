#include "diyctl/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/plan.h"
#include "diyctl/util.h"

bool dc_state_locked(const char *dir)
{
        _cleanup_free_ char *lp = dc_xasprintf("%s/lock", dir);
        _cleanup_close_ int fd = open(lp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
                return false;
        return fl.l_type != F_UNLCK;
}

int dc_state_root_safe(const char *root, struct dc_error *err)
{
        struct stat sb;
        if (lstat(root, &sb) < 0) {
                if (errno == ENOENT)
                        return 0;
                return dc_err(err, errno, "state directory %s: %s", root, strerror(errno));
        }
        if (!S_ISDIR(sb.st_mode))
                return dc_err(err, EPERM, "state directory %s is not a directory%s", root,
                              S_ISLNK(sb.st_mode) ? " (a symbolic link)" : "");
        if (sb.st_uid != geteuid())
                return dc_err(err, EPERM, "state directory %s belongs to uid %u, not to us (%u): not ours to use",
                              root, (unsigned)sb.st_uid, (unsigned)geteuid());
        if (sb.st_mode & 022)
                return dc_err(err, EPERM, "state directory %s is writable by others (mode %04o): not ours alone to use",
                              root, (unsigned)(sb.st_mode & 07777));
        return 0;
}

bool dc_statedir_is_ours(const char *dir, const char *name)
{
        _cleanup_free_ char *jp = dc_xasprintf("%s/journal", dir);
        struct stat sb;
        if (lstat(jp, &sb) == 0 && S_ISREG(sb.st_mode))
                return true;
        _cleanup_free_ char *sp = dc_xasprintf("%s/status", dir);
        _cleanup_free_ char *text = NULL;
        if (lstat(sp, &sb) < 0 || !S_ISREG(sb.st_mode) || dc_read_file(sp, 1 << 16, &text) < 0)
                return false;
        _cleanup_free_ char *want = dc_pct_encode(name);
        _cleanup_free_ char *line = dc_xasprintf("\nname=%s\n", want);
        return dc_startswith(text, line + 1) || strstr(text, line) != NULL;
}

int dc_state_write_status(const char *dir, const struct dc_kvs *kv, struct dc_error *err)
{
        _cleanup_free_ char *tmp = dc_xasprintf("%s/status.tmp", dir);
        _cleanup_free_ char *final = dc_xasprintf("%s/status", dir);
        /* 0600: it holds process.env, which may hold secrets, and the state
         * dir is 0711 (a remapped container root passes through it) */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        if (fchmod(fd, 0600) < 0) { /* a status.tmp an older diyctl left */
                int e = errno;
                close(fd);
                return dc_err(err, e, "%s: %s", tmp, strerror(e));
        }
        _cleanup_fclose_ FILE *f = fdopen(fd, "w");
        if (!f) {
                int e = errno;
                close(fd);
                return dc_err(err, e, "%s: %s", tmp, strerror(e));
        }
        for (size_t i = 0; i < kv->n; i++) {
                _cleanup_free_ char *v = dc_pct_encode(kv->v[i].val);
                fprintf(f, "%s=%s\n", kv->v[i].key, v);
        }
        if (fflush(f) != 0)
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        if (rename(tmp, final) < 0)
                return dc_err(err, errno, "%s: %s", final, strerror(errno));
        return 0;
}

int dc_state_read(const char *root, const char *name, struct dc_state *st, struct dc_error *err)
{
        memset(st, 0, sizeof(*st));
        if (!dc_name_valid(name))
                return dc_err(err, EINVAL, "%s is not a valid container name", name);
        st->name = dc_xstrdup(name);
        st->dir = dc_xasprintf("%s/%s", root, name);
        if (access(st->dir, F_OK) < 0) {
                int e = errno;
                dc_err(err, e, "no container %s", name);
                dc_state_free(st);
                return -e;
        }
        st->running = dc_state_locked(st->dir);
        _cleanup_free_ char *sp = dc_xasprintf("%s/status", st->dir);
        _cleanup_fclose_ FILE *f = fopen(sp, "re");
        if (!f)
                return 0;
        st->has_status = true;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                line[strcspn(line, "\n")] = 0;
                char *eq = strchr(line, '=');
                if (!eq)
                        continue;
                *eq = 0;
                char *v = dc_pct_decode(eq + 1);
                if (v) {
                        dc_kvs_add(&st->kv, line, v);
                        free(v);
                }
        }
        free(line);
        long long x;
        if (dc_kvs_get_ll(&st->kv, "launcher_pid", &x) == 0)
                st->launcher_pid = (pid_t)x;
        if (dc_kvs_get_ll(&st->kv, "pid", &x) == 0)
                st->pid = (pid_t)x;
        if (dc_kvs_get_ll(&st->kv, "started", &x) == 0)
                st->started = x;
        st->detached = dc_streq(dc_kvs_get(&st->kv, "detached"), "1");
        if (dc_streq(dc_kvs_get(&st->kv, "state"), "exited")) {
                /* a record only once its teardown is through (no journal);
                 * with one left, the launcher is at it or died in it */
                _cleanup_free_ char *jp = dc_xasprintf("%s/journal", st->dir);
                st->stopping = st->running;
                st->exited = !st->running && access(jp, F_OK) < 0;
                if (dc_kvs_get_ll(&st->kv, "exit_code", &x) == 0)
                        st->exit_code = (int)x;
                if (dc_kvs_get_ll(&st->kv, "ended", &x) == 0)
                        st->ended = x;
        }
        return 0;
}

void dc_state_free(struct dc_state *st)
{
        free(st->name);
        free(st->dir);
        dc_kvs_free(&st->kv);
        memset(st, 0, sizeof(*st));
}
