/* Addresses and routes, on the host end of the veth pair or inside the
 * container's network namespace (through a netlink socket opened there).
 *
 * addr args: where (host|container), dev, address (A/N, or an '@' reference).
 * route args: where (container), dev, family (4|6), via (gateway or '@'
 * reference); the destination is the default route.
 * What is inside the container vanishes with its namespace: undo has
 * nothing to do there. On the host, undo removes the address (already gone
 * with the link is fine). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "diyctl/exec.h"
#include "diyctl/net.h"
#include "diyctl/util.h"
#include "net.h"
#include "net/nl.h"
#include "steps.h"

static bool in_container(const struct dc_kvs *a)
{
        return dc_streq(dc_kvs_get(a, "where"), "container");
}

static int addr_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        struct dc_kvs a;
        int r = dc_net_resolve_args(s, ctx, &a, err);
        if (r < 0)
                return r;
        const char *dev = dc_kvs_get(&a, "dev");
        const char *addr = dc_kvs_get(&a, "address");
        struct dc_prefix p;
        if (!dev || !addr || dc_prefix_parse(addr, 0, &p) < 0) {
                dc_kvs_free(&a);
                return dc_err(err, EINVAL, "addr step without a device or a valid address");
        }
        bool inside = in_container(&a);
        unsigned seq;
        r = dc_net_intent(ctx, s, &a, &seq, err);
        if (r == 0) {
                _cleanup_nl_ struct nl_sock *sk = NULL;
                r = dc_nl_open(inside ? ctx->child : 0, &sk, err);
                if (r == 0)
                        r = dc_nl_addr_add(sk, dev, &p, err);
        }
        if (r == 0 && inside) {
                /* for list/status: what the container's address is */
                const char *key = p.family == AF_INET ? "net.ipv4.address" : "net.ipv6.address";
                if (!dc_kvs_get(&ctx->vars, key))
                        dc_kvs_set(&ctx->vars, key, addr);
        }
        dc_kvs_free(&a);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

static int addr_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        if (in_container(rec))
                return 0;
        const char *dev = dc_kvs_get(rec, "dev");
        const char *addr = dc_kvs_get(rec, "address");
        struct dc_prefix p;
        if (!dev || !addr || dc_prefix_parse(addr, 0, &p) < 0)
                return dc_err(err, EINVAL, "addr record without a device or a valid address");
        _cleanup_nl_ struct nl_sock *sk = NULL;
        int r = dc_nl_open(0, &sk, err);
        if (r < 0)
                return r;
        return dc_nl_addr_del(sk, dev, &p, err);
}

static void addr_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "add address %s to %s (%s)", dc_net_show(dc_kvs_get(&s->args, "address")),
                dc_kvs_get(&s->args, "dev"), in_container(&s->args) ? "in the container" : "host");
}

const struct dc_step_ops dc_addr_ops = {
        .kind = "addr",
        .side = DC_SIDE_HOST,
        .apply = addr_apply,
        .undo = addr_undo,
        .describe = addr_describe,
};

static int route_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        struct dc_kvs a;
        int r = dc_net_resolve_args(s, ctx, &a, err);
        if (r < 0)
                return r;
        const char *dev = dc_kvs_get(&a, "dev");
        const char *via = dc_kvs_get(&a, "via");
        int family = dc_streq(dc_kvs_get(&a, "family"), "6") ? AF_INET6 : AF_INET;
        struct dc_prefix gw;
        if (!dev || !via || dc_prefix_parse(via, family, &gw) < 0) {
                dc_kvs_free(&a);
                return dc_err(err, EINVAL, "route step without a device or a valid gateway");
        }
        unsigned seq;
        r = dc_net_intent(ctx, s, &a, &seq, err);
        if (r == 0) {
                _cleanup_nl_ struct nl_sock *sk = NULL;
                r = dc_nl_open(in_container(&a) ? ctx->child : 0, &sk, err);
                if (r == 0)
                        r = dc_nl_route_add(sk, dev, family, NULL, &gw, err);
        }
        dc_kvs_free(&a);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

static int route_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        (void)err;
        /* Only container routes are planned; they vanish with its namespace. */
        (void)rec;
        return 0;
}

static void route_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "add the IPv%s default route via %s dev %s (%s)", dc_kvs_get(&s->args, "family"),
                dc_net_show(dc_kvs_get(&s->args, "via")), dc_kvs_get(&s->args, "dev"),
                in_container(&s->args) ? "in the container" : "host");
}

const struct dc_step_ops dc_route_ops = {
        .kind = "route",
        .side = DC_SIDE_HOST,
        .apply = route_apply,
        .undo = route_undo,
        .describe = route_describe,
};
