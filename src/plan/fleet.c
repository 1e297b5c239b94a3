/* What the containers of one fleet cannot both have on one host, though each
 * config is fine alone: `diyctl check a.conf b.conf ...` compares each file
 * with the ones before it, so a templated fleet fails in CI, not at its
 * second start on a host. Only what the configs say is compared: an address
 * or a port a NAT pool hands out at start cannot clash here. */
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "diyctl/net.h"
#include "diyctl/plan.h"
#include "diyctl/util.h"

/* "FILE:LINE" of KEY in C, or the file alone when the value is a default. */
static void where(const struct dc_config *c, const char *key, char *buf, size_t n)
{
        const struct dc_origin *o = dc_config_origin(c, key);
        if (o && o->file && o->line > 0)
                snprintf(buf, n, "%s:%d", o->file, o->line);
        else
                snprintf(buf, n, "%s", o && o->file ? o->file : c->file);
}

/* "KEY: WHAT OTHER_AT (container NAME): WHY", at KEY's place in C (or at O);
 * the other's name only when it is not C's too. */
static void conflict(struct dc_errs *all, const struct dc_config *c, const char *key, const struct dc_origin *o,
                     const struct dc_config *other, const char *other_at, const char *what, const char *why)
{
        struct dc_error one;
        bool same_name = dc_streq(c->name, other->name); /* said already */
        dc_err_at(&one, o ? o : dc_config_origin(c, key), key, "%s %s%s%s%s: %s", what, other_at,
                  same_name ? "" : " (container ", same_name ? "" : other->name, same_name ? "" : ")", why);
        dc_errs_add(all, &one);
}

/* A is B or below it, by their absolute, normalized paths. */
static bool same_or_below(const char *a, const char *b)
{
        size_t n = strlen(b);
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/' || (n == 1 && b[0] == '/'));
}

/* C's pinned network.address (or network.ipv6.address): false when none. */
static bool address_of(const struct dc_config *c, bool v6, struct dc_prefix *out)
{
        const char *a = v6 ? c->network.ipv6_address : c->network.address;
        return a && dc_prefix_parse(a, v6 ? AF_INET6 : AF_INET, out) == 0;
}

static void check_addresses(struct dc_errs *all, const struct dc_config *c, const struct dc_config *o)
{
        for (int v6 = 0; v6 < 2; v6++) {
                const char *key = v6 ? "network.ipv6.address" : "network.address";
                struct dc_prefix a, b;
                if (!address_of(c, v6, &a) || !address_of(o, v6, &b))
                        continue;
                char what[200], at[600];
                where(o, key, at, sizeof(at));
                if (c->network.mode == DC_NET_NAT && o->network.mode == DC_NET_NAT) {
                        /* each NAT container routes its own subnet to its own veth */
                        struct dc_prefix na = dc_prefix_network(&a), nb = dc_prefix_network(&b);
                        if (!dc_prefix_overlaps(&na, &nb))
                                continue;
                        _cleanup_free_ char *sa = dc_prefix_str(&na), *sb = dc_prefix_str(&nb);
                        snprintf(what, sizeof(what), "subnet %s overlaps %s of", sa, sb);
                        conflict(all, c, key, NULL, o, at, what,
                                 "each NAT container's subnet is routed to its own link; give each its own");
                } else if (c->network.mode == DC_NET_BRIDGE && o->network.mode == DC_NET_BRIDGE &&
                           dc_streq(c->network.bridge, o->network.bridge)) {
                        if (!dc_prefix_same_addr(&a, &b))
                                continue;
                        _cleanup_free_ char *sa = dc_prefix_addr_str(&a);
                        snprintf(what, sizeof(what), "%s on bridge %s is also the address in", sa, c->network.bridge);
                        conflict(all, c, key, NULL, o, at, what, "two hosts on one link need two addresses");
                }
        }
}

static void check_ports(struct dc_errs *all, const struct dc_config *c, const struct dc_config *o)
{
        if (c->network.mode != DC_NET_NAT || o->network.mode != DC_NET_NAT)
                return;
        for (size_t i = 0; i < c->network.n_ports; i++) {
                const struct dc_port *p = &c->network.ports[i];
                for (size_t j = 0; j < o->network.n_ports; j++) {
                        const struct dc_port *q = &o->network.ports[j];
                        if (p->host != q->host || p->proto != q->proto)
                                continue;
                        char key[64], what[96], at[600];
                        snprintf(key, sizeof(key), "network.ports[%zu].host", i);
                        snprintf(what, sizeof(what), "%u/%s is also forwarded by", p->host,
                                 p->proto == DC_PROTO_UDP ? "udp" : "tcp");
                        if (q->origin.line > 0)
                                snprintf(at, sizeof(at), "%s:%d", q->origin.file ? q->origin.file : o->file,
                                         q->origin.line);
                        else
                                snprintf(at, sizeof(at), "%s", q->origin.file ? q->origin.file : o->file);
                        conflict(all, c, key, &p->origin, o, at, what, "a host port goes to one container");
                        break;
                }
        }
}

int dc_fleet_check(const struct dc_config *const *others, size_t n, const struct dc_config *c, struct dc_error *err)
{
        struct dc_errs all = { 0 };
        for (size_t i = 0; i < n; i++) {
                const struct dc_config *o = others[i];
                char at[600], what[300];
                if (dc_streq(c->name, o->name)) {
                        where(o, "name", at, sizeof(at));
                        snprintf(what, sizeof(what), "\"%s\" is also the name in", c->name);
                        conflict(&all, c, "name", NULL, o, at, what,
                                 "each container needs its own (its state, cgroup and links are named after it)");
                }
                check_ports(&all, c, o);
                check_addresses(&all, c, o);
                const char *u = c->rootfs.writable_dir, *ou = o->rootfs.writable_dir;
                if (c->rootfs.writable == DC_WRITABLE_DIR && o->rootfs.writable == DC_WRITABLE_DIR &&
                    (same_or_below(u, ou) || same_or_below(ou, u))) {
                        where(o, "rootfs.writable", at, sizeof(at));
                        if (strcmp(u, ou) == 0)
                                snprintf(what, sizeof(what), "%s is also the upper layer of", u);
                        else
                                snprintf(what, sizeof(what), "%s is %s the upper layer %s of", u,
                                         same_or_below(u, ou) ? "below" : "above", ou);
                        conflict(&all, c, "rootfs.writable", NULL, o, at, what,
                                 "two overlays writing one upper layer corrupt each other's view of it");
                }
        }
        return dc_errs_end(&all, err);
}
