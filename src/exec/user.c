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

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* The next line of a passwd or group file, split at ':' into up to N
 * fields (empty ones too: the password often is; missing ones are NULL,
 * the last holds the rest of the line). false at the end. */
struct colon_file {
        FILE *f;
        char *line;
        size_t cap;
};

static bool next_fields(struct colon_file *cf, char **field, size_t n)
{
        if (!cf->f || getline(&cf->line, &cf->cap, cf->f) < 0)
                return false;
        cf->line[strcspn(cf->line, "\n")] = 0;
        char *rest = cf->line;
        for (size_t i = 0; i < n; i++)
                field[i] = i + 1 < n ? strsep(&rest, ":") : rest;
        return true;
}

static void colon_file_close(struct colon_file *cf)
{
        if (cf->f)
                fclose(cf->f);
        free(cf->line);
}
#define _cleanup_colon_file_ __attribute__((cleanup(colon_file_close)))

/* One line of /etc/passwd (NAME:PASSWORD:UID:GID:GECOS:HOME:SHELL). */
struct pwent {
        char name[256];
        unsigned uid, gid;
        char home[1024];
};

/* The passwd entry of NAME, or (NAME NULL) of UID. */
static bool find_passwd(const char *name, unsigned uid, struct pwent *out)
{
        _cleanup_colon_file_ struct colon_file cf = { .f = fopen("/etc/passwd", "re") };
        char *f[7];
        while (next_fields(&cf, f, 7)) {
                if (!f[0] || !f[2] || !f[3] || !all_digits(f[2]) || !all_digits(f[3]))
                        continue;
                if (name ? strcmp(f[0], name) != 0 : strtoul(f[2], NULL, 10) != uid)
                        continue;
                snprintf(out->name, sizeof(out->name), "%s", f[0]);
                out->uid = (unsigned)strtoul(f[2], NULL, 10);
                out->gid = (unsigned)strtoul(f[3], NULL, 10);
                snprintf(out->home, sizeof(out->home), "%s", f[5] && *f[5] ? f[5] : "/");
                return true;
        }
        return false;
}

/* The gid of group NAME in /etc/group (NAME:PASSWORD:GID:MEMBERS). */
static bool find_group(const char *name, unsigned *gid)
{
        _cleanup_colon_file_ struct colon_file cf = { .f = fopen("/etc/group", "re") };
        char *f[4];
        while (next_fields(&cf, f, 4)) {
                if (!f[0] || !f[2] || !all_digits(f[2]) || strcmp(f[0], name) != 0)
                        continue;
                *gid = (unsigned)strtoul(f[2], NULL, 10);
                return true;
        }
        return false;
}

/* The groups of /etc/group whose member list names USER. */
static void member_groups(const char *user, struct dc_ids *ids)
{
        _cleanup_colon_file_ struct colon_file cf = { .f = fopen("/etc/group", "re") };
        char *f[4];
        while (ids->n_groups < DC_MAX_GROUPS && next_fields(&cf, f, 4)) {
                if (!f[2] || !f[3] || !all_digits(f[2]))
                        continue;
                gid_t g = (gid_t)strtoul(f[2], NULL, 10);
                char *msave = NULL;
                for (char *m = strtok_r(f[3], ",", &msave); m; m = strtok_r(NULL, ",", &msave)) {
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

int dc_resolve_user(const char *spec, const char *origin, bool want_home, struct dc_ids *ids, struct dc_error *err)
{
        _cleanup_free_ char *u = dc_xstrdup(spec ? spec : "0:0");
        char *g = strchr(u, ':');
        if (g)
                *g++ = 0;
        memset(ids, 0, sizeof(*ids));
        struct pwent pw = { .home = "/" };
        bool known;
        if (all_digits(u)) {
                /* "uid:gid" as numbers: nothing to look up, unless the home */
                known = (!g || want_home) && find_passwd(NULL, (unsigned)strtoul(u, NULL, 10), &pw);
                if (!known) { /* a uid passwd does not name: gid 0, home / */
                        pw.uid = (unsigned)strtoul(u, NULL, 10);
                        pw.gid = 0;
                }
        } else if (!(known = find_passwd(u, 0, &pw))) {
                return dc_err(err, ENOENT, "%s: user %s is not in the rootfs's /etc/passwd", origin, u);
        }
        unsigned gid = pw.gid;
        if (g) {
                /* an explicit group: that one alone, as docker run -u U:G */
                if (all_digits(g))
                        gid = (unsigned)strtoul(g, NULL, 10);
                else if (!find_group(g, &gid))
                        return dc_err(err, ENOENT, "%s: group %s is not in the rootfs's /etc/group", origin, g);
        } else if (known) {
                member_groups(pw.name, ids);
        }
        ids->uid = pw.uid;
        ids->gid = gid;
        snprintf(ids->home, sizeof(ids->home), "%s", pw.home);
        return 0;
}

char **dc_env_with_home(char **envp, const char *home)
{
        size_t n = 0;
        for (; envp && envp[n]; n++)
                if (dc_startswith(envp[n], "HOME="))
                        return envp;
        char **out = dc_xcalloc(n + 2, sizeof(*out));
        for (size_t i = 0; i < n; i++)
                out[i] = envp[i];
        out[n] = dc_xasprintf("HOME=%s", home);
        return out;
}

/* Keep of GROUPS (N) those our user namespace maps; all when its map
 * cannot be read. Returns how many are kept. */
static size_t keep_mapped(gid_t *groups, size_t n)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/gid_map", "re");
        if (!f)
                return n;
        struct {
                unsigned long long inside, count;
        } map[340]; /* the kernel's most extents */
        size_t m = 0;
        unsigned long long outside;
        while (m < DC_ARRAY_SIZE(map) && fscanf(f, "%llu %llu %llu", &map[m].inside, &outside, &map[m].count) == 3)
                m++;
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < m; k++)
                        if (groups[i] >= map[k].inside && groups[i] - map[k].inside < map[k].count) {
                                groups[kept++] = groups[i];
                                break;
                        }
        return kept;
}

int dc_become(const struct dc_ids *ids, bool userns)
{
        /* in a user namespace, a group of /etc/group its map leaves out is
         * left out here too (the kernel refuses it), as a user's other
         * groups would be */
        gid_t groups[DC_MAX_GROUPS];
        size_t n = ids->n_groups;
        memcpy(groups, ids->groups, n * sizeof(*groups));
        if (userns && n)
                n = keep_mapped(groups, n);
        if (setgroups(n, groups) < 0) {
                /* denied in a user namespace mapped without a helper: the
                 * groups stay the launcher's (shown as the overflow gid) */
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
