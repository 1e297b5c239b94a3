/* Networking in the plan: validation of network.* (what one key cannot
 * check alone), and the steps of each mode.
 *
 *   none    its own namespace, lo up (the loopback-up step of the launcher;
 *           rootless, loopback-inside of the first process)
 *   host    no namespace; /etc/resolv.conf a copy of the host's
 *   nat     lease, ports, veth, addresses (host end + inside), routes,
 *           sysctls (ip_forward, IPv6 forwarding), firewall, resolv.conf
 *   bridge  a claim of the configured addresses (the lease step), veth
 *           whose host end joins an existing bridge, addresses and routes
 *           inside as configured, resolv.conf
 *
 * Values known only at run time (the lease) appear as '@' references that
 * the steps resolve from ctx->vars; `diyctl plan` shows them by meaning. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "diyctl/host.h"
#include "diyctl/net.h"
#include "diyctl/util.h"
#include "internal.h"
#include "net/nl.h"

static const char *mode_name(enum dc_netmode m)
{
        switch (m) {
        case DC_NET_NONE: return "none";
        case DC_NET_HOST: return "host";
        case DC_NET_NAT: return "nat";
        case DC_NET_BRIDGE: return "bridge";
        }
        return "?";
}

enum dc_netmode dc_plan_netmode(const struct dc_config *c)
{
        if (!dc_config_present(c, "network.mode") && !(dc_plan_namespaces(c) & DC_NS_NET))
                return DC_NET_HOST;
        return c->network.mode;
}

static const struct dc_origin *org(const struct dc_config *c, const char *key)
{
        return dc_config_origin(c, key);
}

/* An address a container may hold: not loopback, multicast, unspecified,
 * broadcast, or (IPv6) link-local. */
static const char *unusable(const struct dc_prefix *p)
{
        if (p->family == AF_INET) {
                if (p->addr[0] == 127)
                        return "a loopback address";
                if (p->addr[0] == 0)
                        return "in 0.0.0.0/8";
                if (p->addr[0] >= 224)
                        return "a multicast or reserved address";
                return NULL;
        }
        static const unsigned char zero[16];
        if (memcmp(p->addr, zero, 15) == 0 && (p->addr[15] == 0 || p->addr[15] == 1))
                return "the unspecified or loopback address";
        if (p->addr[0] == 0xff)
                return "a multicast address";
        if (p->addr[0] == 0xfe && (p->addr[1] & 0xc0) == 0x80)
                return "a link-local address";
        return NULL;
}

/* Address with prefix (and optional gateway) that a container can use. */
static int check_address(const struct dc_config *c, const char *key, const char *gkey, const char *addr_s,
                         const char *gw_s, int family, bool gw_may_be_link_local, struct dc_error *err)
{
        struct dc_prefix p;
        if (dc_prefix_parse(addr_s, family, &p) < 0 || !strchr(addr_s, '/'))
                return dc_err_at(err, org(c, key), key, "%s is not an address with a prefix length", addr_s);
        unsigned bits = dc_prefix_bits(&p);
        const char *why = unusable(&p);
        if (why)
                return dc_err_at(err, org(c, key), key, "%s is %s", addr_s, why);
        if (p.len == 0 || p.len > bits - 1)
                return dc_err_at(err, org(c, key), key,
                                 "%s: the prefix must leave room for a gateway (at most /%u)", addr_s, bits - 1);
        if (family == AF_INET && p.len <= 30) {
                struct dc_prefix last = dc_prefix_last(&p);
                if (dc_prefix_is_network(&p))
                        return dc_err_at(err, org(c, key), key, "%s is the network address of its subnet", addr_s);
                if (dc_prefix_same_addr(&last, &p))
                        return dc_err_at(err, org(c, key), key, "%s is the broadcast address of its subnet", addr_s);
        }
        if (!gw_s)
                return 0;
        struct dc_prefix g;
        if (dc_prefix_parse(gw_s, family, &g) < 0)
                return dc_err_at(err, org(c, gkey), gkey, "%s is not an IPv%d address", gw_s, family == AF_INET ? 4 : 6);
        bool link_local = family == AF_INET6 && g.addr[0] == 0xfe && (g.addr[1] & 0xc0) == 0x80;
        if (dc_prefix_same_addr(&g, &p))
                return dc_err_at(err, org(c, gkey), gkey, "%s is the container's own address", gw_s);
        if (!(gw_may_be_link_local && link_local)) {
                g.len = p.len;
                struct dc_prefix net = dc_prefix_network(&p);
                _cleanup_free_ char *ns = dc_prefix_str(&net);
                if (!dc_prefix_contains(&net, &g))
                        return dc_err_at(err, org(c, gkey), gkey, "%s is outside the container's subnet %s (%s)", gw_s,
                                         ns, addr_s);
                struct dc_prefix last = dc_prefix_last(&p);
                if (family == AF_INET && p.len <= 30 &&
                    (dc_prefix_is_network(&g) || dc_prefix_same_addr(&g, &last)))
                        return dc_err_at(err, org(c, gkey), gkey, "%s is the network or broadcast address of %s",
                                         gw_s, ns);
        }
        return 0;
}

/* A pinned NAT subnet must not swallow the whole pool. */
static int check_not_pool_cover(const struct dc_config *c, const char *key, const char *addr_s, const char *pool_s,
                                struct dc_error *err)
{
        struct dc_prefix a, pool;
        if (dc_prefix_parse(addr_s, 0, &a) < 0 || dc_prefix_parse(pool_s, a.family, &pool) < 0)
                return 0;
        if (a.len < pool.len && dc_prefix_contains(&a, &pool))
                return dc_err_at(err, org(c, key), key, "%s covers the whole NAT pool %s (nat.ipv%d_pool in %s)",
                                 addr_s, pool_s, a.family == AF_INET ? 4 : 6, DC_HOST_CONF_PATH);
        return 0;
}

static int check_bridge(const struct dc_config *c, struct dc_error *err)
{
        const char *key = "network.bridge";
        _cleanup_nl_ struct nl_sock *sk = NULL;
        struct dc_error e = { 0 };
        if (dc_nl_open(0, &sk, &e) < 0)
                return dc_err_at(err, org(c, key), key, "cannot check the bridge %s: %s", c->network.bridge, e.msg);
        struct dc_nl_link l;
        int r = dc_nl_link_get(sk, c->network.bridge, &l, &e);
        if (r == -ENODEV)
                return dc_err_at(err, org(c, key), key, "there is no bridge %s on this host (create it first, e.g. "
                                 "with systemd-networkd or ip link add %s type bridge)",
                                 c->network.bridge, c->network.bridge);
        if (r < 0)
                return dc_err_at(err, org(c, key), key, "%s", e.msg);
        if (!l.is_bridge)
                return dc_err_at(err, org(c, key), key, "%s is not a bridge", c->network.bridge);
        /* The container's address on the bridge's network must not be one
         * the host has already (the bridge's own, most likely). */
        static const struct {
                const char *key;
                int family;
        } mine[] = { { "network.address", AF_INET }, { "network.ipv6.address", AF_INET6 } };
        for (size_t i = 0; i < DC_ARRAY_SIZE(mine); i++) {
                const char *a = mine[i].family == AF_INET ? c->network.address : c->network.ipv6_address;
                struct dc_prefix want;
                if (!a || dc_prefix_parse(a, mine[i].family, &want) < 0)
                        continue;
                struct dc_nl_used used = { 0 };
                if (dc_nl_host_used(sk, mine[i].family, &used, &e) < 0)
                        return dc_err_at(err, org(c, mine[i].key), mine[i].key, "cannot list this host's addresses: %s",
                                         e.msg);
                for (size_t k = 0; k < used.n; k++) {
                        const struct dc_nl_use *u = &used.v[k];
                        if (u->route || u->orig.family != want.family ||
                            memcmp(u->orig.addr, want.addr, want.family == AF_INET ? 4 : 16) != 0)
                                continue;
                        _cleanup_free_ char *what = dc_nl_use_describe(u);
                        dc_nl_used_free(&used);
                        return dc_err_at(err, org(c, mine[i].key), mine[i].key,
                                         "%s is already an address of this host (%s): give the container another",
                                         a, what);
                }
                dc_nl_used_free(&used);
        }
        return 0;
}

int dc_plan_validate_net(const struct dc_config *c, const struct dc_plan_opts *opts, enum dc_netmode mode,
                         struct dc_error *err)
{
        const char *mkey = "network.mode";
        if (!(dc_plan_namespaces(c) & DC_NS_NET))
                return dc_err_at(err, org(c, mkey), mkey, "\"%s\" needs \"net\" in namespaces", mode_name(mode));
        if (strcmp(c->network.interface, "lo") == 0)
                return dc_err_at(err, org(c, "network.interface"), "network.interface",
                                 "\"lo\" is the container's loopback interface; choose another name");
        if (strcmp(c->network.interface, "all") == 0 || strcmp(c->network.interface, "default") == 0)
                return dc_err_at(err, org(c, "network.interface"), "network.interface",
                                 "\"%s\" is not a name a link can have (the kernel keeps it for net.ipv4.conf.%s); "
                                 "choose another name", c->network.interface, c->network.interface);
        const struct dc_host_conf *h = opts->host;
        _cleanup_host_conf_ struct dc_host_conf *defaults = h ? NULL : dc_host_conf_new();
        if (!h)
                h = defaults;
        int r;
        if (mode == DC_NET_NAT) {
                if (dc_config_present(c, "network.bridge"))
                        return dc_err_at(err, org(c, "network.bridge"), "network.bridge",
                                         "only used with network.mode \"bridge\"");
                if (c->network.address) {
                        r = check_address(c, "network.address", "network.gateway", c->network.address,
                                          c->network.gateway, AF_INET, false, err);
                        if (r < 0)
                                return r;
                        r = check_not_pool_cover(c, "network.address", c->network.address, h->nat_pool4, err);
                        if (r < 0)
                                return r;
                } else if (c->network.gateway) {
                        return dc_err_at(err, org(c, "network.gateway"), "network.gateway",
                                         "in nat mode the gateway is the host end of the leased subnet; set it only "
                                         "together with network.address");
                }
                if (c->network.ipv6_address) {
                        r = check_address(c, "network.ipv6.address", "network.ipv6.gateway", c->network.ipv6_address,
                                          c->network.ipv6_gateway, AF_INET6, false, err);
                        if (r < 0)
                                return r;
                        r = check_not_pool_cover(c, "network.ipv6.address", c->network.ipv6_address, h->nat_pool6, err);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        /* bridge */
        if (!c->network.bridge)
                return dc_err_at(err, org(c, mkey), mkey,
                                 "\"bridge\" needs network.bridge, the name of an existing bridge to join");
        if (c->network.n_ports)
                return dc_err_at(err, org(c, "network.ports"), "network.ports",
                                 "port forwards need network.mode \"nat\"; in bridge mode the container has its own "
                                 "address on the bridge's network");
        if (c->network.address) {
                r = check_address(c, "network.address", "network.gateway", c->network.address, c->network.gateway,
                                  AF_INET, false, err);
                if (r < 0)
                        return r;
        } else if (c->network.gateway) {
                return dc_err_at(err, org(c, "network.gateway"), "network.gateway",
                                 "a gateway needs network.address (the container's address on the bridge)");
        }
        if (c->network.ipv6 && !c->network.ipv6_address)
                return dc_err_at(err, org(c, "network.ipv6"), "network.ipv6",
                                 "true (an address from the NAT pool) is for network.mode \"nat\"; on a bridge give "
                                 "the address: network.ipv6 = { address = \"...\"; gateway = \"...\"; }");
        if (c->network.ipv6_address) {
                r = check_address(c, "network.ipv6.address", "network.ipv6.gateway", c->network.ipv6_address,
                                  c->network.ipv6_gateway, AF_INET6, true, err);
                if (r < 0)
                        return r;
        }
        if (!opts->skip_fs_checks)
                return check_bridge(c, err);
        return 0;
}

/* --- steps ---------------------------------------------------------------- */

static char *state_root_of(const struct dc_plan *p)
{
        char *root = dc_xstrdup(p->state_dir);
        char *slash = strrchr(root, '/');
        if (slash && slash != root)
                *slash = 0;
        return root;
}

static void add_addr(struct dc_plan *p, const char *where, const char *dev, const char *address)
{
        struct dc_step *s = dc_plan_add_step(p, "addr");
        dc_kvs_add(&s->args, "where", where);
        dc_kvs_add(&s->args, "dev", dev);
        dc_kvs_add(&s->args, "address", address);
}

static void add_up(struct dc_plan *p, const char *where, const char *dev)
{
        struct dc_step *s = dc_plan_add_step(p, "link-up");
        dc_kvs_add(&s->args, "where", where);
        dc_kvs_add(&s->args, "dev", dev);
}

static void add_route(struct dc_plan *p, const char *dev, const char *family, const char *via)
{
        struct dc_step *s = dc_plan_add_step(p, "route");
        dc_kvs_add(&s->args, "where", "container");
        dc_kvs_add(&s->args, "dev", dev);
        dc_kvs_add(&s->args, "family", family);
        dc_kvs_add(&s->args, "via", via);
}

static void add_sysctl(struct dc_plan *p, const char *root, const char *holder, const char *key)
{
        struct dc_step *s = dc_plan_add_step(p, "sysctl");
        dc_kvs_add(&s->args, "key", key);
        dc_kvs_add(&s->args, "value", "1");
        dc_kvs_add(&s->args, "root", root);
        dc_kvs_add(&s->args, "holder", holder);
}

/* The run-time values of one family: '@' references for a lease from the
 * pool, literal values for a pinned address. */
struct fam_vals {
        char *subnet, *address, *ip, *gateway, *host;
};

static void fam_free(struct fam_vals *v)
{
        free(v->subnet);
        free(v->address);
        free(v->ip);
        free(v->gateway);
        free(v->host);
}

static void fam_refs(struct fam_vals *v, const char *fam)
{
        v->subnet = dc_xasprintf("@net.%s.subnet", fam);
        v->address = dc_xasprintf("@net.%s.address", fam);
        v->ip = dc_xasprintf("@net.%s.ip", fam);
        v->gateway = dc_xasprintf("@net.%s.gateway", fam);
        v->host = dc_xasprintf("@net.%s.host", fam);
}

static void fam_pinned(struct fam_vals *v, const char *addr_s, const char *gw_s, int family)
{
        struct dc_prefix a, g;
        dc_prefix_parse(addr_s, family, &a);
        if (gw_s) {
                dc_prefix_parse(gw_s, family, &g);
                g.len = a.len;
        } else {
                g = dc_subnet_default_gateway(&a);
        }
        struct dc_prefix net = dc_prefix_network(&a);
        v->subnet = dc_prefix_str(&net);
        v->address = dc_prefix_str(&a);
        v->ip = dc_prefix_addr_str(&a);
        v->gateway = dc_prefix_addr_str(&g);
        v->host = dc_prefix_str(&g);
}

static char *origin_of(const struct dc_config *c, const struct dc_origin *o, const char *key)
{
        (void)c;
        if (o->line > 0)
                return dc_xasprintf("%s:%d: %s", o->file, o->line, key);
        return dc_xasprintf("%s: %s", o->file, key);
}

static void plan_nat(struct dc_plan *p, const struct dc_config *c, const struct dc_host_conf *h, const char *root,
                     const char *hostif, bool look)
{
        const char *ifc = c->network.interface;
        bool v6 = c->network.ipv6;
        struct fam_vals f4 = { 0 }, f6 = { 0 };

        struct dc_step *s = dc_plan_add_step(p, "lease");
        dc_kvs_add(&s->args, "root", root);
        dc_kvs_add(&s->args, "holder", c->name);
        if (c->network.address) {
                dc_kvs_add(&s->args, "addr4", c->network.address);
                if (c->network.gateway)
                        dc_kvs_add(&s->args, "gw4", c->network.gateway);
                _cleanup_free_ char *o = origin_of(c, org(c, "network.address"), "network.address");
                dc_kvs_add(&s->args, "origin4", o);
                fam_pinned(&f4, c->network.address, c->network.gateway, AF_INET);
        } else {
                dc_kvs_add(&s->args, "pool4", h->nat_pool4);
                dc_kvs_addf(&s->args, "len4", "%d", DC_NAT_SUBNET4_LEN);
                fam_refs(&f4, "ipv4");
        }
        if (v6 && c->network.ipv6_address) {
                dc_kvs_add(&s->args, "addr6", c->network.ipv6_address);
                if (c->network.ipv6_gateway)
                        dc_kvs_add(&s->args, "gw6", c->network.ipv6_gateway);
                _cleanup_free_ char *o = origin_of(c, org(c, "network.ipv6.address"), "network.ipv6.address");
                dc_kvs_add(&s->args, "origin6", o);
                fam_pinned(&f6, c->network.ipv6_address, c->network.ipv6_gateway, AF_INET6);
        } else if (v6) {
                dc_kvs_add(&s->args, "pool6", h->nat_pool6);
                dc_kvs_addf(&s->args, "len6", "%d", DC_NAT_SUBNET6_LEN);
                fam_refs(&f6, "ipv6");
        }

        if (c->network.n_ports) {
                s = dc_plan_add_step(p, "ports");
                dc_kvs_add(&s->args, "root", root);
                dc_kvs_add(&s->args, "holder", c->name);
                for (size_t i = 0; i < c->network.n_ports; i++) {
                        const struct dc_port *pt = &c->network.ports[i];
                        dc_kvs_addf(&s->args, "port", "%s:%u:%u", pt->proto == DC_PROTO_UDP ? "udp" : "tcp", pt->host,
                                    pt->container);
                }
                for (size_t i = 0; i < c->network.n_ports; i++) {
                        char key[64];
                        snprintf(key, sizeof(key), "network.ports[%zu]", i);
                        _cleanup_free_ char *o = origin_of(c, &c->network.ports[i].origin, key);
                        dc_kvs_add(&s->args, "origin", o);
                }
                /* what check and plan can tell now: a port another
                 * container forwards (the registry the ports step keeps),
                 * which the start will refuse (its ports step looks itself) */
                for (size_t i = 0; look && i < c->network.n_ports; i++) {
                        const struct dc_port *pt = &c->network.ports[i];
                        const char *proto = pt->proto == DC_PROTO_UDP ? "udp" : "tcp";
                        _cleanup_free_ char *reg = dc_xasprintf("%s/.ports/%s-%u", root, proto, pt->host);
                        _cleanup_free_ char *text = NULL;
                        if (dc_read_file(reg, 4096, &text) < 0 || !dc_startswith(text, "holder="))
                                continue;
                        text[7 + strcspn(text + 7, "\n")] = 0;
                        if (strcmp(text + 7, c->name) != 0 && dc_name_valid(text + 7))
                                dc_kvs_addf(&s->args, "taken", "%u/%s %s", pt->host, proto, text + 7);
                }
        }

        s = dc_plan_add_step(p, "veth");
        dc_kvs_add(&s->args, "name", hostif);
        dc_kvs_add(&s->args, "peer", ifc);
        dc_kvs_add(&s->args, "holder", c->name);
        if (c->network.n_ports)
                dc_kvs_add(&s->args, "route_localnet", "1");
        if (!v6)
                dc_kvs_add(&s->args, "disable_ipv6", "1");
        add_addr(p, "host", hostif, f4.host);
        if (v6)
                add_addr(p, "host", hostif, f6.host);
        add_up(p, "host", hostif);
        add_addr(p, "container", ifc, f4.address);
        if (v6)
                add_addr(p, "container", ifc, f6.address);
        add_up(p, "container", ifc);
        add_route(p, ifc, "4", f4.gateway);
        if (v6)
                add_route(p, ifc, "6", f6.gateway);

        add_sysctl(p, root, c->name, "net.ipv4.ip_forward");
        if (v6)
                add_sysctl(p, root, c->name, "net.ipv6.conf.all.forwarding");

        const char *backend = dc_firewall_name(h->firewall);
        if (h->firewall == DC_FW_NFTABLES) {
                s = dc_plan_add_step(p, "nft-table");
                dc_kvs_add(&s->args, "root", root);
                dc_kvs_add(&s->args, "holder", c->name);
        }
        s = dc_plan_add_step(p, "firewall");
        dc_kvs_add(&s->args, "backend", backend);
        dc_kvs_add(&s->args, "holder", c->name);
        if (h->firewall == DC_FW_NFTABLES)
                dc_kvs_add(&s->args, "root", root);
        _cleanup_free_ char *tag = dc_xasprintf("diyctl:%s", c->name);
        dc_kvs_add(&s->args, "tag", tag);
        dc_kvs_add(&s->args, "dev", hostif);
        dc_kvs_add(&s->args, "subnet4", f4.subnet);
        dc_kvs_add(&s->args, "addr4", f4.ip);
        if (v6) {
                dc_kvs_add(&s->args, "subnet6", f6.subnet);
                dc_kvs_add(&s->args, "addr6", f6.ip);
        }
        for (size_t i = 0; i < c->network.n_ports; i++) {
                const struct dc_port *pt = &c->network.ports[i];
                dc_kvs_addf(&s->args, "port", "%s:%u:%u", pt->proto == DC_PROTO_UDP ? "udp" : "tcp", pt->host,
                            pt->container);
        }
        fam_free(&f4);
        fam_free(&f6);
}

static void plan_bridge(struct dc_plan *p, const struct dc_config *c, const char *root, const char *hostif)
{
        const char *ifc = c->network.interface;
        struct dc_step *s;
        if (c->network.address || c->network.ipv6_address) {
                /* no two containers with one address on a bridge */
                s = dc_plan_add_step(p, "lease");
                dc_kvs_add(&s->args, "root", root);
                dc_kvs_add(&s->args, "holder", c->name);
                dc_kvs_add(&s->args, "bridge", c->network.bridge);
                static const struct {
                        const char *key, *arg, *origin;
                } fam[] = { { "network.address", "addr4", "origin4" },
                            { "network.ipv6.address", "addr6", "origin6" } };
                for (size_t i = 0; i < DC_ARRAY_SIZE(fam); i++) {
                        const char *a = i == 0 ? c->network.address : c->network.ipv6_address;
                        if (!a)
                                continue;
                        dc_kvs_add(&s->args, fam[i].arg, a);
                        _cleanup_free_ char *o = origin_of(c, org(c, fam[i].key), fam[i].key);
                        dc_kvs_add(&s->args, fam[i].origin, o);
                }
        }
        s = dc_plan_add_step(p, "veth");
        dc_kvs_add(&s->args, "name", hostif);
        dc_kvs_add(&s->args, "peer", ifc);
        dc_kvs_add(&s->args, "holder", c->name);
        dc_kvs_add(&s->args, "mtu_of", c->network.bridge);
        s = dc_plan_add_step(p, "bridge-port");
        dc_kvs_add(&s->args, "dev", hostif);
        dc_kvs_add(&s->args, "bridge", c->network.bridge);
        add_up(p, "host", hostif);
        if (c->network.address)
                add_addr(p, "container", ifc, c->network.address);
        if (c->network.ipv6_address)
                add_addr(p, "container", ifc, c->network.ipv6_address);
        add_up(p, "container", ifc);
        if (c->network.gateway)
                add_route(p, ifc, "4", c->network.gateway);
        if (c->network.ipv6_gateway)
                add_route(p, ifc, "6", c->network.ipv6_gateway);
}

/* Does the container get a resolv.conf of ours, and which? */
const char *dc_plan_resolv_mode(const struct dc_config *c)
{
        switch (dc_plan_netmode(c)) {
        case DC_NET_NAT:
        case DC_NET_BRIDGE:
                return c->network.dns_host ? "host" : "list";
        case DC_NET_NONE:
                return c->network.dns_host ? NULL : "list"; /* nothing to reach, unless servers are given */
        case DC_NET_HOST:
                return "copy";
        }
        return NULL;
}

static char *resolv_path(const struct dc_plan *p)
{
        return dc_xasprintf("%s/resolv.conf", p->state_dir);
}

int dc_plan_net(struct dc_plan *p, const struct dc_config *c, const struct dc_plan_opts *opts, struct dc_error *err)
{
        (void)err;
        enum dc_netmode mode = dc_plan_netmode(c);
        _cleanup_free_ char *root = state_root_of(p);
        _cleanup_free_ char *hostif = dc_net_host_ifname(c->name);
        _cleanup_host_conf_ struct dc_host_conf *defaults = opts->host ? NULL : dc_host_conf_new();
        const struct dc_host_conf *h = opts->host ? opts->host : defaults;
        if (mode == DC_NET_NAT)
                plan_nat(p, c, h, root, hostif, opts->check_contents);
        else if (mode == DC_NET_BRIDGE)
                plan_bridge(p, c, root, hostif);
        return 0;
}

/* Before the spawn: the file needs nothing of the other host steps, so the
 * first process can bind it without waiting for them (veth, addresses,
 * routes, firewall rules: most of a NAT start). */
void dc_plan_net_resolv(struct dc_plan *p, const struct dc_config *c)
{
        const char *rm = dc_plan_resolv_mode(c);
        if (!rm)
                return;
        enum dc_netmode mode = dc_plan_netmode(c);
        struct dc_step *s = dc_plan_add_step(p, "resolv");
        _cleanup_free_ char *path = resolv_path(p);
        dc_kvs_add(&s->args, "path", path);
        dc_kvs_add(&s->args, "mode", rm);
        for (size_t i = 0; !c->network.dns_host && i < c->network.dns.n; i++)
                dc_kvs_add(&s->args, "server", c->network.dns.v[i]);
        bool v6 = (mode == DC_NET_NAT || mode == DC_NET_BRIDGE) && c->network.ipv6;
        dc_kvs_add(&s->args, "ipv6", v6 ? "1" : "0");
}

void dc_plan_net_child(struct dc_plan *p, const struct dc_config *c)
{
        if (!dc_plan_resolv_mode(c))
                return;
        struct dc_step *s = dc_plan_add_step(p, "bind");
        _cleanup_free_ char *path = resolv_path(p);
        dc_kvs_add(&s->args, "source", path);
        dc_kvs_add(&s->args, "target", "/etc/resolv.conf");
        dc_kvs_add(&s->args, "readonly", "1");
        /* A rootfs's resolv.conf that links into /run or /tmp (systemd-
         * resolved's stub-resolv.conf): the file is made there, in the
         * container's own empty tmpfs, and bound; the rootfs is not touched. */
        dc_kvs_add(&s->args, "make-in", "own-tmpfs");
        /* what asked for it, for the first process's errors */
        const char *key = dc_config_present(c, "network.dns") || !dc_config_present(c, "network.mode") ? "network.dns"
                                                                                                     : "network.mode";
        _cleanup_free_ char *o = origin_of(c, org(c, key), key);
        dc_kvs_add(&s->args, "origin", o);
}
