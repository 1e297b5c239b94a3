/* Firewall steps (the backend is chosen host-wide in host.conf):
 *
 * nft-table (nftables only): the table inet diyctl and its base chains, a
 *   shared resource held by reference (shared.c): the first container
 *   creates it, the last one deletes it. args: root, holder.
 * firewall: a NAT container's forward, masquerade and port-forward rules
 *   (net/fw.h). iptables: one `iptables -w` per rule, all tagged diyctl:NAME,
 *   the exact specs journaled, undone with -D. nftables: the container's
 *   elements of the table's set and maps, journaled as they are before one
 *   transaction adds them all, deleted by key. args: backend, holder, tag,
 *   dev, subnet4, addr4, subnet6, addr6 (values or '@' references), port
 *   (PROTO:HOST:CONTAINER)..., and with nftables root (for the host lock when
 *   the table has to be made again). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"
#include "net.h"
#include "net/fw.h"
#include "steps.h"

#define NFT_SHARED_ID "nft:" DC_NFT_FAMILY " " DC_NFT_TABLE

static int base_before(void *arg, char **prev, struct dc_error *err)
{
        (void)arg;
        (void)err;
        *prev = dc_xstrdup(""); /* the table did not exist: the last holder deletes it */
        return 0;
}

static int base_first(void *arg, struct dc_error *err)
{
        (void)arg;
        return dc_nft_base_create(err);
}

static int base_last(void *arg, const char *prev, struct dc_error *err)
{
        (void)arg;
        (void)prev;
        return dc_nft_base_delete(err);
}

static int nft_table_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *root = dc_kvs_get(&s->args, "root");
        const char *holder = dc_kvs_get(&s->args, "holder");
        if (!root || !holder)
                return dc_err(err, EINVAL, "nft-table step without root or holder");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        r = dc_shared_hold(root, NFT_SHARED_ID, holder, base_before, base_first, base_last, NULL, err);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

static int nft_table_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        const char *root = dc_kvs_get(rec, "root");
        const char *holder = dc_kvs_get(rec, "holder");
        if (!root || root[0] != '/' || !holder)
                return dc_err(err, EINVAL, "nft-table record without root or holder");
        return dc_shared_release(root, NFT_SHARED_ID, holder, base_last, NULL, err);
}

static void nft_table_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("nftables table " DC_NFT_FAMILY " " DC_NFT_TABLE " (shared: made by the first container, deleted with the "
              "last; containers add only elements):",
              out);
        size_t n;
        const struct dc_nft_table_item *t = dc_fw_nft_table(&n);
        for (size_t i = 0; i < n; i++)
                fprintf(out, "%s %s%s %s", i ? ";" : "", t[i].chain ? t[i].chain : t[i].what, t[i].chain ? ":" : "",
                        t[i].text);
}

const struct dc_step_ops dc_nft_table_ops = {
        .kind = "nft-table",
        .side = DC_SIDE_HOST,
        .apply = nft_table_apply,
        .undo = nft_table_undo,
        .describe = nft_table_describe,
};

/* --- firewall ---------------------------------------------------------- */

struct spec_buf {
        struct dc_fw_spec spec;
        struct dc_fw_port *ports;
};

/* show: values as the plan reader sees them ('@' references described). */
static void spec_from(const struct dc_kvs *a, bool show, struct spec_buf *b)
{
        memset(b, 0, sizeof(*b));
        const char *(*f)(const char *) = show ? dc_net_show : NULL;
#define V(k) (f && dc_kvs_get(a, k) ? f(dc_kvs_get(a, k)) : dc_kvs_get(a, k))
        b->spec.tag = dc_kvs_get(a, "tag");
        b->spec.dev = dc_kvs_get(a, "dev");
        b->spec.subnet4 = V("subnet4");
        b->spec.addr4 = V("addr4");
        b->spec.subnet6 = V("subnet6");
        b->spec.addr6 = V("addr6");
#undef V
        for (size_t i = 0; i < a->n; i++) {
                struct dc_fw_port p;
                if (strcmp(a->v[i].key, "port") != 0 || dc_fw_port_parse(a->v[i].val, &p) < 0)
                        continue;
                b->ports = dc_xrealloc(b->ports, (b->spec.n_ports + 1) * sizeof(*b->ports));
                b->ports[b->spec.n_ports++] = p;
        }
        b->spec.ports = b->ports;
}

static bool is_nft(const struct dc_kvs *a)
{
        return dc_streq(dc_kvs_get(a, "backend"), "nftables");
}

/* The nftables elements: added in one transaction; when the table is gone
 * (`nft flush ruleset` while containers run), it is made again under the
 * host lock, so that two launchers never both make it. */
static int nft_add(const struct dc_kvs *a, const struct dc_strv *elems, const char *tag, struct dc_error *err)
{
        int r = dc_nft_elems_add(elems, tag, err);
        if (r != -ENOENT)
                return r;
        const char *root = dc_kvs_get(a, "root");
        if (!root || root[0] != '/')
                return r;
        int lock = dc_host_lock(root, err);
        if (lock < 0)
                return lock;
        r = dc_nft_elems_add(elems, tag, err); /* made again meanwhile? */
        if (r == -ENOENT) {
                r = dc_nft_base_restore(err);
                if (r == 0)
                        r = dc_nft_elems_add(elems, tag, err);
        }
        dc_host_unlock(lock, root);
        return r;
}

static int firewall_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        struct dc_kvs a;
        int r = dc_net_resolve_args(s, ctx, &a, err);
        if (r < 0)
                return r;
        struct spec_buf b;
        spec_from(&a, false, &b);
        if (!b.spec.tag || !b.spec.dev) {
                free(b.ports);
                dc_kvs_free(&a);
                return dc_err(err, EINVAL, "firewall step without tag or device");
        }
        struct dc_strv items = { 0 };
        bool nft = is_nft(&a);
        if (nft)
                dc_fw_nft_elements(&b.spec, &items);
        else
                dc_fw_iptables_rules(&b.spec, &items);
        /* The journal gets the exact rules or elements before any is added. */
        for (size_t i = 0; i < items.n; i++)
                dc_kvs_add(&a, nft ? "elem" : "rule", items.v[i]);
        unsigned seq;
        r = dc_net_intent(ctx, s, &a, &seq, err);
        if (r == 0 && nft) {
                r = nft_add(&a, &items, b.spec.tag, err);
                /* One transaction: on failure none of it is in place, and an
                 * element refused because its key is taken is someone else's,
                 * which teardown must not delete. */
                struct dc_error ignored;
                if (r < 0)
                        dc_journal_undone(ctx->journal, seq, s->ops->kind, &ignored);
        } else {
                for (size_t i = 0; r == 0 && i < items.n; i++)
                        r = dc_iptables_add(items.v[i], err);
        }
        if (r == 0)
                r = dc_step_done(ctx, s, seq, NULL, err);
        dc_strv_free(&items);
        free(b.ports);
        dc_kvs_free(&a);
        return r;
}

static int firewall_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        /* nftables: "elem" fields. A record of an older diyctl (rule
         * handles) has none: its rules go with the table, which the last
         * container deletes. */
        bool nft = is_nft(rec);
        struct dc_strv items = { 0 };
        for (size_t i = 0; i < rec->n; i++)
                if (strcmp(rec->v[i].key, nft ? "elem" : "rule") == 0)
                        dc_strv_push(&items, rec->v[i].val);
        int r = nft ? dc_nft_elems_del(&items, err) : dc_iptables_del_all(&items, err);
        dc_strv_free(&items);
        return r;
}

static void firewall_describe(const struct dc_step *s, FILE *out)
{
        struct spec_buf b;
        spec_from(&s->args, true, &b);
        struct dc_strv rules = { 0 };
        bool nft = is_nft(&s->args);
        if (nft) {
                dc_fw_nft_elements(&b.spec, &rules);
                fprintf(out, "nftables elements, in one transaction (journaled as they are, deleted by key):");
                for (size_t i = 0; i < rules.n; i++) {
                        /* "SET KEY[ : VALUE]"; in a plan VALUE may be a run-time value by its meaning */
                        const char *e = rules.v[i];
                        size_t set = strcspn(e, " ");
                        const char *key = e[set] ? e + set + 1 : e + set;
                        const char *val = strstr(key, " : ");
                        int klen = val ? (int)(val - key) : (int)strlen(key);
                        fprintf(out, "%s create element %s %s %.*s { %.*s comment \"%s\"%s%s }", i ? ";" : "",
                                DC_NFT_FAMILY, DC_NFT_TABLE, (int)set, e, klen, key, b.spec.tag ? b.spec.tag : "",
                                val ? " : " : "", val ? val + 3 : "");
                }
        } else {
                dc_fw_iptables_rules(&b.spec, &rules);
                fprintf(out, "iptables rules (exact specs journaled):");
                for (size_t i = 0; i < rules.n; i++) {
                        const char *r = rules.v[i];
                        /* "4 filter FORWARD -I spec" -> "iptables -t filter -I FORWARD spec" */
                        char fam[2] = "", table[16] = "", chain[32] = "", op[4] = "";
                        int n = 0;
                        if (sscanf(r, "%1s %15s %31s %3s %n", fam, table, chain, op, &n) != 4) {
                                fprintf(out, "%s %s", i ? ";" : "", r);
                                continue;
                        }
                        fprintf(out, "%s %s -w -t %s %s %s %s", i ? ";" : "", fam[0] == '6' ? "ip6tables" : "iptables",
                                table, op, chain, r + n);
                }
        }
        dc_strv_free(&rules);
        free(b.ports);
}

const struct dc_step_ops dc_firewall_ops = {
        .kind = "firewall",
        .side = DC_SIDE_HOST,
        .apply = firewall_apply,
        .undo = firewall_undo,
        .describe = firewall_describe,
};
