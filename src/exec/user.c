/* Who the container's process runs as, and which program it runs; both looked
 * up inside the container (after pivot_root), never on the host. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"

/* NAME:x:ID:GID... in passwd, NAME:x:ID:... in group (fields may be
 * empty: the password often is). */
static int lookup_name(const char *file, const char *name, unsigned *id, unsigned *gid_out)
{
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        if (!f)
                return -ENOENT;
        char line[1024];
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                char *rest = line;
                char *n = strsep(&rest, ":");
                (void)strsep(&rest, ":"); /* password */
                char *i = strsep(&rest, ":");
                char *g = strsep(&rest, ":");
                if (!n || !i || !*i || strcmp(n, name) != 0)
                        continue;
                *id = (unsigned)strtoul(i, NULL, 10);
                if (gid_out && g)
                        *gid_out = (unsigned)strtoul(g, NULL, 10);
                return 0;
        }
        return -ENOENT;
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

/* The name and primary group of a numeric uid, when passwd lists it. */
static bool passwd_of_uid(unsigned uid, char *name, size_t name_len, unsigned *gid)
{
        _cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
        char line[1024];
        while (f && fgets(line, sizeof(line), f)) {
                char *rest = line;
                char *n = strsep(&rest, ":");
                (void)strsep(&rest, ":"); /* password, may be empty */
                char *u = strsep(&rest, ":");
                char *g = strsep(&rest, ":");
                if (!n || !u || !g || !all_digits(u) || !all_digits(g) || strtoul(u, NULL, 10) != uid)
                        continue;
                snprintf(name, name_len, "%s", n);
                *gid = (unsigned)strtoul(g, NULL, 10);
                return true;
        }
        return false;
}

/* The groups of /etc/group whose member list names USER (NAME:x:GID:a,b,c). */
static void member_groups(const char *user, struct dc_ids *ids)
{
        _cleanup_fclose_ FILE *f = fopen("/etc/group", "re");
        char line[4096];
        while (f && fgets(line, sizeof(line), f) && ids->n_groups < DC_MAX_GROUPS) {
                line[strcspn(line, "\n")] = 0;
                char *rest = line;
                (void)strsep(&rest, ":"); /* name */
                (void)strsep(&rest, ":"); /* password, often empty */
                char *gid_s = strsep(&rest, ":");
                char *members = rest;
                if (!gid_s || !members || !*gid_s || strspn(gid_s, "0123456789") != strlen(gid_s))
                        continue;
                gid_t g = (gid_t)strtoul(gid_s, NULL, 10);
                char *msave = NULL;
                for (char *m = strtok_r(members, ",", &msave); m; m = strtok_r(NULL, ",", &msave)) {
                        if (strcmp(m, user) != 0)
                                continue;
                        bool dup = false;
                        for (size_t k = 0; k < ids->n_groups; k++)
                                dup |= ids->groups[k] == g;
                        if (!dup)
                                ids->groups[ids->n_groups++] = g;
                        break;
                }
        }
}

int dc_resolve_user(const char *spec, const char *origin, struct dc_ids *ids, struct dc_error *err)
{
        _cleanup_free_ char *u = dc_xstrdup(spec ? spec : "0:0");
        char *g = strchr(u, ':');
        if (g)
                *g++ = 0;
        unsigned uid = 0, gid = 0;
        char name[256] = "";
        if (all_digits(u)) {
                uid = (unsigned)strtoul(u, NULL, 10);
                if (!passwd_of_uid(uid, name, sizeof(name), &gid))
                        gid = 0;
        } else if (lookup_name("/etc/passwd", u, &uid, &gid) == 0) {
                snprintf(name, sizeof(name), "%s", u);
        } else {
                return dc_err(err, ENOENT, "%s: user %s is not in the rootfs's /etc/passwd", origin, u);
        }
        memset(ids, 0, sizeof(*ids));
        if (g) {
                /* an explicit group: that one alone, as docker run -u U:G */
                if (all_digits(g))
                        gid = (unsigned)strtoul(g, NULL, 10);
                else if (lookup_name("/etc/group", g, &gid, NULL) < 0)
                        return dc_err(err, ENOENT, "%s: group %s is not in the rootfs's /etc/group", origin, g);
        } else if (name[0]) {
                member_groups(name, ids);
        }
        ids->uid = uid;
        ids->gid = gid;
        return 0;
}

/* Is GID mapped in our user namespace? (true when the map cannot be read) */
static bool gid_mapped(gid_t gid)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/gid_map", "re");
        if (!f)
                return true;
        unsigned long long inside, outside, count;
        while (fscanf(f, "%llu %llu %llu", &inside, &outside, &count) == 3)
                if (gid >= inside && gid - inside < count)
                        return true;
        return false;
}

int dc_become(const struct dc_ids *ids, bool userns)
{
        /* in a user namespace, a group of /etc/group its map leaves out is
         * left out here too (the kernel refuses it), as a user's other
         * groups would be */
        gid_t groups[DC_MAX_GROUPS];
        size_t n = 0;
        for (size_t i = 0; i < ids->n_groups; i++)
                if (!userns || gid_mapped(ids->groups[i]))
                        groups[n++] = ids->groups[i];
        if (setgroups(n, groups) < 0) {
                /* denied in a user namespace mapped without a helper: no
                 * groups can be set there, none are kept either */
                if (!(userns && errno == EPERM))
                        return -errno;
        }
        if (setgid(ids->gid) < 0 || setuid(ids->uid) < 0)
                return -errno;
        return 0;
}

char *dc_find_program(const char *name, const char *path_env)
{
        if (!*name)
                return NULL; /* no program has an empty name ("dir/" + "" is the directory) */
        if (strchr(name, '/'))
                return dc_xstrdup(name);
        const char *path = path_env ? path_env : DC_DEFAULT_PATH;
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
