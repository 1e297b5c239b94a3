/* What the containers of one fleet cannot both have on one host, though each
 * config is fine alone: `diyctl check a.conf b.conf ...` compares each file
 * with the ones before it, so a templated fleet fails in CI, not at its
 * second start on a host. Only what the configs say is compared: an address
 * or a port a NAT pool hands out at start cannot clash here, and a value
 * both files got from one --set (which applies to every file) is left
 * alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "diyctl/net.h"
#include "diyctl/plan.h"
#include "diyctl/util.h"

static bool from_set(const struct dc_origin *o)
{
        return o && dc_streq(o->file, "--set");
}

/* Where a value of C came from, for the other side of a message:
 * "FILE:LINE", and in parentheses the top file when the value came from a
 * file it includes, and the container when SAY_NAME. */
static char *place(const struct dc_config *c, const struct dc_origin *o, bool say_name)
{
        const char *file = o && o->file ? o->file : c->file;
        _cleanup_free_ char *at = o && o->line > 0 ? dc_xasprintf("%s:%d", file, o->line) : dc_xstrdup(file);
        bool included = !dc_streq(file, c->file) && !from_set(o);
        if (!included && !say_name)
                return DC_TAKE(at);
        return dc_xasprintf("%s (%s%s%s%s)", at, included ? c->file : "", included && say_name ? ", " : "",
                            say_name ? "container " : "", say_name ? c->name : "");
}

/* The clashes of one config, one per key and kind: with many configs
 * before it (a fleet of 200 sharing a port), the first is named and the
 * others counted. */
struct clash {
        char *id; /* KEY and RELATION: what makes two the same */
        struct dc_origin origin;
        char *key, *head, *why;
        unsigned more;
};

struct clashes {
        struct clash *v;
        size_t n;
};

/* "KEY: WHAT[ (in C's top file)] RELATION OTHER'S PLACE: WHY", at KEY's
 * place in C, O_C (C's origin of it) and O_O (the other's). */
static void conflict(struct clashes *all, const struct dc_config *c, const char *key, const struct dc_origin *o_c,
                     const struct dc_config *other, const struct dc_origin *o_o, const char *what,
                     const char *relation, const char *why)
{
        _cleanup_free_ char *id = dc_xasprintf("%s\n%s\n%s", key, what, relation);
        for (size_t i = 0; i < all->n; i++)
                if (strcmp(all->v[i].id, id) == 0) {
                        all->v[i].more++;
                        return;
                }
        /* dc_config_origin never returns NULL: a key not set has the top
         * file with line 0 */
        const char *cfile = o_c->file ? o_c->file : c->file;
        bool c_included = !dc_streq(cfile, c->file) && !from_set(o_c);
        _cleanup_free_ char *there = place(other, o_o, !dc_streq(c->name, other->name));
        all->v = dc_xrealloc(all->v, (all->n + 1) * sizeof(*all->v));
        struct clash *x = &all->v[all->n++];
        *x = (struct clash){ .id = DC_TAKE(id), .origin = *o_c, .key = dc_xstrdup(key), .why = dc_xstrdup(why) };
        x->head = dc_xasprintf("%s%s%s%s %s %s", what, c_included ? " (in " : "", c_included ? c->file : "",
                               c_included ? ")" : "", relation, there);
}

static int clashes_end(struct clashes *all, struct dc_error *err)
{
        struct dc_errs errs = { 0 };
        for (size_t i = 0; i < all->n; i++) {
                struct clash *x = &all->v[i];
                struct dc_error one;
                char more[64] = "";
                if (x->more)
                        snprintf(more, sizeof(more), " and %u other config%s before it", x->more,
                                 x->more == 1 ? "" : "s");
                dc_err_at(&one, &x->origin, x->key, "%s%s: %s", x->head, more, x->why);
                dc_errs_add(&errs, &one);
                free(x->id);
                free(x->key);
                free(x->head);
                free(x->why);
        }
        free(all->v);
        *all = (struct clashes){ 0 };
        return dc_errs_end(&errs, err);
}

/* Both values came from one --set, which every file gets: not a clash of
 * the files. */
static bool both_set(const struct dc_origin *a, const struct dc_origin *b)
{
        return from_set(a) && from_set(b);
}

/* A is B or below it (absolute, normalized paths). */
static bool same_or_below(const char *a, const char *b)
{
        size_t n = strlen(b);
        if (n == 1)
                return true;
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/');
}

/* A path as the kernel will see it: links resolved where it exists. */
static char *real(const char *p)
{
        char *r = realpath(p, NULL);
        return r ? r : dc_xstrdup(p);
}

static bool address_of(const struct dc_config *c, bool v6, struct dc_prefix *out)
{
        const char *a = v6 ? c->network.ipv6_address : c->network.address;
        return a && dc_prefix_parse(a, v6 ? AF_INET6 : AF_INET, out) == 0;
}

static void check_addresses(struct clashes *all, const struct dc_config *c, const struct dc_config *o)
{
        for (int v6 = 0; v6 < 2; v6++) {
                const char *key = v6 ? "network.ipv6.address" : "network.address";
                const struct dc_origin *oc = dc_config_origin(c, key), *oo = dc_config_origin(o, key);
                struct dc_prefix a, b;
                if (!address_of(c, v6, &a) || !address_of(o, v6, &b) || both_set(oc, oo))
                        continue;
                enum dc_netmode mc = c->network.mode, mo = o->network.mode;
                struct dc_prefix na = dc_prefix_network(&a), nb = dc_prefix_network(&b);
                _cleanup_free_ char *sa = dc_prefix_str(&na), *sb = dc_prefix_str(&nb);
                _cleanup_free_ char *what = NULL, *rel = NULL;
                if (mc == DC_NET_BRIDGE && mo == DC_NET_BRIDGE) {
                        if (!dc_streq(c->network.bridge, o->network.bridge) || !dc_prefix_same_addr(&a, &b))
                                continue;
                        _cleanup_free_ char *ip = dc_prefix_addr_str(&a);
                        what = dc_xasprintf("%s on bridge %s", ip, c->network.bridge);
                        conflict(all, c, key, oc, o, oo, what, "is also the address in",
                                 "two hosts on one link need two addresses");
                        continue;
                }
                if ((mc != DC_NET_NAT && mc != DC_NET_BRIDGE) || (mo != DC_NET_NAT && mo != DC_NET_BRIDGE) ||
                    !dc_prefix_overlaps(&na, &nb))
                        continue;
                /* a NAT container's subnet is routed to its own veth: a
                 * second NAT subnet, or a bridge's network, over it would
                 * send the other's traffic down that link */
                bool same = dc_prefix_equal(&na, &nb);
                what = dc_xasprintf("%ssubnet %s", mc == DC_NET_NAT ? "NAT " : "bridge ", sa);
                rel = same ? dc_xasprintf("is also the %s subnet of", mo == DC_NET_NAT ? "NAT" : "bridge")
                           : dc_xasprintf("overlaps %s subnet %s of", mo == DC_NET_NAT ? "NAT" : "bridge", sb);
                conflict(all, c, key, oc, o, oo, what, rel,
                         "a NAT container's subnet is routed to its own link, and no other network may overlap it; "
                         "give each its own");
        }
}

static void check_ports(struct clashes *all, const struct dc_config *c, const struct dc_config *o)
{
        if (c->network.mode != DC_NET_NAT || o->network.mode != DC_NET_NAT)
                return;
        for (size_t i = 0; i < c->network.n_ports; i++) {
                const struct dc_port *p = &c->network.ports[i];
                for (size_t j = 0; j < o->network.n_ports; j++) {
                        const struct dc_port *q = &o->network.ports[j];
                        if (p->host != q->host || p->proto != q->proto || both_set(&p->origin, &q->origin))
                                continue;
                        _cleanup_free_ char *key = dc_xasprintf("network.ports[%zu].host", i);
                        _cleanup_free_ char *what = dc_xasprintf("%u/%s", p->host,
                                                                 p->proto == DC_PROTO_UDP ? "udp" : "tcp");
                        conflict(all, c, key, &p->origin, o, &q->origin, what, "is also forwarded by",
                                 "a host port goes to one container");
                        break;
                }
        }
}

static bool has_veth(const struct dc_config *c)
{
        return c->network.mode == DC_NET_NAT || c->network.mode == DC_NET_BRIDGE;
}

static void check_names(struct clashes *all, const struct dc_config *c, const struct dc_config *o)
{
        const struct dc_origin *oc = dc_config_origin(c, "name"), *oo = dc_config_origin(o, "name");
        if (both_set(oc, oo))
                return;
        bool cdef = oc && oc->line == 0 && !from_set(oc), odef = oo && oo->line == 0 && !from_set(oo);
        _cleanup_free_ char *what = dc_xasprintf("\"%s\"%s", c->name, cdef ? " (this file's name)" : "");
        if (dc_streq(c->name, o->name)) {
                conflict(all, c, "name", oc, o, oo, what, "is also the name in",
                         cdef || odef ? "each container needs its own (its state, cgroup and links are named after "
                                        "it); a config without name = takes its file's name: set one"
                                      : "each container needs its own (its state, cgroup and links are named after it)");
                return;
        }
        if (!has_veth(c) || !has_veth(o))
                return;
        /* long names are cut and hashed to fit a link name */
        _cleanup_free_ char *ic = dc_net_host_ifname(c->name), *io = dc_net_host_ifname(o->name);
        if (strcmp(ic, io) != 0)
                return;
        _cleanup_free_ char *rel = dc_xasprintf("gives the host link the name %s, as \"%s\" in", ic, o->name);
        conflict(all, c, "name", oc, o, oo, what, rel, "two links cannot share a name; change one of the names");
}

/* The mount A (a path that may not exist yet: its nearest existing
 * parent) is on, as a mount id (st_dev where statx cannot say); 0 when
 * nothing of it exists. */
static uint64_t mount_of(const char *a)
{
        _cleanup_free_ char *p = dc_xstrdup(a);
        for (;;) {
                struct statx sx;
                if (statx(AT_FDCWD, p, 0, STATX_MNT_ID, &sx) == 0)
                        return sx.stx_mask & STATX_MNT_ID ? sx.stx_mnt_id
                                                          : ((uint64_t)sx.stx_dev_major << 32 | sx.stx_dev_minor) + 1;
                char *slash = strrchr(p, '/');
                if (!slash)
                        return 0;
                if (slash == p) {
                        if (!p[1])
                                return 0;
                        p[1] = 0;
                } else {
                        *slash = 0;
                }
        }
}

/* How C's root is mounted, "direct" and "none" as a recursive bind (the
 * mounts below it come along), "tmpfs" and an upper layer as an overlay's
 * lower layer (which does not reach into mounts below it). */
static enum dc_writable mode_of(const struct dc_config *c)
{
        return c->rootfs.writable != DC_WRITABLE_DEFAULT ? c->rootfs.writable
               : c->rootfs.path                         ? DC_WRITABLE_DIRECT
                                                        : DC_WRITABLE_TMPFS;
}

/* Does the container of C, whose root is ROOT, see PATH below it? Through a
 * recursive bind, always; as an overlay's lower layer, only on ROOT's own
 * mount (as far as the host shows now: unknown paths count as seen). */
static bool sees(const struct dc_config *c, const char *root, const char *path)
{
        if (!same_or_below(path, root))
                return false;
        enum dc_writable m = mode_of(c);
        if (m == DC_WRITABLE_DIRECT || m == DC_WRITABLE_NONE)
                return true;
        uint64_t a = mount_of(path), b = mount_of(root);
        return !a || !b || a == b;
}

/* The writable layers: persistent upper directories, and roots written
 * directly. A comparison is skipped only when all of its values came from
 * one --set. */
static void check_writable(struct clashes *all, const struct dc_config *c, const struct dc_config *o)
{
        const char *wkey = "rootfs.writable", *pkey = "rootfs.path";
        const struct dc_origin *wc_o = dc_config_origin(c, wkey), *wo_o = dc_config_origin(o, wkey);
        const struct dc_origin *pc_o = dc_config_origin(c, pkey), *po_o = dc_config_origin(o, pkey);
        enum dc_writable wc = mode_of(c), wo = mode_of(o);
        _cleanup_free_ char *u = wc == DC_WRITABLE_DIR ? real(c->rootfs.writable_dir) : NULL;
        _cleanup_free_ char *ou = wo == DC_WRITABLE_DIR ? real(o->rootfs.writable_dir) : NULL;
        _cleanup_free_ char *r = c->rootfs.path ? real(c->rootfs.path) : NULL;
        _cleanup_free_ char *orr = o->rootfs.path ? real(o->rootfs.path) : NULL;
        if (u && ou && !both_set(wc_o, wo_o)) {
                /* DIR/upper and DIR/work are the overlay's: another's DIR
                 * there, or the same DIR, shares them */
                _cleanup_free_ char *up = dc_xasprintf("%s/upper", u), *wk = dc_xasprintf("%s/work", u);
                _cleanup_free_ char *oup = dc_xasprintf("%s/upper", ou), *owk = dc_xasprintf("%s/work", ou);
                _cleanup_free_ char *what = dc_xasprintf("upper layer %s", c->rootfs.writable_dir);
                const char *rel = strcmp(u, ou) == 0                                  ? "is also the upper layer of"
                                  : same_or_below(u, oup) || same_or_below(u, owk) ? "is inside the upper layer of"
                                  : same_or_below(ou, up) || same_or_below(ou, wk) ? "holds the upper layer of"
                                                                                     : NULL;
                if (rel)
                        conflict(all, c, wkey, wc_o, o, wo_o, what, rel,
                                 "two overlays writing one upper layer corrupt each other's view of it");
        }
        /* a root one writes directly, and the other's root there or around
         * it: one changes files the other has, an overlay's lower layer
         * among them (which must not change while mounted) */
        bool cw = wc == DC_WRITABLE_DIRECT, ow = wo == DC_WRITABLE_DIRECT;
        if (r && orr && (cw || ow) &&
            !(both_set(pc_o, po_o) && (!cw || from_set(wc_o)) && (!ow || from_set(wo_o)))) {
                bool clash = (cw && sees(c, r, orr)) || (ow && sees(o, orr, r)) || (cw && sees(o, orr, r)) ||
                             (ow && sees(c, r, orr));
                if (clash) {
                        _cleanup_free_ char *what =
                                dc_xasprintf("root directory %s%s", c->rootfs.path, cw ? ", written directly," : "");
                        _cleanup_free_ char *rel =
                                dc_xasprintf("%s the root%s of", strcmp(r, orr) == 0       ? "is also"
                                                                 : same_or_below(r, orr) ? "is inside"
                                                                                         : "holds",
                                             ow ? ", written directly," : "");
                        conflict(all, c, pkey, pc_o, o, po_o, what, rel,
                                 "a container that writes into its root directory changes the other's files (an "
                                 "overlay's lower layer must not change while mounted); give the one that writes "
                                 "rootfs.writable = \"tmpfs\" or an upper layer directory");
                }
        }
        /* an upper layer in another's root directory, or a root directory in
         * another's upper layer: one container's writes change the other's
         * files under its overlay */
        for (int side = 0; side < 2; side++) {
                const char *upper = side ? ou : u, *root = side ? r : orr;
                const struct dc_config *rc = side ? c : o;
                const struct dc_origin *uo = side ? wo_o : wc_o, *ro = side ? pc_o : po_o;
                if (!upper || !root || both_set(uo, ro))
                        continue;
                _cleanup_free_ char *uu = dc_xasprintf("%s/upper", upper), *uw = dc_xasprintf("%s/work", upper);
                const char *rel = NULL;
                if (sees(rc, root, upper))
                        rel = side ? "holds the upper layer of" : "is inside the root directory of";
                else if (same_or_below(root, uu) || same_or_below(root, uw))
                        rel = side ? "is inside the upper layer of" : "holds the root directory of";
                if (!rel)
                        continue;
                _cleanup_free_ char *what = side ? dc_xasprintf("root directory %s", c->rootfs.path)
                                                 : dc_xasprintf("upper layer %s", c->rootfs.writable_dir);
                conflict(all, c, side ? pkey : wkey, side ? pc_o : wc_o, o, side ? wo_o : po_o, what, rel,
                         "what one container writes there changes the other's files under its overlay; keep "
                         "upper layers and root directories apart");
        }
}

bool dc_same_file(const char *a, const char *b)
{
        struct stat sa, sb;
        return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int dc_fleet_check(const struct dc_config *const *others, size_t n, const struct dc_config *c, struct dc_error *err)
{
        struct clashes all = { 0 };
        for (size_t i = 0; i < n; i++) {
                const struct dc_config *o = others[i];
                if (dc_same_file(c->file, o->file))
                        continue; /* one file given twice, as a glob may */
                check_names(&all, c, o);
                check_ports(&all, c, o);
                check_addresses(&all, c, o);
                check_writable(&all, c, o);
        }
        return clashes_end(&all, err);
}
