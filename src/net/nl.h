/* Links, addresses and routes over route netlink (libnl-route-3), in the
 * host's network namespace or in a container's (a socket opened inside it
 * with setns). No `ip` commands. Every function returns 0 or -errno and fills
 * err; "already there" and "already gone" are reported as -EEXIST and
 * -ENOENT/-ENODEV so callers can decide what is idempotent. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "diyctl/error.h"
#include "diyctl/net.h"

struct nl_sock;

/* A route netlink socket in the network namespace of pid (0: our own). */
int dc_nl_open(pid_t pid, struct nl_sock **out, struct dc_error *err);
void dc_nl_close(struct nl_sock *sk);
static inline void dc_nl_closep(struct nl_sock **sk)
{
        if (*sk)
                dc_nl_close(*sk);
}
#define _cleanup_nl_ __attribute__((cleanup(dc_nl_closep)))

/* ifindex of a link, or -ENODEV. */
int dc_nl_ifindex(struct nl_sock *sk, const char *name);

struct dc_nl_link {
        int ifindex;
        unsigned mtu;
        bool is_bridge;
        char alias[256];   /* IFLA_IFALIAS, "" when none */
};
int dc_nl_link_get(struct nl_sock *sk, const char *name, struct dc_nl_link *out, struct dc_error *err);

/* A veth pair: `host` here, `peer` created directly in the network namespace
 * of peer_pid. alias is set on the host end (our mark of ownership); mtu 0
 * keeps the default. */
int dc_nl_veth_add(struct nl_sock *sk, const char *host, const char *peer, pid_t peer_pid, const char *alias,
                   unsigned mtu, struct dc_error *err);
/* Delete link `name` if it exists and (when alias is given) carries that
 * alias; 0 when gone or not ours. */
int dc_nl_link_del(struct nl_sock *sk, const char *name, const char *alias, struct dc_error *err);
int dc_nl_link_up(struct nl_sock *sk, const char *name, struct dc_error *err);
/* Make `name` a port of bridge `master`. */
int dc_nl_link_set_master(struct nl_sock *sk, const char *name, const char *master, struct dc_error *err);

/* Add addr (with its prefix length) to link `name`; IPv6 without duplicate
 * address detection (the address is ours by lease). -EEXIST when present. */
int dc_nl_addr_add(struct nl_sock *sk, const char *name, const struct dc_prefix *addr, struct dc_error *err);
/* Remove it; 0 when it (or the link) is already gone. */
int dc_nl_addr_del(struct nl_sock *sk, const char *name, const struct dc_prefix *addr, struct dc_error *err);
/* A route to dst (NULL: the default route) via gw (NULL: on-link) on link `name`. */
int dc_nl_route_add(struct nl_sock *sk, const char *name, int family, const struct dc_prefix *dst,
                    const struct dc_prefix *gw, struct dc_error *err);

/* What the host's addresses and routes occupy: every address with its
 * prefix (as a network), every route's destination (any table but local)
 * except default routes; of one family, or both with AF_UNSPEC. Names are
 * looked up only to describe an entry (dc_nl_use_describe), so a dump stays
 * cheap with hundreds of links. */
struct dc_nl_use {
        struct dc_prefix net;   /* what it occupies */
        struct dc_prefix orig;  /* the address as configured (routes: = net) */
        bool route;
        int ifindex;            /* 0 when unknown */
};
struct dc_nl_used {
        struct dc_nl_use *v;
        size_t n, cap;
};
int dc_nl_host_used(struct nl_sock *sk, int family, struct dc_nl_used *out, struct dc_error *err);
/* "the address 10.1.0.1/24 on br0", "the route 10.0.0.0/8 dev tun0" */
char *dc_nl_use_describe(const struct dc_nl_use *u);
void dc_nl_used_free(struct dc_nl_used *u);
