/* lease: a NAT container's subnets. Under the host lock, the next free /30 of
 * the IPv4 pool (and /64 of the IPv6 pool) that overlaps neither another
 * container's lease nor any address or route the host has (another runtime's
 * bridge, a VPN); or the pinned network.address, checked the same way. The
 * lease is recorded in the lease index until undo releases it, and its
 * addresses go to ctx->vars for the steps after it.
 *
 * The index, STATE_ROOT/.leases/_index, holds one line per container,
 * "NAME ipv4=SUBNET ipv6=SUBNET", rewritten atomically under the host lock:
 * a start reads one small file, not one file per running container.
 *
 * A bridge container's addresses are claimed in the same index, as
 * "NAME bridge=BRIDGE ipv4=ADDRESS ipv6=ADDRESS": two containers on one
 * bridge must not hold the same address (their ARP replies would fight), and
 * a NAT lease must not be carved from a bridge's network. A claim checks
 * other claims on its bridge and the NAT leases; the host's own addresses
 * were checked at validation (the bridge's network is the host's by design).
 *
 * args: root, holder; per family F in {4, 6}: poolF (carve subnets of lenF)
 * or addrF (pinned, the container's address with prefix) with optional gwF,
 * and originF ("FILE:LINE: KEY" for errors); bridge (a claim: addrF only). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/net.h"
#include "diyctl/state.h"
#include "diyctl/util.h"
#include "net.h"
#include "net/nl.h"
#include "steps.h"

#define LEASE_DIR ".leases"
/* Not a container name (those start with [a-z0-9]). */
#define LEASE_INDEX "_index"

/* What a new lease must not overlap: other containers' leases and what the
 * host uses, both described only when an error names one (a name lookup
 * per link would make every start slower with every container). */
struct taken {
        struct dc_prefix *p;
        const char **lease;          /* the container holding it; NULL for host entries */
        bool *claim;                 /* ... as a bridge container's claim, not a NAT lease */
        const struct dc_nl_use **use;
        size_t n, cap;
};

static void taken_add(struct taken *t, const struct dc_prefix *p, const char *lease, bool claim,
                      const struct dc_nl_use *use)
{
        if (t->n == t->cap) {
                t->cap = t->cap ? 2 * t->cap : 64;
                t->p = dc_xrealloc(t->p, t->cap * sizeof(*t->p));
                t->lease = dc_xrealloc(t->lease, t->cap * sizeof(*t->lease));
                t->claim = dc_xrealloc(t->claim, t->cap * sizeof(*t->claim));
                t->use = dc_xrealloc(t->use, t->cap * sizeof(*t->use));
        }
        t->p[t->n] = *p;
        t->lease[t->n] = lease;
        t->claim[t->n] = claim;
        t->use[t->n] = use;
        t->n++;
}

/* ", whose launcher is gone (diyctl cleanup NAME frees it)" when no
 * launcher holds container NAME under ROOT: a start that died, or a launcher
 * killed with -9, keeps its lease until its journal is undone. "" else. */
static char *gone_note(const char *root, const char *name)
{
        _cleanup_free_ char *dir = dc_xasprintf("%s/%s", root, name);
        if (dc_state_locked(dir))
                return dc_xstrdup("");
        return dc_xasprintf(", whose launcher is gone (diyctl cleanup %s frees it)", name);
}

static char *taken_describe(const struct taken *t, const char *root, size_t i)
{
        if (t->lease[i]) {
                _cleanup_free_ char *note = gone_note(root, t->lease[i]);
                return dc_xasprintf(t->claim[i] ? "the address bridge container %s%s claims"
                                                : "the lease of container %s%s",
                                    t->lease[i], note);
        }
        return dc_nl_use_describe(t->use[i]);
}

static void taken_free(struct taken *t)
{
        free(t->lease);
        free(t->claim);
        free(t->use);
        free(t->p);
}

/* The index's text ("" when there is none). */
static int index_read(const char *root, char **text, struct dc_error *err)
{
        /* one line a lease: no small cap (the registry's 64 KiB would stop
         * every start and stop at about a thousand NAT containers) */
        _cleanup_free_ char *path = dc_xasprintf("%s/%s/%s", root, LEASE_DIR, LEASE_INDEX);
        int r = dc_read_file(path, 64 << 20, text);
        if (r == -ENOENT) {
                *text = dc_xstrdup("");
                return 0;
        }
        if (r < 0)
                return dc_err(err, -r, "%s/%s/%s: %s", root, LEASE_DIR, LEASE_INDEX, strerror(-r));
        return 0;
}

/* Split the index in place into lines; fn(name, rest of the line) for each. */
static void index_each(char *text, void (*fn)(const char *name, char *fields, void *arg), void *arg)
{
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(line, ' ');
                if (sp)
                        *sp = 0;
                if (dc_name_valid(line))
                        fn(line, sp ? sp + 1 : line + strlen(line), arg);
        }
}

struct others {
        const char *self;
        struct taken *t;
};

/* The fields of an index line: bridge= (a claim; NULL for a NAT lease),
 * ipv4= and ipv6= (have[0], have[1]). FIELDS is split in place. */
struct line {
        const char *bridge;
        struct dc_prefix p[2];
        bool have[2];
};

static void line_parse(char *fields, struct line *l)
{
        memset(l, 0, sizeof(*l));
        char *save = NULL;
        for (char *f = strtok_r(fields, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
                if (strncmp(f, "bridge=", 7) == 0)
                        l->bridge = f + 7;
                else if (strncmp(f, "ipv4=", 5) == 0)
                        l->have[0] = dc_prefix_parse(f + 5, AF_INET, &l->p[0]) == 0;
                else if (strncmp(f, "ipv6=", 5) == 0)
                        l->have[1] = dc_prefix_parse(f + 5, AF_INET6, &l->p[1]) == 0;
        }
}

static void add_lease(const char *name, char *fields, void *arg)
{
        struct others *o = arg;
        if (strcmp(name, o->self) == 0)
                return;
        struct line l;
        line_parse(fields, &l);
        for (int i = 0; i < 2; i++)
                if (l.have[i])
                        taken_add(o->t, &l.p[i], name, l.bridge != NULL, NULL);
}

/* A claim's conflicts: another container's claim of the same address on
 * the same bridge, or a NAT lease whose subnet holds it (its host end gets
 * an address there, maybe after our validation looked). */
struct claims {
        const char *self, *bridge;
        const struct dc_prefix *want[2]; /* IPv4, IPv6; NULL when not claimed */
        char *holder;                    /* the first conflict's holder */
        bool nat;                        /* ... which is a NAT lease */
        struct dc_prefix clash;
};

static void check_claim(const char *name, char *fields, void *arg)
{
        struct claims *c = arg;
        if (c->holder || strcmp(name, c->self) == 0)
                return;
        struct line l;
        line_parse(fields, &l);
        if (l.bridge && strcmp(l.bridge, c->bridge) != 0)
                return;
        for (int i = 0; i < 2; i++) {
                if (!l.have[i] || !c->want[i])
                        continue;
                struct dc_prefix host = *c->want[i];
                host.len = i == 0 ? 32 : 128;
                if (l.bridge ? dc_prefix_same_addr(&l.p[i], c->want[i]) : dc_prefix_contains(&l.p[i], &host)) {
                        c->holder = dc_xstrdup(name);
                        c->nat = !l.bridge;
                        c->clash = l.p[i];
                        return;
                }
        }
}

struct rewrite {
        const char *drop;
        FILE *out;
        bool dropped;
};

static void keep_line(const char *name, char *fields, void *arg)
{
        struct rewrite *w = arg;
        if (strcmp(name, w->drop) != 0)
                fprintf(w->out, "%s %s\n", name, fields);
        else
                w->dropped = true;
}

/* Write the index without holder's line, plus `line` when given; remove it
 * when nothing is left. */
static int index_update(const char *root, const char *holder, const char *line, struct dc_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = index_read(root, &text, err);
        if (r < 0)
                return r;
        char *buf = NULL;
        size_t len = 0;
        struct rewrite w = { .drop = holder, .out = open_memstream(&buf, &len) };
        if (!w.out)
                return dc_err(err, ENOMEM, "out of memory");
        index_each(text, keep_line, &w);
        if (line)
                fputs(line, w.out);
        if (fclose(w.out) != 0) {
                free(buf);
                return dc_err(err, ENOMEM, "out of memory");
        }
        if (!line && !w.dropped) {
                free(buf); /* nothing of holder's in it (an undo run again): left as it is */
                return 0;
        }
        if (len == 0)
                r = dc_net_registry_remove(root, LEASE_DIR, LEASE_INDEX, err);
        else
                r = dc_net_registry_write(root, LEASE_DIR, LEASE_INDEX, buf, err);
        free(buf);
        return r;
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
                                _cleanup_free_ char *what = taken_describe(t, dc_kvs_get(a, "root"), i);
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
                /* who holds it: a bridge claim with a wide prefix can take
                 * a whole pool */
                size_t leases = 0;
                char names[200] = "";
                size_t used = 0;
                for (size_t i = 0; i < t->n; i++) {
                        if (!t->lease[i] || !dc_prefix_overlaps(&t->p[i], &pool))
                                continue;
                        if (leases++ < 4 && used < sizeof(names))
                                used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                                         used ? ", " : ": ", t->lease[i]);
                        else if (leases == 5 && used < sizeof(names))
                                used += (size_t)snprintf(names + used, sizeof(names) - used, ", ...");
                }
                return dc_err(err, EADDRNOTAVAIL,
                              "the NAT pool %s has no free /%lld left (%zu taken by containers%s; the rest by the "
                              "host's addresses and routes); set nat.ipv%s_pool in /etc/diyctl/host.conf",
                              pool_s, len, leases, names, f);
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

/* A bridge container's claim of its addresses (see the top of the file). */
static int claim_apply(const struct dc_step *s, const char *root, const char *holder, const char *bridge,
                       struct dc_error *err)
{
        const char *addr[2] = { dc_kvs_get(&s->args, "addr4"), dc_kvs_get(&s->args, "addr6") };
        const char *origin[2] = { dc_kvs_get(&s->args, "origin4"), dc_kvs_get(&s->args, "origin6") };
        struct dc_prefix want[2];
        struct claims c = { .self = holder, .bridge = bridge };
        for (int i = 0; i < 2; i++) {
                if (!addr[i])
                        continue;
                if (dc_prefix_parse(addr[i], i == 0 ? AF_INET : AF_INET6, &want[i]) < 0)
                        return dc_err(err, EINVAL, "lease: bad address %s", addr[i]);
                c.want[i] = &want[i];
        }
        if (!dc_ifname_valid(bridge, strlen(bridge)))
                return dc_err(err, EINVAL, "lease: bad bridge name %s", bridge);
        _cleanup_free_ char *index = NULL;
        int r = index_read(root, &index, err);
        if (r < 0)
                return r;
        index_each(index, check_claim, &c);
        if (c.holder) {
                int i = c.clash.family == AF_INET ? 0 : 1;
                _cleanup_free_ char *note = gone_note(root, c.holder);
                _cleanup_free_ char *sub = dc_prefix_str(&c.clash);
                if (c.nat)
                        r = dc_err(err, EADDRINUSE, "%s: %s is in %s, the NAT lease of container %s%s: choose another",
                                   origin[i] ? origin[i] : i == 0 ? "network.address" : "network.ipv6.address",
                                   addr[i], sub, c.holder, note);
                else
                        r = dc_err(err, EADDRINUSE,
                                   "%s: %s is already the address of container %s%s on bridge %s: give each "
                                   "container its own",
                                   origin[i] ? origin[i] : i == 0 ? "network.address" : "network.ipv6.address",
                                   addr[i], c.holder, note, bridge);
                free(c.holder);
                return r;
        }
        _cleanup_free_ char *line = dc_xasprintf("%s bridge=%s%s%s%s%s\n", holder, bridge, addr[0] ? " ipv4=" : "",
                                                 addr[0] ? addr[0] : "", addr[1] ? " ipv6=" : "",
                                                 addr[1] ? addr[1] : "");
        return index_update(root, holder, line, err);
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
        const char *bridge = dc_kvs_get(&s->args, "bridge");
        if (bridge) {
                r = claim_apply(s, root, holder, bridge, err);
                dc_host_unlock(lock, root);
                if (r < 0)
                        return r;
                return dc_step_done(ctx, s, seq, NULL, err);
        }
        struct taken t = { 0 };
        struct result r4 = { 0 }, r6 = { 0 };
        _cleanup_nl_ struct nl_sock *sk = NULL;
        struct dc_nl_used used = { 0 };
        _cleanup_free_ char *index = NULL;
        r = index_read(root, &index, err);
        if (r == 0) {
                struct others o = { .self = holder, .t = &t };
                index_each(index, add_lease, &o);
                r = dc_nl_open(0, &sk, err);
        }
        if (r == 0)
                r = dc_nl_host_used(sk, want4 && want6 ? AF_UNSPEC : want4 ? AF_INET : AF_INET6, &used, err);
        for (size_t i = 0; r == 0 && i < used.n; i++)
                taken_add(&t, &used.v[i].net, NULL, false, &used.v[i]);
        if (r == 0 && want4)
                r = choose(&s->args, 4, &t, &r4, err);
        if (r == 0 && want6)
                r = choose(&s->args, 6, &t, &r6, err);
        if (r == 0) {
                _cleanup_free_ char *s4 = want4 ? dc_prefix_str(&r4.subnet) : NULL;
                _cleanup_free_ char *s6 = want6 ? dc_prefix_str(&r6.subnet) : NULL;
                _cleanup_free_ char *line = dc_xasprintf("%s%s%s%s%s\n", holder, s4 ? " ipv4=" : "", s4 ? s4 : "",
                                                         s6 ? " ipv6=" : "", s6 ? s6 : "");
                r = index_update(root, holder, line, err);
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
        int r = index_update(root, holder, NULL, err);
        /* the lease file of an older diyctl (one file per container) */
        if (r == 0)
                r = dc_net_registry_remove(root, LEASE_DIR, holder, err);
        dc_host_unlock(lock, root);
        return r;
}

static void lease_describe(const struct dc_step *s, FILE *out)
{
        const char *sep = "";
        const char *bridge = dc_kvs_get(&s->args, "bridge");
        if (bridge) {
                fputs("claim ", out);
                for (int fam = 4; fam <= 6; fam += 2) {
                        char k[16];
                        snprintf(k, sizeof(k), "addr%d", fam);
                        const char *addr = dc_kvs_get(&s->args, k);
                        if (addr) {
                                fprintf(out, "%s%s", sep, addr);
                                sep = " and ";
                        }
                }
                fprintf(out, " on bridge %s for %s (host lock; refused when another container holds it; released "
                             "at stop)",
                        bridge, dc_kvs_get(&s->args, "holder"));
                return;
        }
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
