/* The nftables backend: libnftables in-process, a table of our own
 * (inet diyctl), each container's rules added in one batch whose echoed
 * handles are journaled, and deleted by handle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <nftables/libnftables.h>

#include "net/fw.h"

#define TABLE DC_NFT_FAMILY " " DC_NFT_TABLE

struct nft_run {
        int rc;
        char *out;
        char *err;
};

static void nft_run_free(struct nft_run *r)
{
        free(r->out);
        free(r->err);
}

/* One context for the life of the process, not one per command: closing a
 * context's netlink socket after a commit makes the kernel finish releasing
 * that transaction first (nf_tables flushes its destroy work, which waits
 * for an RCU grace period: 5 to 15 ms measured, bench/README.md). So the
 * socket is closed once, when the process exits, not after each batch. The
 * output buffers are rewound by every nft_ctx_get_*_buffer(). */
static struct nft_ctx *context(struct dc_error *err)
{
        static struct nft_ctx *nft;
        if (nft)
                return nft;
        struct nft_ctx *n = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!n) {
                dc_err(err, ENOMEM, "cannot create an nftables context");
                return NULL;
        }
        if (nft_ctx_buffer_output(n) || nft_ctx_buffer_error(n)) {
                nft_ctx_free(n);
                dc_err(err, ENOMEM, "cannot buffer nftables output");
                return NULL;
        }
        return nft = n;
}

/* Run a batch of nft commands; output (JSON when json) and errors captured. */
static int run(const char *cmds, bool json, bool echo, struct nft_run *res, struct dc_error *err)
{
        memset(res, 0, sizeof(*res));
        struct nft_ctx *nft = context(err);
        if (!nft)
                return -ENOMEM;
        unsigned flags = NFT_CTX_OUTPUT_HANDLE;
        if (json)
                flags |= NFT_CTX_OUTPUT_JSON;
        if (echo)
                flags |= NFT_CTX_OUTPUT_ECHO;
        nft_ctx_output_set_flags(nft, flags);
        res->rc = nft_run_cmd_from_buffer(nft, cmds);
        const char *o = nft_ctx_get_output_buffer(nft);
        const char *e = nft_ctx_get_error_buffer(nft);
        res->out = dc_xstrdup(o ? o : "");
        res->err = dc_xstrdup(e ? e : "");
        /* first line of the error is the message */
        char *nl = strchr(res->err, '\n');
        if (nl)
                *nl = 0;
        return 0;
}

static bool not_found(const struct nft_run *r)
{
        return strstr(r->err, "No such file or directory") != NULL;
}

#define BASE_CMDS                                                                                        \
        "add table " TABLE "\n"                                                                            \
        "add chain " TABLE " forward { type filter hook forward priority filter; policy accept; }\n"       \
        "add chain " TABLE " prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"    \
        "add chain " TABLE " output { type nat hook output priority -100; policy accept; }\n"              \
        "add chain " TABLE " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"

int dc_nft_base_create(struct dc_error *err)
{
        struct nft_run r;
        int e = run(BASE_CMDS, false, false, &r, err);
        if (e < 0)
                return e;
        if (r.rc != 0)
                e = dc_err(err, EIO, "nftables: cannot create table %s: %s", TABLE, r.err);
        nft_run_free(&r);
        return e;
}

int dc_nft_base_delete(struct dc_error *err)
{
        struct nft_run r;
        int e = run("delete table " TABLE "\n", false, false, &r, err);
        if (e < 0)
                return e;
        if (r.rc != 0 && !not_found(&r))
                e = dc_err(err, EIO, "nftables: cannot delete table %s: %s", TABLE, r.err);
        nft_run_free(&r);
        return e;
}

/* The rule object of a JSON item: {"rule": {...}} or {"add": {"rule": {...}}}. */
static json_object *rule_of(json_object *item)
{
        json_object *r = NULL, *add = NULL;
        if (json_object_object_get_ex(item, "rule", &r))
                return r;
        if (json_object_object_get_ex(item, "add", &add) && json_object_object_get_ex(add, "rule", &r))
                return r;
        return NULL;
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static long long jint(json_object *o, const char *key)
{
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -1;
        return (long long)json_object_get_int64(v);
}

/* Each rule of an nft JSON document: fn(chain, handle, comment). */
static int each_rule(const char *text, void (*fn)(const char *chain, long long handle, const char *comment, void *arg),
                     void *arg)
{
        json_object *doc = json_tokener_parse(text);
        if (!doc)
                return -EBADMSG;
        json_object *arr = NULL;
        if (!json_object_object_get_ex(doc, "nftables", &arr) || !json_object_is_type(arr, json_type_array)) {
                json_object_put(doc);
                return -EBADMSG;
        }
        size_t n = json_object_array_length(arr);
        for (size_t i = 0; i < n; i++) {
                json_object *rule = rule_of(json_object_array_get_idx(arr, i));
                if (!rule)
                        continue;
                const char *fam = jstr(rule, "family"), *table = jstr(rule, "table");
                if (!fam || !table || strcmp(fam, DC_NFT_FAMILY) != 0 || strcmp(table, DC_NFT_TABLE) != 0)
                        continue;
                fn(jstr(rule, "chain"), jint(rule, "handle"), jstr(rule, "comment"), arg);
        }
        json_object_put(doc);
        return 0;
}

/* The container's marker: a named counter added in the same batch as its
 * rules and deleted in the same batch as they are. If the table was removed
 * and made again meanwhile (nft flush ruleset, then another start), the
 * marker is gone with it and the journaled handles, which may now name
 * other containers' rules, are not trusted. "diyctl:NAME" -> "diyctl_NAME"
 * (an nft identifier: container names are [a-z0-9][a-z0-9_.-]*). */
static char *marker_of(const char *tag)
{
        char *m = dc_xstrdup(tag);
        char *colon = strchr(m, ':');
        if (colon)
                *colon = '_';
        return m;
}

static void collect_handle(const char *chain, long long handle, const char *comment, void *arg)
{
        (void)comment;
        struct dc_strv *out = arg;
        if (chain && handle >= 0) {
                char *s = dc_xasprintf("%s:%lld", chain, handle);
                dc_strv_push_take(out, s);
        }
}

int dc_nft_add_rules(const struct dc_strv *rules, const char *tag, struct dc_strv *handles, struct dc_error *err)
{
        _cleanup_free_ char *marker = marker_of(tag);
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
                return dc_err(err, ENOMEM, "out of memory");
        /* The base table and chains too (no-ops when present), so the batch
         * stands alone even if someone removed the table meanwhile. */
        fputs(BASE_CMDS, m);
        fprintf(m, "add counter %s %s\n", TABLE, marker);
        for (size_t i = 0; i < rules->n; i++)
                fprintf(m, "add rule %s %s\n", TABLE, rules->v[i]);
        fclose(m);
        struct nft_run r;
        int e = run(buf, true, true, &r, err);
        free(buf);
        if (e < 0)
                return e;
        if (r.rc != 0) {
                e = dc_err(err, EIO, "nftables: cannot add the rules: %s", r.err);
        } else {
                struct dc_strv got = { 0 };
                if (each_rule(r.out, collect_handle, &got) < 0 || got.n != rules->n) {
                        e = dc_err(err, EBADMSG, "nftables: the rules were added but %zu of %zu handles came back",
                                   got.n, rules->n);
                        dc_strv_free(&got);
                } else {
                        for (size_t i = 0; i < got.n; i++)
                                dc_strv_push(handles, got.v[i]);
                        dc_strv_free(&got);
                }
        }
        nft_run_free(&r);
        return e;
}

struct del_ctx {
        const struct dc_strv *handles;
        const char *tag;
        FILE *cmds;
        size_t n;
};

static void pick_for_delete(const char *chain, long long handle, const char *comment, void *arg)
{
        struct del_ctx *d = arg;
        if (!chain || handle < 0 || !comment || strcmp(comment, d->tag) != 0)
                return;
        if (d->handles && d->handles->n) {
                char key[160];
                snprintf(key, sizeof(key), "%s:%lld", chain, handle);
                if (!dc_strv_contains(d->handles, key))
                        return;
        }
        fprintf(d->cmds, "delete rule %s %s handle %lld\n", TABLE, chain, handle);
        d->n++;
}

/* Delete the marker if it is there (the slow path, after the rules). */
static int delete_marker(const char *marker, struct dc_error *err)
{
        _cleanup_free_ char *cmd = dc_xasprintf("delete counter %s %s\n", TABLE, marker);
        struct nft_run r;
        int e = run(cmd, false, false, &r, err);
        if (e == 0 && r.rc != 0 && !not_found(&r))
                e = dc_err(err, EIO, "nftables: cannot delete counter %s: %s", marker, r.err);
        nft_run_free(&r);
        return e;
}

int dc_nft_del_rules(const struct dc_strv *handles, const char *tag, struct dc_error *err)
{
        _cleanup_free_ char *marker = marker_of(tag);
        /* The fast path: the handles and the marker in one batch. It fails as
         * a whole if any is missing (a rule already gone, or the table made
         * anew), and then the listing below decides. */
        if (handles && handles->n) {
                char *buf = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&buf, &len);
                if (!m)
                        return dc_err(err, ENOMEM, "out of memory");
                for (size_t i = 0; i < handles->n; i++) {
                        const char *colon = strrchr(handles->v[i], ':');
                        if (!colon)
                                continue;
                        fprintf(m, "delete rule %s %.*s handle %s\n", TABLE, (int)(colon - handles->v[i]),
                                handles->v[i], colon + 1);
                }
                fprintf(m, "delete counter %s %s\n", TABLE, marker);
                fclose(m);
                struct nft_run r;
                int e = run(buf, false, false, &r, err);
                free(buf);
                if (e < 0)
                        return e;
                int rc = r.rc;
                nft_run_free(&r);
                if (rc == 0)
                        return 0;
        }
        struct nft_run l;
        int e = run("list table " TABLE "\n", true, false, &l, err);
        if (e < 0)
                return e;
        if (l.rc != 0) {
                if (not_found(&l)) {
                        nft_run_free(&l);
                        return 0; /* no table: no rules */
                }
                e = dc_err(err, EIO, "nftables: cannot list table %s: %s", TABLE, l.err);
                nft_run_free(&l);
                return e;
        }
        char *buf = NULL;
        size_t len = 0;
        struct del_ctx d = { .handles = handles, .tag = tag, .cmds = open_memstream(&buf, &len) };
        if (!d.cmds) {
                nft_run_free(&l);
                return dc_err(err, ENOMEM, "out of memory");
        }
        int pr = each_rule(l.out, pick_for_delete, &d);
        fclose(d.cmds);
        nft_run_free(&l);
        if (pr < 0) {
                free(buf);
                return dc_err(err, EBADMSG, "nftables: cannot parse the listing of table %s", TABLE);
        }
        if (d.n > 0) {
                struct nft_run r;
                e = run(buf, false, false, &r, err);
                if (e == 0 && r.rc != 0)
                        e = dc_err(err, EIO, "nftables: cannot delete the rules of %s: %s", tag, r.err);
                nft_run_free(&r);
        }
        free(buf);
        if (e == 0)
                e = delete_marker(marker, err);
        return e;
}
