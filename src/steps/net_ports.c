/* ports: reserve the host ports a container forwards, in a registry under
 * the host lock (STATE_ROOT/.ports/PROTO-PORT names the container), so a
 * port another container already forwards is a clear error at start rather
 * than two DNAT rules where the first silently wins.
 *
 * args: root, holder; per port "port" = PROTO:HOST:CONTAINER and "origin"
 * ("FILE:LINE: network.ports[i]") in the same order; "taken" = "PORT/PROTO
 * NAME" for each another container forwarded when the plan was made. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"
#include "net.h"
#include "net/fw.h"
#include "steps.h"

#define PORTS_DIR ".ports"

static char *port_file(const struct dc_fw_port *p)
{
        return dc_xasprintf("%s-%u", p->proto, p->host);
}

/* The holder named in a registry file, or NULL. */
static char *holder_of(const char *root, const char *file)
{
        char *text = NULL;
        if (dc_net_registry_read(root, PORTS_DIR, file, &text) < 0)
                return NULL;
        char *h = NULL;
        if (dc_startswith(text, "holder=")) {
                h = dc_xstrdup(text + 7);
                h[strcspn(h, "\n")] = 0;
        }
        free(text);
        return h;
}

static int ports_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *root = dc_kvs_get(&s->args, "root");
        const char *holder = dc_kvs_get(&s->args, "holder");
        if (!root || !holder || !dc_name_valid(holder))
                return dc_err(err, EINVAL, "ports step without root or holder");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        int lock = dc_host_lock(root, err);
        if (lock < 0)
                return lock;
        size_t idx = 0;
        for (size_t i = 0; r == 0 && i < s->args.n; i++) {
                if (strcmp(s->args.v[i].key, "port") != 0)
                        continue;
                size_t o = 0;
                const char *origin = NULL;
                for (size_t k = 0; k < s->args.n; k++)
                        if (strcmp(s->args.v[k].key, "origin") == 0 && o++ == idx)
                                origin = s->args.v[k].val;
                idx++;
                struct dc_fw_port p;
                if (dc_fw_port_parse(s->args.v[i].val, &p) < 0) {
                        r = dc_err(err, EINVAL, "bad port %s", s->args.v[i].val);
                        break;
                }
                _cleanup_free_ char *file = port_file(&p);
                _cleanup_free_ char *other = holder_of(root, file);
                if (other && strcmp(other, holder) != 0) {
                        r = dc_err(err, EADDRINUSE,
                                   "%s: host port %u/%s is already forwarded to container %s (stop it, or choose "
                                   "another port)",
                                   origin ? origin : "network.ports", p.host, p.proto, other);
                        break;
                }
                _cleanup_free_ char *text = dc_xasprintf("holder=%s\n", holder);
                r = dc_net_registry_write(root, PORTS_DIR, file, text, err);
        }
        dc_host_unlock(lock, root);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

static int ports_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        const char *root = dc_kvs_get(rec, "root");
        const char *holder = dc_kvs_get(rec, "holder");
        if (!root || root[0] != '/' || !holder || !dc_name_valid(holder))
                return dc_err(err, EINVAL, "ports record without root or holder");
        int lock = dc_host_lock(root, err);
        if (lock < 0)
                return lock;
        int r = 0;
        for (size_t i = 0; r == 0 && i < rec->n; i++) {
                struct dc_fw_port p;
                if (strcmp(rec->v[i].key, "port") != 0 || dc_fw_port_parse(rec->v[i].val, &p) < 0)
                        continue;
                _cleanup_free_ char *file = port_file(&p);
                _cleanup_free_ char *who = holder_of(root, file);
                /* only our own reservation: another container may hold it now */
                if (who && strcmp(who, holder) == 0)
                        r = dc_net_registry_remove(root, PORTS_DIR, file, err);
        }
        dc_host_unlock(lock, root);
        return r;
}

static void ports_describe(const struct dc_step *s, FILE *out)
{
        fputs("reserve host port", out);
        const char *sep = " ";
        for (size_t i = 0; i < s->args.n; i++) {
                struct dc_fw_port p;
                if (strcmp(s->args.v[i].key, "port") != 0 || dc_fw_port_parse(s->args.v[i].val, &p) < 0)
                        continue;
                fprintf(out, "%s%u/%s", sep, p.host, p.proto);
                sep = ", ";
        }
        fprintf(out, " for %s (host lock; a port another container forwards is an error)",
                dc_kvs_get(&s->args, "holder"));
        /* what the plan saw: "PORT/PROTO NAME" */
        for (size_t i = 0; i < s->args.n; i++) {
                const char *v = s->args.v[i].val;
                if (strcmp(s->args.v[i].key, "taken") == 0 && strchr(v, ' '))
                        fprintf(out, "; %.*s is now forwarded to container %s: start refuses it until that one stops",
                                (int)strcspn(v, " "), v, strchr(v, ' ') + 1);
        }
}

const struct dc_step_ops dc_ports_ops = {
        .kind = "ports",
        .side = DC_SIDE_HOST,
        .apply = ports_apply,
        .undo = ports_undo,
        .describe = ports_describe,
};
