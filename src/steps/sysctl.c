/* sysctl: a kernel setting the container needs (net.ipv4.ip_forward for NAT).
 * Held by reference across containers (shared.c): the first holder records the
 * previous value and sets the new one, the last holder restores it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"
#include "steps.h"

static char *sysctl_path(const char *key)
{
        char *p = dc_xasprintf("/proc/sys/%s", key);
        for (char *c = p + 10; *c; c++)
                if (*c == '.')
                        *c = '/';
        return p;
}

struct sysctl_arg {
        const char *key;
        const char *value;
};

static int read_prev(void *arg, char **prev, struct dc_error *err)
{
        struct sysctl_arg *a = arg;
        _cleanup_free_ char *path = sysctl_path(a->key);
        char *old = NULL;
        int r = dc_read_file(path, 4096, &old);
        if (r < 0)
                return dc_err(err, r, "cannot read %s: %s", a->key, strerror(-r));
        old[strcspn(old, "\n")] = 0;
        *prev = old;
        return 0;
}

static int set_value(void *arg, struct dc_error *err)
{
        struct sysctl_arg *a = arg;
        _cleanup_free_ char *path = sysctl_path(a->key);
        int r = dc_write_file(path, a->value);
        if (r < 0)
                return dc_err(err, r, "cannot set %s = %s: %s", a->key, a->value, strerror(-r));
        return 0;
}

static int restore_last(void *arg, const char *prev, struct dc_error *err)
{
        struct sysctl_arg *a = arg;
        _cleanup_free_ char *path = sysctl_path(a->key);
        int r = dc_write_file(path, prev);
        if (r < 0 && r != -ENOENT)
                return dc_err(err, r, "cannot restore %s = %s: %s", a->key, prev, strerror(-r));
        return 0;
}

static bool key_valid(const char *k)
{
        if (!k || !*k || strstr(k, ".."))
                return false;
        for (const char *c = k; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", *c))
                        return false;
        return true;
}

static int sysctl_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        struct sysctl_arg a = { dc_kvs_get(&s->args, "key"), dc_kvs_get(&s->args, "value") };
        if (!key_valid(a.key))
                return dc_err(err, EINVAL, "bad sysctl key %s", a.key ? a.key : "(none)");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *id = dc_xasprintf("sysctl:%s", a.key);
        r = dc_shared_hold(dc_kvs_get(&s->args, "root"), id, dc_kvs_get(&s->args, "holder"), read_prev, set_value,
                           restore_last, &a, err);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

static int sysctl_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        struct sysctl_arg a = { dc_kvs_get(rec, "key"), dc_kvs_get(rec, "value") };
        const char *root = dc_kvs_get(rec, "root");
        const char *holder = dc_kvs_get(rec, "holder");
        if (!key_valid(a.key) || !root || !holder)
                return dc_err(err, EINVAL, "sysctl record without key, root or holder");
        _cleanup_free_ char *id = dc_xasprintf("sysctl:%s", a.key);
        return dc_shared_release(root, id, holder, restore_last, &a, err);
}

static void sysctl_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "set %s = %s (shared: restored when the last container using it stops)",
                dc_kvs_get(&s->args, "key"), dc_kvs_get(&s->args, "value"));
}

const struct dc_step_ops dc_sysctl_ops = {
        .kind = "sysctl",
        .side = DC_SIDE_HOST,
        .apply = sysctl_apply,
        .undo = sysctl_undo,
        .describe = sysctl_describe,
};
