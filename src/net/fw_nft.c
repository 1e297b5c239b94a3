/* The nftables backend: libnftables in-process, a table of our own
 * (inet diyctl) whose rules never change, and per container only elements
 * of its set and maps, added with `create` (so one that is there already
 * is refused, never taken over) and deleted by key (see fw.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "diyctl/plan.h"
#include "net/fw.h"

#define TABLE DC_NFT_FAMILY " " DC_NFT_TABLE

struct nft_run {
        int rc;
        char *err;   /* the first line of the error output */
};

static void nft_run_free(struct nft_run *r)
{
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
        /* No echo, no handles: echo would make libnftables fetch the whole
         * ruleset before each command (17 ms at 1,400 rules). */
        nft_ctx_output_set_flags(n, 0);
        return nft = n;
}

/* Run a batch of nft commands (one transaction); its error captured. */
static int run(const char *cmds, struct nft_run *res, struct dc_error *err)
{
        memset(res, 0, sizeof(*res));
        struct nft_ctx *nft = context(err);
        if (!nft)
                return -ENOMEM;
        res->rc = nft_run_cmd_from_buffer(nft, cmds);
        nft_ctx_get_output_buffer(nft); /* rewind it */
        const char *e = nft_ctx_get_error_buffer(nft);
        res->err = dc_xstrdup(e ? e : "");
        char *nl = strchr(res->err, '\n');
        if (nl)
                *nl = 0;
        return 0;
}

/* What a failed batch ran into, as an errno: the kernel's answer is in the
 * message ("Could not process rule: File exists"). */
static int failure_errno(const struct nft_run *r)
{
        if (strstr(r->err, "No such file or directory"))
                return ENOENT;
        if (strstr(r->err, "File exists"))
                return EEXIST;
        return EIO;
}

static int run_checked(const char *cmds, const char *what, struct dc_error *err)
{
        struct nft_run r;
        int e = run(cmds, &r, err);
        if (e == 0 && r.rc != 0) {
                int no = failure_errno(&r);
                e = dc_err(err, no, "nftables: cannot %s: %s", what, r.err);
        }
        nft_run_free(&r);
        return e;
}

/* "create table" + the items: one transaction that fails with EEXIST when a
 * table of that name is there. */
static int base_make(struct dc_error *err)
{
        _cleanup_free_ char *items = dc_fw_nft_table_cmds();
        _cleanup_free_ char *cmds = dc_xasprintf("create table %s\n%s", TABLE, items);
        return run_checked(cmds, "create table " TABLE, err);
}

int dc_nft_base_create(struct dc_error *err)
{
        int r = base_make(err);
        if (r != -EEXIST)
                return r;
        /* Left behind (a teardown that failed, an older diyctl): "add" then
         * "delete" makes it anew in the same transaction, whatever was in it. */
        _cleanup_free_ char *items = dc_fw_nft_table_cmds();
        _cleanup_free_ char *cmds = dc_xasprintf("add table %s\ndelete table %s\nadd table %s\n%s", TABLE, TABLE,
                                                 TABLE, items);
        return run_checked(cmds, "create table " TABLE, err);
}

int dc_nft_base_restore(struct dc_error *err)
{
        int r = base_make(err);
        if (r == -EEXIST)
                return dc_err(err, EEXIST,
                              "nftables: the table %s is there but lacks diyctl's sets and maps (made by hand, or by "
                              "an older diyctl whose containers still run): stop its containers, or delete the table",
                              TABLE);
        return r;
}

int dc_nft_base_delete(struct dc_error *err)
{
        int r = run_checked("delete table " TABLE "\n", "delete table " TABLE, err);
        return r == -ENOENT ? 0 : r;
}

/* The commands for each element, in one buffer; -EINVAL for an element that
 * is not one of ours (err filled). */
static int elem_cmds(const struct dc_strv *elems, const char *tag, char **out, struct dc_error *err)
{
        *out = NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
                return dc_err(err, ENOMEM, "out of memory");
        int r = 0;
        for (size_t i = 0; r == 0 && i < elems->n; i++) {
                struct dc_nft_elem e;
                if (dc_fw_nft_elem_parse(elems->v[i], &e) < 0) {
                        r = dc_err(err, EINVAL, "nftables: %s is not an element of table %s", elems->v[i], TABLE);
                        break;
                }
                _cleanup_free_ char *c = tag ? dc_fw_nft_elem_add_cmd(&e, tag) : dc_fw_nft_elem_del_cmd(&e);
                fputs(c, m);
        }
        if (fclose(m) != 0 && r == 0)
                r = dc_err(err, ENOMEM, "out of memory");
        if (r < 0)
                free(buf);
        else
                *out = buf;
        return r;
}

static bool tag_ok(const char *tag)
{
        if (!tag || !dc_startswith(tag, "diyctl:") || !tag[7])
                return false;
        return dc_name_valid(tag + 7);
}

int dc_nft_elems_add(const struct dc_strv *elems, const char *tag, struct dc_error *err)
{
        if (!tag_ok(tag))
                return dc_err(err, EINVAL, "nftables: %s is not a container's tag", tag ? tag : "(none)");
        _cleanup_free_ char *cmds = NULL;
        int r = elem_cmds(elems, tag, &cmds, err);
        if (r < 0 || !cmds[0])
                return r;
        r = run_checked(cmds, "add the elements", err);
        if (r == -EEXIST) {
                char what[sizeof(err->msg)];
                snprintf(what, sizeof(what), "%s", err->msg);
                return dc_err(err, EEXIST,
                              "nftables: the table %s already holds an element with one of the keys of %s (%s): left "
                              "behind by a container whose teardown failed (diyctl cleanup), or added by hand",
                              TABLE, tag, what);
        }
        return r;
}

int dc_nft_elems_del(const struct dc_strv *elems, struct dc_error *err)
{
        _cleanup_free_ char *cmds = NULL;
        int r = elem_cmds(elems, NULL, &cmds, err);
        if (r < 0 || !cmds[0])
                return r;
        /* The fast path: all of them in one transaction, which fails as a
         * whole if any one is gone. */
        struct nft_run all;
        r = run(cmds, &all, err);
        int rc = all.rc;
        nft_run_free(&all);
        if (r < 0 || rc == 0)
                return r;
        /* Some are gone: each on its own, "gone" being success. A key is only
         * ever ours (fw.h), so deleting what is left of them is exact. */
        for (size_t i = 0; i < elems->n; i++) {
                struct dc_nft_elem e;
                dc_fw_nft_elem_parse(elems->v[i], &e); /* checked by elem_cmds */
                _cleanup_free_ char *c = dc_fw_nft_elem_del_cmd(&e);
                r = run_checked(c, "delete an element", err);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}
