/* Who the container's process runs as, and which program it runs; both looked
 * up inside the container (after pivot_root), never on the host. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"

/* NAME:x:ID:GID... in passwd, NAME:x:ID:... in group. */
static int lookup_name(const char *file, const char *name, unsigned *id, unsigned *gid_out)
{
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        if (!f)
                return -ENOENT;
        char line[1024];
        while (fgets(line, sizeof(line), f)) {
                char *save = NULL;
                char *n = strtok_r(line, ":", &save);
                (void)strtok_r(NULL, ":", &save); /* password */
                char *i = strtok_r(NULL, ":", &save);
                char *g = strtok_r(NULL, ":", &save);
                if (!n || !i || strcmp(n, name) != 0)
                        continue;
                *id = (unsigned)strtoul(i, NULL, 10);
                if (gid_out && g)
                        *gid_out = (unsigned)strtoul(g, NULL, 10);
                return 0;
        }
        return -ENOENT;
}

/* The primary group of a numeric uid, when passwd lists it. */
static bool primary_gid(unsigned uid, unsigned *gid)
{
        _cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
        char line[1024];
        while (f && fgets(line, sizeof(line), f)) {
                unsigned fu, fg;
                if (sscanf(line, "%*[^:]:%*[^:]:%u:%u:", &fu, &fg) == 2 && fu == uid) {
                        *gid = fg;
                        return true;
                }
        }
        return false;
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

int dc_resolve_user(const char *spec, const char *origin, uid_t *uid_out, gid_t *gid_out, struct dc_error *err)
{
        _cleanup_free_ char *u = dc_xstrdup(spec ? spec : "0:0");
        char *g = strchr(u, ':');
        if (g)
                *g++ = 0;
        unsigned uid = 0, gid = 0;
        bool have_gid = false;
        if (all_digits(u))
                uid = (unsigned)strtoul(u, NULL, 10);
        else if (lookup_name("/etc/passwd", u, &uid, &gid) == 0)
                have_gid = true;
        else
                return dc_err(err, ENOENT, "%s: user %s is not in the rootfs's /etc/passwd", origin, u);
        if (g) {
                if (all_digits(g))
                        gid = (unsigned)strtoul(g, NULL, 10);
                else if (lookup_name("/etc/group", g, &gid, NULL) < 0)
                        return dc_err(err, ENOENT, "%s: group %s is not in the rootfs's /etc/group", origin, g);
        } else if (!have_gid && !primary_gid(uid, &gid)) {
                gid = 0;
        }
        *uid_out = uid;
        *gid_out = gid;
        return 0;
}

char *dc_find_program(const char *name, const char *path_env)
{
        if (!*name)
                return NULL; /* no program has an empty name ("dir/" + "" is the directory) */
        if (strchr(name, '/'))
                return dc_xstrdup(name);
        const char *path = path_env ? path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        _cleanup_free_ char *copy = dc_xstrdup(path);
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = dc_xasprintf("%s/%s", *d ? d : ".", name);
                if (access(p, X_OK) == 0)
                        return DC_TAKE(p);
        }
        return NULL;
}

void dc_reset_signals(void)
{
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
}
