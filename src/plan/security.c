/* The plan side of security hardening: capability names and sets (libcap's
 * names, our own set arithmetic), the paths masked or made read-only, the
 * steps and exec-step arguments that carry them, and the checks across keys.
 * Pure: no side effects. */
#include "diyctl/security.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "diyctl/config.h"
#include "diyctl/fs.h"
#include "diyctl/plan.h"
#include "diyctl/step.h"
#include "internal.h"

/* Highest capability this build knows by name (libcap's headers). */
#define DC_CAP_LAST CAP_LAST_CAP

int dc_cap_parse(const char *name, int *cap, char **canon)
{
        if (!name || !*name || strlen(name) > 64)
                return -EINVAL;
        if (strcasecmp(name, "ALL") == 0) {
                *cap = DC_CAP_ALL;
                if (canon)
                        *canon = dc_xstrdup("ALL");
                return 0;
        }
        /* "NET_ADMIN", "CAP_NET_ADMIN", "cap_net_admin": libcap knows the
         * lower-case "cap_" spelling. Numbers are not names. */
        const char *base = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
        if (!*base)
                return -EINVAL;
        char lower[80] = "cap_";
        size_t o = 4;
        for (const char *p = base; *p; p++) {
                unsigned char ch = (unsigned char)*p;
                if (!isalnum(ch) && ch != '_')
                        return -EINVAL;
                lower[o++] = (char)tolower(ch);
        }
        lower[o] = 0;
        if (isdigit((unsigned char)base[0]))
                return -EINVAL;
        cap_value_t v;
        if (cap_from_name(lower, &v) < 0 || v < 0 || v > DC_CAP_LAST)
                return -EINVAL;
        *cap = (int)v;
        if (canon)
                *canon = dc_cap_name((int)v);
        return 0;
}

char *dc_cap_name(int cap)
{
        if (cap < 0 || cap > DC_CAP_LAST)
                return NULL;
        char *n = cap_to_name((cap_value_t)cap);
        if (!n)
                return NULL;
        char *out = NULL;
        if (strncmp(n, "cap_", 4) == 0) {
                out = dc_xstrdup(n);
                for (char *p = out; *p; p++)
                        *p = (char)toupper((unsigned char)*p);
        }
        cap_free(n);
        return out;
}

dc_capset dc_caps_default(void)
{
        static const int def[] = {
                CAP_CHOWN,      CAP_DAC_OVERRIDE,     CAP_FOWNER,  CAP_FSETID,     CAP_KILL,
                CAP_SETGID,     CAP_SETUID,           CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW,
                CAP_SYS_CHROOT, CAP_MKNOD,            CAP_AUDIT_WRITE, CAP_SETFCAP,
        };
        dc_capset s = 0;
        for (size_t i = 0; i < DC_ARRAY_SIZE(def); i++)
                s |= DC_CAP_BIT(def[i]);
        return s;
}

dc_capset dc_caps_all(void)
{
        dc_capset s = 0;
        for (int c = 0; c <= DC_CAP_LAST; c++)
                s |= DC_CAP_BIT(c);
        return s;
}

static int list_set(const struct dc_strv *l, dc_capset *set, bool *all)
{
        *set = 0;
        *all = false;
        for (size_t i = 0; i < l->n; i++) {
                int c;
                if (dc_cap_parse(l->v[i], &c, NULL) < 0)
                        return -EINVAL;
                if (c == DC_CAP_ALL)
                        *all = true;
                else
                        *set |= DC_CAP_BIT(c);
        }
        return 0;
}

int dc_caps_resolve(const struct dc_strv *add, const struct dc_strv *drop, dc_capset *out)
{
        dc_capset a, d;
        bool add_all, drop_all;
        if (list_set(add, &a, &add_all) < 0 || list_set(drop, &d, &drop_all) < 0)
                return -EINVAL;
        if (add_all && drop_all)
                return -EINVAL;
        dc_capset s;
        if (add_all)
                s = dc_caps_all() & ~d; /* everything but what is dropped */
        else if (drop_all)
                s = a;                  /* nothing but what is added */
        else
                s = (dc_caps_default() | a) & ~d;
        *out = s;
        return 0;
}

char *dc_caps_format(dc_capset set)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
                abort();
        bool first = true;
        for (int c = 0; c <= DC_CAP_LAST; c++) {
                if (!(set & DC_CAP_BIT(c)))
                        continue;
                _cleanup_free_ char *n = dc_cap_name(c);
                if (n)
                        fprintf(m, "%s%s", first ? "" : ",", n);
                else
                        fprintf(m, "%s%d", first ? "" : ",", c);
                first = false;
        }
        fclose(m);
        return buf;
}

int dc_caps_parse_list(const char *list, dc_capset *out)
{
        *out = 0;
        if (!list)
                return -EINVAL;
        _cleanup_free_ char *copy = dc_xstrdup(list);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int c;
                if (dc_cap_parse(t, &c, NULL) < 0 || c == DC_CAP_ALL)
                        return -EINVAL;
                *out |= DC_CAP_BIT(c);
        }
        return 0;
}

int dc_security_from_kvs(const struct dc_kvs *kv, struct dc_security *sec, struct dc_error *err)
{
        const char *caps = dc_kvs_get(kv, "caps");
        sec->caps = dc_caps_default();
        if (caps && dc_caps_parse_list(caps, &sec->caps) < 0)
                return dc_err(err, EINVAL, "bad capability list %s", caps);
        const char *sc = dc_kvs_get(kv, "seccomp");
        if (sc && !dc_streq(sc, "default") && !dc_streq(sc, "unconfined"))
                return dc_err(err, EINVAL, "bad seccomp profile %s", sc);
        sec->seccomp = !dc_streq(sc, "unconfined");
        sec->no_new_privs = !dc_streq(dc_kvs_get(kv, "no-new-privs"), "0");
        return 0;
}

void dc_security_describe(const struct dc_step *s, FILE *out)
{
        const char *caps = dc_kvs_get(&s->args, "caps");
        const char *sc = dc_kvs_get(&s->args, "seccomp");
        if (!caps && !sc)
                return;
        fprintf(out, "; capabilities: %s; seccomp: %s%s", caps && *caps ? caps : "none", sc ? sc : "default",
                dc_streq(dc_kvs_get(&s->args, "no-new-privs"), "0") ? "" : "; no_new_privs");
}

/* ---- paths ------------------------------------------------------------------ */

/* Hidden (what runc and Docker hide, and the kernel's trigger files): an
 * empty read-only file or directory is mounted over each that exists. */
const char *const dc_masked_paths[] = {
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/key-users",
        "/proc/kpagecgroup",
        "/proc/kpagecount",
        "/proc/kpageflags",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/proc/sysrq-trigger",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
        NULL,
};

/* Visible but read-only: the kernel's global knobs. */
const char *const dc_readonly_paths[] = {
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        NULL,
};

/* ---- plan --------------------------------------------------------------------- */

void dc_plan_add_hardening(const struct dc_config *c, struct dc_plan *p)
{
        (void)c;
        struct dc_step *s = dc_plan_add_step(p, "readonly");
        for (size_t i = 0; dc_readonly_paths[i]; i++)
                dc_kvs_add(&s->args, "path", dc_readonly_paths[i]);
        s = dc_plan_add_step(p, "mask");
        for (size_t i = 0; dc_masked_paths[i]; i++)
                dc_kvs_add(&s->args, "path", dc_masked_paths[i]);
        dc_plan_add_step(p, "nodev");
}

int dc_plan_exec_security(const struct dc_config *c, struct dc_kvs *args, struct dc_error *err)
{
        dc_capset caps;
        if (dc_caps_resolve(&c->security.cap_add, &c->security.cap_drop, &caps) < 0)
                return dc_err_at(err, dc_config_origin(c, "security.capabilities"), "security.capabilities",
                                 "cannot be resolved");
        _cleanup_free_ char *list = dc_caps_format(caps);
        dc_kvs_add(args, "caps", list);
        dc_kvs_add(args, "seccomp", c->security.seccomp == DC_SECCOMP_UNCONFINED ? "unconfined" : "default");
        dc_kvs_add(args, "no-new-privs", c->security.no_new_privileges ? "1" : "0");
        return 0;
}

int dc_plan_validate_security(const struct dc_config *c, struct dc_error *err)
{
        const struct dc_strv *add = &c->security.cap_add, *drop = &c->security.cap_drop;
        const char *dk = "security.capabilities.drop";
        for (size_t i = 0; i < drop->n; i++)
                for (size_t k = 0; k < add->n; k++)
                        if (strcmp(drop->v[i], add->v[k]) == 0)
                                return dc_err_at(err, dc_config_origin(c, dk), dk,
                                                 "%s is also in security.capabilities.add; list it in one of them",
                                                 drop->v[i]);
        /* A read-only idmapped volume is made read-only by the launcher, but
         * the mount is the container's own: with CAP_SYS_ADMIN it could be
         * remounted writable, and written with the ids the container names
         * (its root as the host's). Without it, no process inside can (a
         * nested user namespace gets the mount locked read-only). */
        dc_capset caps = 0;
        if (dc_caps_resolve(add, drop, &caps) == 0 && (caps & DC_CAP_BIT(21 /* CAP_SYS_ADMIN */)))
                for (size_t i = 0; i < c->n_volumes; i++)
                        if (c->volumes[i].idmap && c->volumes[i].readonly) {
                                char key[64];
                                snprintf(key, sizeof(key), "volumes[%zu].idmap", i);
                                return dc_err_at(err, &c->volumes[i].o_idmap, key,
                                                 "a read-only idmapped volume cannot stay read-only in a container "
                                                 "given CAP_SYS_ADMIN (security.capabilities): it could remount it "
                                                 "writable and write as the host ids it names");
                        }
        /* Under /proc everything is the kernel's: a volume there could undo a
         * mask or a read-only path (runc refuses these too). */
        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct dc_volume *v = &c->volumes[i];
                if (!v->target)
                        continue;
                _cleanup_free_ char *norm = dc_path_normalize(v->target);
                if (strcmp(norm, "/proc") == 0 || dc_startswith(norm, "/proc/")) {
                        char key[64];
                        snprintf(key, sizeof(key), "volumes[%zu].target", i);
                        return dc_err_at(err, &v->o_target, key,
                                         "%s is inside /proc; volumes cannot be mounted there", v->target);
                }
        }
        return 0;
}
