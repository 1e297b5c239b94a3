/* Route netlink through libnl-route-3: what `ip link/addr/route` would do,
 * in-process. See nl.h. */
#include "net/nl.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "diyctl/util.h"

/* libnl's own error numbers, back to errno (so callers can test for
 * EEXIST/ENODEV/ENOENT). */
static int nle_errno(int nle)
{
        switch (nle < 0 ? -nle : nle) {
        case NLE_EXIST: return EEXIST;
        case NLE_NODEV: return ENODEV;
        case NLE_OBJ_NOTFOUND: return ENOENT;
        case NLE_NOADDR: return EADDRNOTAVAIL;
        case NLE_PERM: return EPERM;
        case NLE_NOACCESS: return EACCES;
        case NLE_INVAL: return EINVAL;
        case NLE_BUSY: return EBUSY;
        case NLE_AGAIN: return EAGAIN;
        case NLE_RANGE: return ERANGE;
        case NLE_NOMEM: return ENOMEM;
        case NLE_OPNOTSUPP: return EOPNOTSUPP;
        case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
        case NLE_MSGSIZE: return EMSGSIZE;
        case NLE_INTR: return EINTR;
        default: return EIO;
        }
}

static int nl_fail(struct dc_error *err, int nle, const char *fmt, const char *a, const char *b)
{
        int e = nle_errno(nle);
        char what[512];
        snprintf(what, sizeof(what), "%s%s%s%s", fmt, a ? a : "", b ? " " : "", b ? b : "");
        return dc_err(err, e, "%s: %s", what, nl_geterror(nle));
}

int dc_nl_open(pid_t pid, struct nl_sock **out, struct dc_error *err)
{
        *out = NULL;
        _cleanup_close_ int self = -1;
        if (pid > 0) {
                self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
                if (self < 0)
                        return dc_err(err, errno, "/proc/self/ns/net: %s", strerror(errno));
                _cleanup_free_ char *path = dc_xasprintf("/proc/%d/ns/net", (int)pid);
                _cleanup_close_ int target = open(path, O_RDONLY | O_CLOEXEC);
                if (target < 0)
                        return dc_err(err, errno, "the container's network namespace (%s): %s", path,
                                      strerror(errno));
                if (setns(target, CLONE_NEWNET) < 0)
                        return dc_err(err, errno, "cannot enter the container's network namespace: %s",
                                      strerror(errno));
        }
        struct nl_sock *sk = nl_socket_alloc();
        int r = sk ? nl_connect(sk, NETLINK_ROUTE) : -NLE_NOMEM;
        /* The socket stays bound to the namespace it was made in. */
        if (pid > 0 && setns(self, CLONE_NEWNET) < 0)
                abort(); /* cannot get back to our own namespace: never go on in the wrong one */
        if (r < 0) {
                if (sk)
                        nl_socket_free(sk);
                return dc_err(err, nle_errno(r), "cannot open a route netlink socket: %s", nl_geterror(r));
        }
        *out = sk;
        return 0;
}

void dc_nl_close(struct nl_sock *sk)
{
        nl_close(sk);
        nl_socket_free(sk);
}

static void link_putp(struct rtnl_link **l)
{
        if (*l)
                rtnl_link_put(*l);
}
#define _cleanup_link_ __attribute__((cleanup(link_putp)))

int dc_nl_ifindex(struct nl_sock *sk, const char *name)
{
        _cleanup_link_ struct rtnl_link *l = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &l);
        if (r < 0)
                return -nle_errno(r) == -ENOENT ? -ENODEV : -nle_errno(r);
        return rtnl_link_get_ifindex(l);
}

int dc_nl_link_get(struct nl_sock *sk, const char *name, struct dc_nl_link *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_link_ struct rtnl_link *l = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &l);
        if (r < 0) {
                int e = nle_errno(r);
                if (e == ENOENT || e == ENODEV)
                        return dc_err(err, ENODEV, "there is no link %s", name);
                return nl_fail(err, r, "cannot look up link ", name, NULL);
        }
        out->ifindex = rtnl_link_get_ifindex(l);
        out->mtu = rtnl_link_get_mtu(l);
        const char *type = rtnl_link_get_type(l);
        out->is_bridge = type && strcmp(type, "bridge") == 0;
        const char *alias = rtnl_link_get_ifalias(l);
        if (alias)
                snprintf(out->alias, sizeof(out->alias), "%s", alias);
        return 0;
}

static int link_change(struct nl_sock *sk, const char *name, struct rtnl_link *chg, const char *what,
                       struct dc_error *err);

int dc_nl_veth_add(struct nl_sock *sk, const char *host, const char *peer, pid_t peer_pid, const char *alias,
                   unsigned mtu, struct dc_error *err)
{
        _cleanup_link_ struct rtnl_link *l = rtnl_link_veth_alloc();
        if (!l)
                return dc_err(err, ENOMEM, "out of memory");
        rtnl_link_set_name(l, host);
        if (mtu)
                rtnl_link_set_mtu(l, mtu);
        struct rtnl_link *p = rtnl_link_veth_get_peer(l);
        rtnl_link_set_name(p, peer);
        if (mtu)
                rtnl_link_set_mtu(p, mtu);
        rtnl_link_set_ns_pid(p, peer_pid);
        rtnl_link_put(p);
        int r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
        if (r < 0) {
                if (nle_errno(r) == EEXIST) {
                        /* whose it is, when it is the host end of another container's */
                        struct dc_nl_link have;
                        struct dc_error ignored;
                        bool ours = dc_nl_link_get(sk, host, &have, &ignored) == 0 &&
                                    strncmp(have.alias, "diyctl:", 7) == 0;
                        if (ours && alias && strcmp(have.alias, alias) == 0)
                                return dc_err(err, EEXIST, "cannot create veth %s: a veth of an earlier run of "
                                              "this container is still there (diyctl cleanup %s removes what a "
                                              "launcher that died left)",
                                              host, have.alias + 7);
                        if (ours)
                                return dc_err(err, EEXIST, "cannot create veth %s: the host end of container %s's "
                                              "veth has that name (a long name is cut and hashed to fit a link "
                                              "name: rename one of the two)",
                                              host, have.alias + 7);
                        return dc_err(err, EEXIST, "cannot create veth %s: a link of that name already exists "
                                      "(on the host, or %s in the container)", host, peer);
                }
                return nl_fail(err, r, "cannot create the veth pair ", host, peer);
        }
        if (alias && *alias) {
                /* Our mark on the host end: teardown deletes only a link carrying it. */
                _cleanup_link_ struct rtnl_link *chg = rtnl_link_alloc();
                rtnl_link_set_ifalias(chg, alias);
                return link_change(sk, host, chg, "set the alias of", err);
        }
        return 0;
}

int dc_nl_link_del(struct nl_sock *sk, const char *name, const char *alias, struct dc_error *err)
{
        _cleanup_link_ struct rtnl_link *l = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &l);
        if (r < 0) {
                int e = nle_errno(r);
                if (e == ENOENT || e == ENODEV)
                        return 0;
                return nl_fail(err, r, "cannot look up link ", name, NULL);
        }
        if (alias) {
                const char *have = rtnl_link_get_ifalias(l);
                if (!have || strcmp(have, alias) != 0)
                        return 0; /* someone else's link of the same name: ours is gone */
        }
        r = rtnl_link_delete(sk, l);
        if (r < 0) {
                int e = nle_errno(r);
                if (e == ENOENT || e == ENODEV)
                        return 0;
                return nl_fail(err, r, "cannot delete link ", name, NULL);
        }
        return 0;
}

static int link_change(struct nl_sock *sk, const char *name, struct rtnl_link *chg, const char *what,
                       struct dc_error *err)
{
        _cleanup_link_ struct rtnl_link *orig = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &orig);
        if (r < 0) {
                int e = nle_errno(r);
                if (e == ENOENT || e == ENODEV)
                        return dc_err(err, ENODEV, "cannot %s %s: there is no such link", what, name);
                return nl_fail(err, r, "cannot look up link ", name, NULL);
        }
        r = rtnl_link_change(sk, orig, chg, 0);
        if (r < 0) {
                char buf[128];
                snprintf(buf, sizeof(buf), "cannot %s ", what);
                return nl_fail(err, r, buf, name, NULL);
        }
        return 0;
}

int dc_nl_link_up(struct nl_sock *sk, const char *name, struct dc_error *err)
{
        _cleanup_link_ struct rtnl_link *chg = rtnl_link_alloc();
        rtnl_link_set_flags(chg, IFF_UP);
        return link_change(sk, name, chg, "bring up", err);
}

int dc_nl_link_set_master(struct nl_sock *sk, const char *name, const char *master, struct dc_error *err)
{
        struct dc_nl_link br;
        int r = dc_nl_link_get(sk, master, &br, err);
        if (r < 0)
                return r;
        if (!br.is_bridge)
                return dc_err(err, EINVAL, "%s is not a bridge", master);
        _cleanup_link_ struct rtnl_link *chg = rtnl_link_alloc();
        rtnl_link_set_master(chg, br.ifindex);
        return link_change(sk, name, chg, "attach to the bridge", err);
}

static struct nl_addr *to_nl_addr(const struct dc_prefix *p)
{
        struct nl_addr *a = nl_addr_build(p->family, p->addr, p->family == AF_INET ? 4 : 16);
        if (a)
                nl_addr_set_prefixlen(a, (int)p->len);
        return a;
}

static void addr_putp(struct rtnl_addr **a)
{
        if (*a)
                rtnl_addr_put(*a);
}

static void nladdr_putp(struct nl_addr **a)
{
        if (*a)
                nl_addr_put(*a);
}

static int build_addr(struct nl_sock *sk, const char *name, const struct dc_prefix *p, struct rtnl_addr **out,
                      struct dc_error *err)
{
        int idx = dc_nl_ifindex(sk, name);
        if (idx < 0)
                return dc_err(err, -idx, "there is no link %s", name);
        struct rtnl_addr *a = rtnl_addr_alloc();
        __attribute__((cleanup(nladdr_putp))) struct nl_addr *local = to_nl_addr(p);
        if (!a || !local) {
                if (a)
                        rtnl_addr_put(a);
                return dc_err(err, ENOMEM, "out of memory");
        }
        rtnl_addr_set_ifindex(a, idx);
        rtnl_addr_set_family(a, p->family);
        rtnl_addr_set_local(a, local);
        rtnl_addr_set_prefixlen(a, (int)p->len);
        *out = a;
        return 0;
}

int dc_nl_addr_add(struct nl_sock *sk, const char *name, const struct dc_prefix *p, struct dc_error *err)
{
        __attribute__((cleanup(addr_putp))) struct rtnl_addr *a = NULL;
        int r = build_addr(sk, name, p, &a, err);
        if (r < 0)
                return r;
        if (p->family == AF_INET6) {
                rtnl_addr_set_flags(a, IFA_F_NODAD);
        } else if (p->len < 31) {
                struct dc_prefix last = dc_prefix_last(p);
                last.len = 32;
                __attribute__((cleanup(nladdr_putp))) struct nl_addr *brd = to_nl_addr(&last);
                if (brd)
                        rtnl_addr_set_broadcast(a, brd);
        }
        r = rtnl_addr_add(sk, a, NLM_F_EXCL);
        if (r < 0) {
                _cleanup_free_ char *s = dc_prefix_str(p);
                if (nle_errno(r) == EEXIST)
                        return dc_err(err, EEXIST, "cannot add %s to %s: it is already there", s, name);
                char buf[160];
                snprintf(buf, sizeof(buf), "cannot add %s to ", s);
                return nl_fail(err, r, buf, name, NULL);
        }
        return 0;
}

int dc_nl_addr_del(struct nl_sock *sk, const char *name, const struct dc_prefix *p, struct dc_error *err)
{
        if (dc_nl_ifindex(sk, name) < 0)
                return 0;
        __attribute__((cleanup(addr_putp))) struct rtnl_addr *a = NULL;
        int r = build_addr(sk, name, p, &a, err);
        if (r < 0)
                return r == -ENODEV ? 0 : r;
        r = rtnl_addr_delete(sk, a, 0);
        if (r < 0) {
                int e = nle_errno(r);
                if (e == EADDRNOTAVAIL || e == ENOENT || e == ENODEV)
                        return 0;
                _cleanup_free_ char *s = dc_prefix_str(p);
                char buf[160];
                snprintf(buf, sizeof(buf), "cannot remove %s from ", s);
                return nl_fail(err, r, buf, name, NULL);
        }
        return 0;
}

int dc_nl_route_add(struct nl_sock *sk, const char *name, int family, const struct dc_prefix *dst,
                    const struct dc_prefix *gw, struct dc_error *err)
{
        int idx = dc_nl_ifindex(sk, name);
        if (idx < 0)
                return dc_err(err, -idx, "cannot add a route: there is no link %s", name);
        struct rtnl_route *rt = rtnl_route_alloc();
        if (!rt)
                return dc_err(err, ENOMEM, "out of memory");
        struct dc_prefix any = { .family = family, .len = 0 };
        __attribute__((cleanup(nladdr_putp))) struct nl_addr *d = to_nl_addr(dst ? dst : &any);
        __attribute__((cleanup(nladdr_putp))) struct nl_addr *g = NULL;
        rtnl_route_set_family(rt, (uint8_t)family);
        rtnl_route_set_table(rt, RT_TABLE_MAIN);
        rtnl_route_set_protocol(rt, RTPROT_STATIC);
        rtnl_route_set_type(rt, RTN_UNICAST);
        rtnl_route_set_scope(rt, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
        rtnl_route_set_dst(rt, d);
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
        rtnl_route_nh_set_ifindex(nh, idx);
        if (gw) {
                struct dc_prefix ga = *gw;
                ga.len = dc_prefix_bits(gw);
                g = to_nl_addr(&ga);
                rtnl_route_nh_set_gateway(nh, g);
        }
        rtnl_route_add_nexthop(rt, nh);
        int r = rtnl_route_add(sk, rt, NLM_F_EXCL);
        rtnl_route_put(rt);
        if (r < 0) {
                _cleanup_free_ char *ds = dst ? dc_prefix_str(dst) : dc_xstrdup("default");
                _cleanup_free_ char *gs = gw ? dc_prefix_addr_str(gw) : NULL;
                char buf[256];
                snprintf(buf, sizeof(buf), "cannot add the route %s%s%s dev ", ds, gs ? " via " : "", gs ? gs : "");
                return nl_fail(err, r, buf, name, NULL);
        }
        return 0;
}

/* --- what the host uses ----------------------------------------------- */

char *dc_nl_use_describe(const struct dc_nl_use *u)
{
        char dev[IF_NAMESIZE + 8] = "";
        if (u->ifindex > 0 && !if_indextoname((unsigned)u->ifindex, dev))
                snprintf(dev, sizeof(dev), "#%d", u->ifindex);
        _cleanup_free_ char *a = dc_prefix_str(&u->orig);
        if (u->route)
                return dc_xasprintf("the route %s%s%s", a, dev[0] ? " dev " : "", dev);
        return dc_xasprintf("the address %s on %s", a, dev[0] ? dev : "?");
}

/* The dumps are parsed message by message, as the kernel sends them: no
 * libnl cache objects, which cost more than the kernel's side of the dump
 * (a hundred NAT containers put some 300 addresses and 900 routes on a
 * host: 1 to 2 ms through libnl's caches, about 0.15 ms this way). */
struct dump_ctx {
        struct dc_nl_used *out;
        int family;
};

static void used_add_raw(struct dc_nl_used *u, int family, const void *addr, size_t alen, unsigned prefixlen,
                         bool route, int ifindex)
{
        size_t want = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
        if (!want || alen < want || prefixlen == 0 || prefixlen > want * 8)
                return;
        struct dc_nl_use e = { .orig = { .family = family, .len = prefixlen }, .route = route, .ifindex = ifindex };
        memcpy(e.orig.addr, addr, want);
        e.net = dc_prefix_network(&e.orig);
        if (route)
                e.orig = e.net;
        if (u->n == u->cap) {
                u->cap = u->cap ? 2 * u->cap : 64;
                u->v = dc_xrealloc(u->v, u->cap * sizeof(*u->v));
        }
        u->v[u->n++] = e;
}

/* The fixed header of a dump message of the given type and family (its
 * first byte, in ifaddrmsg and rtmsg alike) with its attributes in tb, or
 * NULL to skip the message. */
static void *dump_msg(struct nl_msg *msg, int type, size_t hdrlen, int family, struct nlattr **tb, int maxtype)
{
        struct nlmsghdr *h = nlmsg_hdr(msg);
        if (h->nlmsg_type != type || nlmsg_datalen(h) < (int)hdrlen)
                return NULL;
        unsigned char *fixed = nlmsg_data(h);
        if (family != AF_UNSPEC && fixed[0] != family)
                return NULL;
        if (nlmsg_parse(h, (int)hdrlen, tb, maxtype, NULL) < 0)
                return NULL;
        return fixed;
}

static int on_addr_msg(struct nl_msg *msg, void *arg)
{
        struct dump_ctx *d = arg;
        struct nlattr *tb[IFA_MAX + 1];
        struct ifaddrmsg *ifa = dump_msg(msg, RTM_NEWADDR, sizeof(*ifa), d->family, tb, IFA_MAX);
        if (!ifa)
                return NL_OK;
        /* IPv4: IFA_LOCAL is the address (IFA_ADDRESS the peer of a
         * point-to-point link); IPv6 has only IFA_ADDRESS. */
        struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
        if (a)
                used_add_raw(d->out, ifa->ifa_family, nla_data(a), (size_t)nla_len(a), ifa->ifa_prefixlen, false,
                             (int)ifa->ifa_index);
        return NL_OK;
}

static int on_route_msg(struct nl_msg *msg, void *arg)
{
        struct dump_ctx *d = arg;
        struct nlattr *tb[RTA_MAX + 1];
        struct rtmsg *rt = dump_msg(msg, RTM_NEWROUTE, sizeof(*rt), d->family, tb, RTA_MAX);
        /* default routes overlap everything; they do not count, nor do the
         * local table and its kinds of route */
        if (!rt || rt->rtm_dst_len == 0 || rt->rtm_type == RTN_LOCAL || rt->rtm_type == RTN_BROADCAST ||
            rt->rtm_type == RTN_MULTICAST || rt->rtm_type == RTN_ANYCAST)
                return NL_OK;
        uint32_t table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rt->rtm_table;
        if (table == RT_TABLE_LOCAL || !tb[RTA_DST])
                return NL_OK;
        int ifindex = tb[RTA_OIF] ? (int)nla_get_u32(tb[RTA_OIF]) : 0;
        if (!ifindex && tb[RTA_MULTIPATH] && nla_len(tb[RTA_MULTIPATH]) >= (int)sizeof(struct rtnexthop)) {
                const struct rtnexthop *nh = nla_data(tb[RTA_MULTIPATH]);
                ifindex = nh->rtnh_ifindex;
        }
        used_add_raw(d->out, rt->rtm_family, nla_data(tb[RTA_DST]), (size_t)nla_len(tb[RTA_DST]), rt->rtm_dst_len,
                     true, ifindex);
        return NL_OK;
}

static int dump(struct nl_sock *sk, int type, const void *req, size_t len, nl_recvmsg_msg_cb_t fn,
                struct dump_ctx *d)
{
        struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
        if (!cb)
                return -NLE_NOMEM;
        nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, fn, d);
        int r = nl_send_simple(sk, type, NLM_F_DUMP, (void *)req, len);
        if (r >= 0)
                r = nl_recvmsgs(sk, cb);
        nl_cb_put(cb);
        return r;
}

int dc_nl_host_used(struct nl_sock *sk, int family, struct dc_nl_used *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        struct dump_ctx d = { .out = out, .family = family };
        struct ifaddrmsg ifa = { .ifa_family = (unsigned char)family };
        int r = dump(sk, RTM_GETADDR, &ifa, sizeof(ifa), on_addr_msg, &d);
        if (r < 0) {
                dc_nl_used_free(out);
                return dc_err(err, nle_errno(r), "cannot list the host's addresses: %s", nl_geterror(r));
        }
        struct rtmsg rt = { .rtm_family = (unsigned char)family };
        r = dump(sk, RTM_GETROUTE, &rt, sizeof(rt), on_route_msg, &d);
        if (r < 0) {
                dc_nl_used_free(out);
                return dc_err(err, nle_errno(r), "cannot list the host's routes: %s", nl_geterror(r));
        }
        return 0;
}

void dc_nl_used_free(struct dc_nl_used *u)
{
        free(u->v);
        memset(u, 0, sizeof(*u));
}
