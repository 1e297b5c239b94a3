/* lease: a NAT container's subnets. Under the host lock, the next free /30 of
 * the IPv4 pool (and /64 of the IPv6 pool) that overlaps neither another
 * container's lease nor any address or route the host has (another runtime's
 * bridge, a VPN); or the pinned network.address, checked the same way. The
 * lease is recorded in STATE_ROOT/.leases/NAME until undo releases it, and
 * its addresses go to ctx->vars for the steps after it.
 *
 * args: root, holder; per family F in {4, 6}: poolF (carve subnets of lenF)
 * or addrF (pinned, the container's address with prefix) with optional gwF,
 * and originF ("FILE:LINE: KEY" for errors). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/net.h"
#include "diyctl/util.h"
#include "net.h"
#include "net/nl.h"
#include "steps.h"

#define LEASE_DIR ".leases"

/* What a new lease must not overlap: other containers' leases (described
 * by desc) and what the host uses (described on demand: a name lookup per
 * link would make every start slower with every container). */
struct taken {
        struct dc_prefix *p;
        char **desc;                 /* NULL for host entries */
        const struct dc_nl_use **use;
        size_t n;
};

static void taken_add(struct taken *t, const struct dc_prefix *p, char *desc, const struct dc_nl_use *use)
{
        t->p = dc_xrealloc(t->p, (t->n + 1) * sizeof(*t->p));
        t->desc = dc_xrealloc(t->desc, (t->n + 1) * sizeof(*t->desc));
        t->use = dc_xrealloc(t->use, (t->n + 1) * sizeof(*t->use));
        t->p[t->n] = *p;
        t->desc[t->n] = desc;
        t->use[t->n] = use;
        t->n++;
}

static char *taken_describe(const struct taken *t, size_t i)
{
        if (t->desc[i])
                return dc_xstrdup(t->desc[i]);
        return dc_nl_use_describe(t->use[i]);
}

static void taken_free(struct taken *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->desc[i]);
        free(t->desc);
        free(t->use);
        free(t->p);
}

/* The leases of every other container. */
static int read_leases(const char *root, const char *self, struct taken *t, struct dc_error *err)
{
        _cleanup_free_ char *d = dc_xasprintf("%s/%s", root, LEASE_DIR);
        DIR *dir = opendir(d);
        if (!dir)
                return errno == ENOENT ? 0 : dc_err(err, errno, "%s: %s", d, strerror(errno));
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.' || strcmp(de->d_name, self) == 0)
                        continue;
                _cleanup_free_ char *text = NULL;
                if (dc_net_registry_read(root, LEASE_DIR, de->d_name, &text) < 0)
                        continue;
                char *save = NULL;
                for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char *eq = strchr(line, '=');
                        struct dc_prefix p;
                        if (!eq || dc_prefix_parse(eq + 1, 0, &p) < 0)
                                continue;
                        taken_add(t, &p, dc_xasprintf("the lease of container %s", de->d_name), NULL);
                }
        }
        closedir(dir);
        return 0;
}

struct result {
        struct dc_prefix subnet, host, container;
};

/* The gateway of a pinned subnet: the configured one, else its first usable
 * address other than the container's. */
static int pinned_gateway(const struct dc_prefix *addr, const char *gw, struct dc_prefix *out)
{
        if (gw) {
                if (dc_prefix_parse(gw, addr->family, out) < 0)
                        return -EINVAL;
                out->len = addr->len;
                return 0;
        }
        *out = dc_subnet_default_gateway(addr);
        return 0;
}

static int choose(const struct dc_kvs *a, int fam, const struct taken *t, struct result *res, struct dc_error *err)
{
        const char *f = fam == 4 ? "4" : "6";
        char key[16];
        snprintf(key, sizeof(key), "pool%s", f);
        const char *pool_s = dc_kvs_get(a, key);
        snprintf(key, sizeof(key), "addr%s", f);
        const char *addr_s = dc_kvs_get(a, key);
        snprintf(key, sizeof(key), "gw%s", f);
        const char *gw_s = dc_kvs_get(a, key);
        snprintf(key, sizeof(key), "origin%s", f);
        const char *origin = dc_kvs_get(a, key);
        int family = fam == 4 ? AF_INET : AF_INET6;
        if (addr_s) {
                struct dc_prefix p;
                if (dc_prefix_parse(addr_s, family, &p) < 0)
                        return dc_err(err, EINVAL, "lease: bad pinned address %s", addr_s);
                struct dc_prefix net = dc_prefix_network(&p);
                for (size_t i = 0; i < t->n; i++)
                        if (dc_prefix_overlaps(&net, &t->p[i])) {
                                _cleanup_free_ char *o = dc_prefix_str(&t->p[i]);
                                _cleanup_free_ char *what = taken_describe(t, i);
                                return dc_err(err, EADDRINUSE, "%s: %s overlaps %s (%s): choose another address",
                                              origin ? origin : "network.address", addr_s, o, what);
                        }
                res->subnet = net;
                res->container = p;
                if (pinned_gateway(&p, gw_s, &res->host) < 0)
                        return dc_err(err, EINVAL, "lease: bad gateway %s", gw_s);
                return 0;
        }
        snprintf(key, sizeof(key), "len%s", f);
        long long len = 0;
        struct dc_prefix pool;
        if (!pool_s || dc_prefix_parse(pool_s, family, &pool) < 0 || dc_kvs_get_ll(a, key, &len) < 0)
                return dc_err(err, EINVAL, "lease record without its IPv%s pool", f);
        struct dc_prefix sub;
        int r = dc_pool_pick(&pool, (unsigned)len, t->p, t->n, &sub);
        if (r < 0) {
                size_t leases = 0;
                for (size_t i = 0; i < t->n; i++)
                        if (t->desc[i] && dc_prefix_overlaps(&t->p[i], &pool))
                                leases++;
                return dc_err(err, EADDRNOTAVAIL,
                              "the NAT pool %s has no free /%lld left (%zu taken by containers, the rest by the "
                              "host's addresses and routes); set nat.ipv%s_pool in /etc/diyctl/host.conf",
                              pool_s, len, leases, f);
        }
        res->subnet = sub;
        dc_subnet_ends(&sub, &res->host, &res->container);
        res->host.len = sub.len;
        res->container.len = sub.len;
        return 0;
}

static void set_vars(struct dc_exec_ctx *ctx, const char *fam, const struct result *r)
{
        char key[64];
        struct {
                const char *name;
                char *val;
        } v[] = {
                { "subnet", dc_prefix_str(&r->subnet) },    { "address", dc_prefix_str(&r->container) },
                { "ip", dc_prefix_addr_str(&r->container) }, { "gateway", dc_prefix_addr_str(&r->host) },
                { "host", dc_prefix_str(&r->host) },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(v); i++) {
                snprintf(key, sizeof(key), "net.%s.%s", fam, v[i].name);
                dc_kvs_set(&ctx->vars, key, v[i].val);
                free(v[i].val);
        }
}

static int lease_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *root = dc_kvs_get(&s->args, "root");
        const char *holder = dc_kvs_get(&s->args, "holder");
        bool want4 = dc_kvs_get(&s->args, "pool4") || dc_kvs_get(&s->args, "addr4");
        bool want6 = dc_kvs_get(&s->args, "pool6") || dc_kvs_get(&s->args, "addr6");
        if (!root || !holder || !dc_name_valid(holder))
                return dc_err(err, EINVAL, "lease step without root or holder");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        int lock = dc_host_lock(root, err);
        if (lock < 0)
                return lock;
        struct taken t = { 0 };
        struct result r4 = { 0 }, r6 = { 0 };
        _cleanup_nl_ struct nl_sock *sk = NULL;
        struct dc_nl_used used = { 0 };
        r = read_leases(root, holder, &t, err);
        if (r == 0)
                r = dc_nl_open(0, &sk, err);
        if (r == 0)
                r = dc_nl_host_used(sk, &used, err);
        for (size_t i = 0; r == 0 && i < used.n; i++)
                taken_add(&t, &used.v[i].net, NULL, &used.v[i]);
        if (r == 0 && want4)
                r = choose(&s->args, 4, &t, &r4, err);
        if (r == 0 && want6)
                r = choose(&s->args, 6, &t, &r6, err);
        if (r == 0) {
                _cleanup_free_ char *s4 = want4 ? dc_prefix_str(&r4.subnet) : NULL;
                _cleanup_free_ char *s6 = want6 ? dc_prefix_str(&r6.subnet) : NULL;
                _cleanup_free_ char *text = dc_xasprintf("%s%s%s%s%s%s", s4 ? "ipv4=" : "", s4 ? s4 : "",
                                                         s4 ? "\n" : "", s6 ? "ipv6=" : "", s6 ? s6 : "",
                                                         s6 ? "\n" : "");
                r = dc_net_registry_write(root, LEASE_DIR, holder, text, err);
        }
        taken_free(&t);
        dc_nl_used_free(&used);
        dc_host_unlock(lock, root);
        if (r < 0)
                return r;
        struct dc_kvs done = { 0 };
        if (want4) {
                set_vars(ctx, "ipv4", &r4);
                char *x = dc_prefix_str(&r4.subnet);
                dc_kvs_add(&done, "got4", x);
                free(x);
        }
        if (want6) {
                set_vars(ctx, "ipv6", &r6);
                char *x = dc_prefix_str(&r6.subnet);
                dc_kvs_add(&done, "got6", x);
                free(x);
        }
        r = dc_step_done(ctx, s, seq, &done, err);
        dc_kvs_free(&done);
        return r;
}

static int lease_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        const char *root = dc_kvs_get(rec, "root");
        const char *holder = dc_kvs_get(rec, "holder");
        if (!root || root[0] != '/' || !holder || !dc_name_valid(holder))
                return dc_err(err, EINVAL, "lease record without root or holder");
        int lock = dc_host_lock(root, err);
        if (lock < 0)
                return lock;
        int r = dc_net_registry_remove(root, LEASE_DIR, holder, err);
        dc_host_unlock(lock, root);
        return r;
}

static void lease_describe(const struct dc_step *s, FILE *out)
{
        const char *sep = "";
        fputs("lease ", out);
        for (int fam = 4; fam <= 6; fam += 2) {
                char k[16];
                snprintf(k, sizeof(k), "addr%d", fam);
                const char *addr = dc_kvs_get(&s->args, k);
                snprintf(k, sizeof(k), "pool%d", fam);
                const char *pool = dc_kvs_get(&s->args, k);
                snprintf(k, sizeof(k), "len%d", fam);
                const char *len = dc_kvs_get(&s->args, k);
                if (addr)
                        fprintf(out, "%sthe pinned subnet of %s", sep, addr);
                else if (pool)
                        fprintf(out, "%sthe next free /%s of %s", sep, len, pool);
                else
                        continue;
                sep = " and ";
        }
        fprintf(out, " for %s (host lock; never overlapping the host's addresses and routes or other "
                     "containers; released at stop)",
                dc_kvs_get(&s->args, "holder"));
}

const struct dc_step_ops dc_lease_ops = {
        .kind = "lease",
        .side = DC_SIDE_HOST,
        .apply = lease_apply,
        .undo = lease_undo,
        .describe = lease_describe,
};
