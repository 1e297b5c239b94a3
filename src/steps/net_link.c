/* Links: the veth pair (host end here, container end created directly in the
 * container's network namespace under its final name), the host end's
 * bridge port in bridge mode, and bringing links up.
 *
 * veth args: name (host end), peer (name inside), holder; optional mtu_of
 * (a bridge whose MTU both ends take), route_localnet=1 (port forwards
 * from 127.0.0.1 need it on the host end) and disable_ipv6=1 (the host end
 * of a container without IPv6: no link-local address, no IPv6 routes, which
 * the kernel would otherwise walk at every link's change, and the lease
 * step's dumps list, once per running container). Both settings belong to
 * the link and go with it. The host end carries the alias
 * "diyctl:HOLDER"; undo deletes a link of that name only when it carries it
 * (deleting one end of a veth pair deletes both). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"
#include "net.h"
#include "net/nl.h"
#include "steps.h"

static char *alias_of(const char *holder)
{
        return dc_xasprintf("diyctl:%s", holder);
}

static int veth_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *name = dc_kvs_get(&s->args, "name");
        const char *peer = dc_kvs_get(&s->args, "peer");
        const char *holder = dc_kvs_get(&s->args, "holder");
        const char *mtu_of = dc_kvs_get(&s->args, "mtu_of");
        if (!name || !peer || !holder)
                return dc_err(err, EINVAL, "veth step without name, peer or holder");
        if (ctx->child <= 0)
                return dc_err(err, EINVAL, "veth step before the container's first process exists");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        _cleanup_nl_ struct nl_sock *sk = NULL;
        r = dc_nl_open(0, &sk, err);
        if (r < 0)
                return r;
        unsigned mtu = 0;
        if (mtu_of) {
                struct dc_nl_link br;
                r = dc_nl_link_get(sk, mtu_of, &br, err);
                if (r == -ENODEV)
                        return dc_err(err, ENODEV, "network.bridge: there is no bridge %s on this host", mtu_of);
                if (r < 0)
                        return r;
                if (!br.is_bridge)
                        return dc_err(err, EINVAL, "network.bridge: %s is not a bridge", mtu_of);
                mtu = br.mtu;
        }
        _cleanup_free_ char *alias = alias_of(holder);
        r = dc_nl_veth_add(sk, name, peer, ctx->child, alias, mtu, err);
        if (r < 0)
                return r;
        if (dc_streq(dc_kvs_get(&s->args, "route_localnet"), "1")) {
                _cleanup_free_ char *p = dc_xasprintf("/proc/sys/net/ipv4/conf/%s/route_localnet", name);
                r = dc_write_file(p, "1");
                if (r < 0)
                        return dc_err(err, -r, "cannot set %s: %s", p, strerror(-r));
        }
        if (dc_streq(dc_kvs_get(&s->args, "disable_ipv6"), "1")) {
                _cleanup_free_ char *p = dc_xasprintf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
                r = dc_write_file(p, "1");
                if (r < 0 && r != -ENOENT) /* ENOENT: a kernel without IPv6 */
                        return dc_err(err, -r, "cannot set %s: %s", p, strerror(-r));
        }
        dc_kvs_set(&ctx->vars, DC_VAR_HOST_IF, name);
        struct dc_kvs done = { 0 };
        int idx = dc_nl_ifindex(sk, name);
        if (idx > 0)
                dc_kvs_addf(&done, "ifindex", "%d", idx);
        r = dc_step_done(ctx, s, seq, &done, err);
        dc_kvs_free(&done);
        return r;
}

static int veth_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        const char *name = dc_kvs_get(rec, "name");
        const char *holder = dc_kvs_get(rec, "holder");
        if (!name || !holder)
                return dc_err(err, EINVAL, "veth record without name or holder");
        _cleanup_nl_ struct nl_sock *sk = NULL;
        int r = dc_nl_open(0, &sk, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *alias = alias_of(holder);
        return dc_nl_link_del(sk, name, alias, err);
}

static void veth_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "create veth pair %s (host) <-> %s (in the container's network namespace)",
                dc_kvs_get(&s->args, "name"), dc_kvs_get(&s->args, "peer"));
        if (dc_kvs_get(&s->args, "mtu_of"))
                fprintf(out, ", MTU of %s", dc_kvs_get(&s->args, "mtu_of"));
        if (dc_streq(dc_kvs_get(&s->args, "route_localnet"), "1"))
                fprintf(out, "; net.ipv4.conf.%s.route_localnet = 1 (port forwards from 127.0.0.1)",
                        dc_kvs_get(&s->args, "name"));
        if (dc_streq(dc_kvs_get(&s->args, "disable_ipv6"), "1"))
                fprintf(out, "; net.ipv6.conf.%s.disable_ipv6 = 1 (the container has no IPv6)",
                        dc_kvs_get(&s->args, "name"));
}

const struct dc_step_ops dc_veth_ops = {
        .kind = "veth",
        .side = DC_SIDE_HOST,
        .apply = veth_apply,
        .undo = veth_undo,
        .describe = veth_describe,
};

/* --- bridge-port: args dev, bridge ------------------------------------- */

static int bridge_port_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *dev = dc_kvs_get(&s->args, "dev");
        const char *bridge = dc_kvs_get(&s->args, "bridge");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        _cleanup_nl_ struct nl_sock *sk = NULL;
        r = dc_nl_open(0, &sk, err);
        if (r < 0)
                return r;
        r = dc_nl_link_set_master(sk, dev, bridge, err);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

/* The port leaves the bridge when the veth step's undo deletes the link. */
static int nothing_to_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        (void)rec;
        (void)err;
        return 0;
}

static void bridge_port_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "attach %s to the bridge %s", dc_kvs_get(&s->args, "dev"), dc_kvs_get(&s->args, "bridge"));
}

const struct dc_step_ops dc_bridge_port_ops = {
        .kind = "bridge-port",
        .side = DC_SIDE_HOST,
        .apply = bridge_port_apply,
        .undo = nothing_to_undo,
        .describe = bridge_port_describe,
};

/* --- link-up: args where (host|container), dev ------------------------- */

static int link_up_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *dev = dc_kvs_get(&s->args, "dev");
        bool inside = dc_streq(dc_kvs_get(&s->args, "where"), "container");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        _cleanup_nl_ struct nl_sock *sk = NULL;
        r = dc_nl_open(inside ? ctx->child : 0, &sk, err);
        if (r < 0)
                return r;
        r = dc_nl_link_up(sk, dev, err);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

static void link_up_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "bring up %s (%s)", dc_kvs_get(&s->args, "dev"),
                dc_streq(dc_kvs_get(&s->args, "where"), "container") ? "in the container" : "host");
}

/* Only our own links are brought up; they go away with the veth pair. */
const struct dc_step_ops dc_link_up_ops = {
        .kind = "link-up",
        .side = DC_SIDE_HOST,
        .apply = link_up_apply,
        .undo = nothing_to_undo,
        .describe = link_up_describe,
};
