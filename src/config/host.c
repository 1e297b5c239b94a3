/* /etc/diyctl/host.conf: host-wide settings (firewall backend, NAT pools,
 * root's state directory, the size at which detached logs are rotated).
 * Read with libconfig; every key optional, unknown keys are errors. */
#include "diyctl/host.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libconfig.h>

#include "diyctl/net.h"
#include "diyctl/util.h"

#define HOST_CONF_MAX_SIZE (1u << 20)

const char *dc_firewall_name(enum dc_firewall fw)
{
        return fw == DC_FW_NFTABLES ? "nftables" : "iptables";
}

struct dc_host_conf *dc_host_conf_new(void)
{
        struct dc_host_conf *h = dc_xcalloc(1, sizeof(*h));
        h->firewall = DC_FW_IPTABLES;
        h->nat_pool4 = dc_xstrdup(DC_NAT_POOL4_DEFAULT);
        h->nat_pool6 = dc_xstrdup(DC_NAT_POOL6_DEFAULT);
        h->log_max_size = DC_LOG_MAX_SIZE_DEFAULT;
        return h;
}

void dc_host_conf_free(struct dc_host_conf *h)
{
        free(h->file);
        free(h->nat_pool4);
        free(h->nat_pool6);
        free(h->state_dir);
        free(h);
}

__attribute__((format(printf, 5, 6))) static int key_err(struct dc_error *err, const char *file,
                                                        const config_setting_t *s, const char *key,
                                                        const char *fmt, ...)
{
        struct dc_origin o = { file, s ? (int)config_setting_source_line(s) : 0 };
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return dc_err_at(err, &o, key, "%s", msg);
}

static int get_string(const char *file, const config_setting_t *s, const char *key, const char **out,
                      struct dc_error *err)
{
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return key_err(err, file, s, key, "expected a string");
        *out = config_setting_get_string(s);
        return 0;
}

static int get_pool(const char *file, const config_setting_t *s, const char *key, int family, unsigned sublen,
                    char **field, struct dc_error *err)
{
        const char *v = NULL;
        int r = get_string(file, s, key, &v, err);
        if (r < 0)
                return r;
        struct dc_prefix p;
        if (dc_prefix_parse(v, family, &p) < 0 || !strchr(v, '/'))
                return key_err(err, file, s, key,
                               family == AF_INET ? "%s is not an IPv4 prefix like 10.88.0.0/16"
                                                 : "%s is not an IPv6 prefix like fd88::/48",
                               v);
        if (p.len > sublen)
                return key_err(err, file, s, key, "%s: the pool must hold at least one /%u", v, sublen);
        if (!dc_prefix_is_network(&p)) {
                struct dc_prefix n = dc_prefix_network(&p);
                _cleanup_free_ char *ns = dc_prefix_str(&n);
                return key_err(err, file, s, key, "%s has host bits set (did you mean %s?)", v, ns);
        }
        free(*field);
        *field = dc_xstrdup(v);
        return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* state_dir: an absolute path without "." or ".." components, not "/". */
static int get_state_dir(const char *file, const config_setting_t *s, struct dc_host_conf *h, struct dc_error *err)
{
        const char *v = NULL;
        int r = get_string(file, s, "state_dir", &v, err);
        if (r < 0)
                return r;
        size_t n = strlen(v);
        bool ok = v[0] == '/' && n > 1 && n < 256 && v[n - 1] != '/' && !strstr(v, "//") && !strstr(v, "/./") &&
                  !strstr(v, "/../") && !ends_with(v, "/.") && !ends_with(v, "/..");
        for (const char *p = v; ok && *p; p++)
                ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
        if (!ok)
                return key_err(err, file, s, "state_dir",
                               "%s is not an absolute directory path like /run/diyctl (no \".\" or \"..\", not /)", v);
        free(h->state_dir);
        h->state_dir = dc_xstrdup(v);
        return 0;
}

/* log_max_size: "10M", "512K", an integer byte count, or 0 (never rotated). */
static int get_log_max_size(const char *file, const config_setting_t *s, struct dc_host_conf *h,
                            struct dc_error *err)
{
        const char *key = "log_max_size";
        unsigned long long v;
        if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
                long long i = config_setting_get_int64(s);
                if (i < 0)
                        return key_err(err, file, s, key, "the size must not be negative, got %lld", i);
                v = (unsigned long long)i;
        } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *t = config_setting_get_string(s);
                if (dc_parse_size(t, &v) < 0)
                        return key_err(err, file, s, key, "%s is not a size, like \"10M\" (or 0: never rotate)", t);
        } else {
                return key_err(err, file, s, key, "expected a size like \"10M\" or an integer byte count");
        }
        if (v != 0 && v < DC_LOG_MAX_SIZE_MIN)
                return key_err(err, file, s, key, DC_LOG_MAX_SIZE_SMALL, v);
        h->log_max_size = v;
        return 0;
}

/* One top-level setting: every error of it goes into ALL. */
static void walk_one(config_setting_t *s, const char *file, struct dc_host_conf *h, struct dc_errs *all)
{
        struct dc_error one = { 0 };
        const char *name = config_setting_name(s);
        if (strcmp(name, "state_dir") == 0) {
                if (get_state_dir(file, s, h, &one) < 0)
                        dc_errs_add(all, &one);
                return;
        }
        if (strcmp(name, "log_max_size") == 0) {
                if (get_log_max_size(file, s, h, &one) < 0)
                        dc_errs_add(all, &one);
                return;
        }
        if (strcmp(name, "firewall") == 0) {
                const char *v = NULL;
                if (get_string(file, s, name, &v, &one) < 0) {
                        dc_errs_add(all, &one);
                } else if (strcmp(v, "iptables") == 0) {
                        h->firewall = DC_FW_IPTABLES;
                } else if (strcmp(v, "nftables") == 0) {
                        h->firewall = DC_FW_NFTABLES;
                } else {
                        key_err(&one, file, s, name, "%s is not a firewall backend (\"iptables\" or \"nftables\")", v);
                        dc_errs_add(all, &one);
                }
                return;
        }
        if (strcmp(name, "nat") != 0) {
                key_err(&one, file, s, name, "unknown key (known: firewall, log_max_size, nat, state_dir)");
                dc_errs_add(all, &one);
                return;
        }
        if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                key_err(&one, file, s, name, "expected a group { ipv4_pool = \"...\"; ipv6_pool = \"...\"; }");
                dc_errs_add(all, &one);
                return;
        }
        int m = config_setting_length(s);
        for (int k = 0; k < m; k++) {
                config_setting_t *e = config_setting_get_elem(s, (unsigned)k);
                const char *en = config_setting_name(e);
                char key[96];
                snprintf(key, sizeof(key), "nat.%s", en ? en : "?");
                int r;
                if (en && strcmp(en, "ipv4_pool") == 0)
                        r = get_pool(file, e, key, AF_INET, DC_NAT_SUBNET4_LEN, &h->nat_pool4, &one);
                else if (en && strcmp(en, "ipv6_pool") == 0)
                        r = get_pool(file, e, key, AF_INET6, DC_NAT_SUBNET6_LEN, &h->nat_pool6, &one);
                else
                        r = key_err(&one, file, e, key, "unknown key (known: nat.ipv4_pool, nat.ipv6_pool)");
                if (r < 0)
                        dc_errs_add(all, &one);
        }
}

/* Every setting; every bad one is reported, one a line. */
static int walk(config_t *cfg, const char *file, struct dc_host_conf *h, struct dc_error *err)
{
        config_setting_t *root = config_root_setting(cfg);
        int n = config_setting_length(root);
        struct dc_errs all = { 0 };
        for (int i = 0; i < n; i++)
                walk_one(config_setting_get_elem(root, (unsigned)i), file, h, &all);
        return dc_errs_end(&all, err);
}

char *dc_state_root_of(uid_t uid, const struct dc_host_conf *h, struct dc_error *err)
{
        const char *env = getenv("DIYCTL_STATE_ROOT");
        if (env && *env)
                return dc_xstrdup(env);
        if (uid != 0) {
                const char *xdg = getenv("XDG_RUNTIME_DIR");
                if (xdg && *xdg)
                        return dc_xasprintf("%s/diyctl", xdg);
                return dc_xasprintf("/run/user/%u/diyctl", (unsigned)uid);
        }
        if (h)
                return dc_xstrdup(h->state_dir ? h->state_dir : "/run/diyctl");
        _cleanup_host_conf_ struct dc_host_conf *read = NULL;
        if (dc_host_conf_load(NULL, &read, err) < 0)
                return NULL;
        return dc_xstrdup(read->state_dir ? read->state_dir : "/run/diyctl");
}

int dc_host_conf_load_string(const char *text, const char *file, struct dc_host_conf **out, struct dc_error *err)
{
        *out = NULL;
        _cleanup_host_conf_ struct dc_host_conf *h = dc_host_conf_new();
        h->file = dc_xstrdup(file);
        config_t cfg;
        config_init(&cfg);
        int r = 0;
        if (config_read_string(&cfg, text) != CONFIG_TRUE) {
                struct dc_origin o = { file, config_error_line(&cfg) };
                r = dc_err_at(err, &o, "host.conf", "%s", config_error_text(&cfg));
                /* dc_err_at prints KEY; for a syntax error there is none */
                if (o.line > 0)
                        snprintf(err->msg, sizeof(err->msg), "%s:%d: %s", file, o.line, config_error_text(&cfg));
                else
                        snprintf(err->msg, sizeof(err->msg), "%s: %s", file, config_error_text(&cfg));
        } else {
                r = walk(&cfg, file, h, err);
        }
        config_destroy(&cfg);
        if (r < 0)
                return r;
        *out = DC_TAKE(h);
        return 0;
}

int dc_host_conf_load(const char *path, struct dc_host_conf **out, struct dc_error *err)
{
        *out = NULL;
        if (!path) {
                const char *env = getenv("DIYCTL_HOST_CONF");
                path = env && *env ? env : DC_HOST_CONF_PATH;
        }
        _cleanup_free_ char *text = NULL;
        int r = dc_read_file(path, HOST_CONF_MAX_SIZE, &text);
        if (r == -ENOENT) {
                *out = dc_host_conf_new();
                return 0;
        }
        if (r < 0)
                return dc_err(err, -r, "%s: %s", path, strerror(-r));
        return dc_host_conf_load_string(text, path, out, err);
}
