/* idmap: write the uid and gid maps of the container's user namespace while
 * its first process (or the holder, with a time namespace) waits. Not a host change (the maps live and die with the
 * namespace), so nothing is journaled. Unprivileged callers with more than
 * their own id go through the setuid helpers newuidmap/newgidmap. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"
#include "steps.h"

static int write_map(pid_t pid, const char *file, const struct dc_kvs *a, const char *key, struct dc_error *err)
{
        char buf[1024] = "";
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->v[i].key, key) == 0) {
                        size_t len = strlen(buf);
                        snprintf(buf + len, sizeof(buf) - len, "%s\n", a->v[i].val);
                }
        _cleanup_free_ char *path = dc_xasprintf("/proc/%d/%s", (int)pid, file);
        int r = dc_write_file(path, buf);
        if (r < 0)
                return dc_err(err, r, "cannot write the %s of the container: %s", file, strerror(-r));
        return 0;
}

static int run_helper(const char *helper, pid_t pid, const struct dc_kvs *a, const char *key, struct dc_error *err)
{
        struct dc_strv argv = { 0 };
        dc_strv_push(&argv, helper);
        dc_strv_push_take(&argv, dc_xasprintf("%d", (int)pid));
        for (size_t i = 0; i < a->n; i++) {
                if (strcmp(a->v[i].key, key) != 0)
                        continue;
                _cleanup_free_ char *line = dc_xstrdup(a->v[i].val);
                char *save = NULL;
                for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
                        dc_strv_push(&argv, tok);
        }
        pid_t h = fork();
        if (h < 0) {
                dc_strv_free(&argv);
                return dc_err(err, errno, "fork: %s", strerror(errno));
        }
        if (h == 0) {
                dc_reset_signals();
                execvp(helper, argv.v);
                fprintf(stderr, "diyctl: cannot run %s: %s (install the uidmap package)\n", helper, strerror(errno));
                _exit(127);
        }
        dc_strv_free(&argv);
        int status;
        while (waitpid(h, &status, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return dc_err(err, EPERM, "%s refused the map (see /etc/subuid and /etc/subgid)", helper);
        return 0;
}

static int write_maps(pid_t pid, const struct dc_kvs *a, struct dc_error *err)
{
        int r;
        if (dc_streq(dc_kvs_get(a, "method"), "helper")) {
                if ((r = run_helper("newuidmap", pid, a, "uid", err)) < 0)
                        return r;
                return run_helper("newgidmap", pid, a, "gid", err);
        }
        if ((r = write_map(pid, "uid_map", a, "uid", err)) < 0)
                return r;
        _cleanup_free_ char *sg = dc_xasprintf("/proc/%d/setgroups", (int)pid);
        if (dc_streq(dc_kvs_get(a, "setgroups"), "deny") && (r = dc_write_file(sg, "deny")) < 0)
                return dc_err(err, r, "cannot deny setgroups: %s", strerror(-r));
        return write_map(pid, "gid_map", a, "gid", err);
}

/* Two places in the plan (plan.c):
 *  - right after the spawn, as a rule: the first process was cloned with its
 *    user namespace (and the others, owned by it) and waits for its maps;
 *    it is told so by DC_MSG_MAPS.
 *  - before the spawn with a time namespace: a holder process makes the
 *    user namespace first and, once it has its maps, the time namespace
 *    with its offsets, which must be set before any process is in it; the
 *    holder then clones the first process (exec.c). */
static int idmap_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const struct dc_kvs *a = &s->args;
        if (ctx->child > 0) {
                int r = write_maps(ctx->child, a, err);
                if (r < 0)
                        return r;
                r = dc_send_msg(ctx->launcher_sync, DC_MSG_MAPS, "", 0, -1);
                if (r < 0)
                        return dc_err(err, -r, "cannot tell the container's first process its maps are written: %s",
                                      strerror(-r));
                return 0;
        }
        int r = dc_userns_holder_start(ctx, err);
        if (r < 0)
                return r;
        return write_maps(ctx->holder_pid, a, err);
}

static void idmap_describe(const struct dc_step *s, FILE *out)
{
        fputs(dc_streq(dc_kvs_get(&s->args, "holder"), "1") ? "new user namespace (held by a helper until the "
                                                              "time namespace is made in it), maps: uid"
                                                            : "the user namespace's maps: uid",
              out);
        for (size_t i = 0; i < s->args.n; i++)
                if (strcmp(s->args.v[i].key, "uid") == 0)
                        fprintf(out, " [%s]", s->args.v[i].val);
        fputs(", gid", out);
        for (size_t i = 0; i < s->args.n; i++)
                if (strcmp(s->args.v[i].key, "gid") == 0)
                        fprintf(out, " [%s]", s->args.v[i].val);
        fprintf(out, " (inside outside count; setgroups %s; %s)", dc_kvs_get(&s->args, "setgroups"),
                dc_streq(dc_kvs_get(&s->args, "method"), "helper") ? "via newuidmap/newgidmap" : "written directly");
}

const struct dc_step_ops dc_idmap_ops = {
        .kind = "idmap",
        .side = DC_SIDE_PARENT,
        .apply = idmap_apply,
        .describe = idmap_describe,
};
