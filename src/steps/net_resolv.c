/* resolv: write the container's resolv.conf into its state directory; a
 * child-side bind step then mounts it read-only on /etc/resolv.conf inside,
 * so the rootfs's own file is never edited.
 *
 * args: path (STATE/resolv.conf); mode = "list" (server=... as given),
 * "host" (the host's resolvers, usable from another network namespace) or
 * "copy" (the host's file as it is: network.mode = "host"); ipv6 = 0|1
 * (whether the container has IPv6: else IPv6 servers are left out).
 *
 * "host": the servers of /etc/resolv.conf, with its search and options
 * lines. A loopback server (a local stub such as systemd-resolved's
 * 127.0.0.53) cannot be reached from the container, so it is replaced by the
 * upstream servers the stub publishes (/run/systemd/resolve/resolv.conf). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/net.h"
#include "diyctl/util.h"
#include "net.h"
#include "steps.h"

#define HOST_RESOLV "/etc/resolv.conf"
#define STUB_UPSTREAM "/run/systemd/resolve/resolv.conf"

static bool is_loopback(const struct dc_prefix *p)
{
        static const unsigned char v6lo[16] = { [15] = 1 };
        if (p->family == AF_INET)
                return p->addr[0] == 127;
        return memcmp(p->addr, v6lo, 16) == 0;
}

struct resolv {
        struct dc_strv servers;
        struct dc_strv other; /* search, domain, options lines */
        bool had_loopback;
};

static void parse_resolv(const char *text, struct resolv *r, bool keep_other)
{
        _cleanup_free_ char *copy = dc_xstrdup(text);
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                while (*line == ' ' || *line == '\t')
                        line++;
                if (dc_startswith(line, "nameserver")) {
                        char addr[128] = "";
                        if (sscanf(line + 10, " %127s", addr) != 1)
                                continue;
                        /* a zone index (fe80::1%eth0) names a host interface: useless inside */
                        struct dc_prefix p;
                        if (strchr(addr, '%') || dc_prefix_parse(addr, 0, &p) < 0)
                                continue;
                        if (is_loopback(&p)) {
                                r->had_loopback = true;
                                continue;
                        }
                        if (!dc_strv_contains(&r->servers, addr))
                                dc_strv_push(&r->servers, addr);
                } else if (keep_other && (dc_startswith(line, "search") || dc_startswith(line, "domain") ||
                                          dc_startswith(line, "options"))) {
                        dc_strv_push(&r->other, line);
                }
        }
}

static char *render(const struct resolv *r, bool ipv6, const char *from)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
                abort();
        fprintf(m, "# written by diyctl %s\n", from);
        size_t n = 0;
        for (size_t i = 0; i < r->servers.n; i++) {
                if (!ipv6 && strchr(r->servers.v[i], ':'))
                        continue;
                fprintf(m, "nameserver %s\n", r->servers.v[i]);
                n++;
        }
        if (n == 0)
                fputs("# no name server the container can reach was found\n", m);
        for (size_t i = 0; i < r->other.n; i++)
                fprintf(m, "%s\n", r->other.v[i]);
        fclose(m);
        return buf;
}

static int build(const struct dc_kvs *a, char **out, struct dc_error *err)
{
        const char *mode = dc_kvs_get(a, "mode");
        bool ipv6 = dc_streq(dc_kvs_get(a, "ipv6"), "1");
        if (dc_streq(mode, "copy")) {
                int r = dc_read_file(HOST_RESOLV, 1 << 20, out);
                if (r == -ENOENT) {
                        *out = dc_xstrdup("# the host has no /etc/resolv.conf\n");
                        return 0;
                }
                if (r < 0)
                        return dc_err(err, -r, "%s: %s", HOST_RESOLV, strerror(-r));
                return 0;
        }
        struct resolv rs = { 0 };
        if (dc_streq(mode, "list")) {
                for (size_t i = 0; i < a->n; i++)
                        if (strcmp(a->v[i].key, "server") == 0)
                                dc_strv_push(&rs.servers, a->v[i].val);
                *out = render(&rs, true, "from network.dns");
                dc_strv_free(&rs.servers);
                return 0;
        }
        _cleanup_free_ char *text = NULL;
        int r = dc_read_file(HOST_RESOLV, 1 << 20, &text);
        if (r < 0 && r != -ENOENT)
                return dc_err(err, -r, "%s: %s", HOST_RESOLV, strerror(-r));
        if (text)
                parse_resolv(text, &rs, true);
        const char *from = "from the host's " HOST_RESOLV;
        if (rs.had_loopback) {
                _cleanup_free_ char *up = NULL;
                if (dc_read_file(STUB_UPSTREAM, 1 << 20, &up) >= 0) {
                        struct resolv u = { 0 };
                        parse_resolv(up, &u, false);
                        for (size_t i = 0; i < u.servers.n; i++)
                                if (!dc_strv_contains(&rs.servers, u.servers.v[i]))
                                        dc_strv_push(&rs.servers, u.servers.v[i]);
                        dc_strv_free(&u.servers);
                        dc_strv_free(&u.other);
                        from = "from the host's " HOST_RESOLV " (its local stub replaced by the upstream servers "
                               "in " STUB_UPSTREAM ")";
                }
        }
        *out = render(&rs, ipv6, from);
        dc_strv_free(&rs.servers);
        dc_strv_free(&rs.other);
        return 0;
}

/* What dc_resolv_note built, for the step to write (the launcher is this
 * process or a fork of it): the host's files are read once a start. */
static const struct dc_step *prepared_for;
static char *prepared;

void dc_resolv_note(const struct dc_plan *p)
{
        for (size_t i = 0; i < p->n; i++) {
                const struct dc_step *s = &p->steps[i];
                if (strcmp(s->ops->kind, "resolv") != 0 || !dc_streq(dc_kvs_get(&s->args, "mode"), "host"))
                        continue;
                _cleanup_free_ char *text = NULL;
                struct dc_error ignored;
                if (build(&s->args, &text, &ignored) < 0)
                        continue; /* the step says why */
                bool none = !strstr(text, "\nnameserver ");
                free(prepared);
                prepared = DC_TAKE(text);
                prepared_for = s;
                if (none)
                        fprintf(stderr, "diyctl: note: %s gets no name server: the host's %s has none it can reach "
                                "from its network namespace (only loopback ones without a systemd-resolved "
                                "upstream list, only IPv6 ones without network.ipv6, or none); set network.dns\n",
                                p->name, HOST_RESOLV);
        }
}

static int resolv_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *path = dc_kvs_get(&s->args, "path");
        if (!path || path[0] != '/')
                return dc_err(err, EINVAL, "resolv step without an absolute path");
        unsigned seq;
        int r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        if (prepared && prepared_for == s) {
                text = DC_TAKE(prepared);
                prepared_for = NULL;
        } else if ((r = build(&s->args, &text, err)) < 0) {
                return r;
        }
        _cleanup_free_ char *tmp = dc_xasprintf("%s.tmp", path);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        r = dc_write_all(fd, text, strlen(text));
        if (r == 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return dc_err(err, -r, "cannot write %s: %s", path, strerror(-r));
        }
        return dc_step_done(ctx, s, seq, NULL, err);
}

static int resolv_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        const char *path = dc_kvs_get(rec, "path");
        if (!path || path[0] != '/')
                return dc_err(err, EINVAL, "resolv record without an absolute path");
        _cleanup_free_ char *tmp = dc_xasprintf("%s.tmp", path);
        unlink(tmp);
        if (unlink(path) < 0 && errno != ENOENT)
                return dc_err(err, errno, "cannot remove %s: %s", path, strerror(errno));
        return 0;
}

static void resolv_describe(const struct dc_step *s, FILE *out)
{
        const char *mode = dc_kvs_get(&s->args, "mode");
        fprintf(out, "write %s: ", dc_kvs_get(&s->args, "path"));
        if (dc_streq(mode, "list")) {
                fputs("nameserver", out);
                for (size_t i = 0; i < s->args.n; i++)
                        if (strcmp(s->args.v[i].key, "server") == 0)
                                fprintf(out, " %s", s->args.v[i].val);
        } else if (dc_streq(mode, "copy")) {
                fputs("a copy of the host's " HOST_RESOLV, out);
        } else {
                fprintf(out, "the host's resolvers from " HOST_RESOLV " (a loopback stub replaced by the upstream "
                             "servers in " STUB_UPSTREAM ")%s",
                        dc_streq(dc_kvs_get(&s->args, "ipv6"), "1") ? "" : "; IPv6 servers left out");
        }
}

const struct dc_step_ops dc_resolv_ops = {
        .kind = "resolv",
        .side = DC_SIDE_HOST,
        .apply = resolv_apply,
        .undo = resolv_undo,
        .describe = resolv_describe,
};
