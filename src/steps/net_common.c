/* Shared by the network steps: '@' references to run-time values. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net.h"
#include "steps.h"

int dc_net_resolve_args(const struct dc_step *s, const struct dc_exec_ctx *ctx, struct dc_kvs *out,
                        struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        for (size_t i = 0; i < s->args.n; i++) {
                const char *v = s->args.v[i].val;
                if (v[0] == '@') {
                        const char *got = dc_kvs_get(&ctx->vars, v + 1);
                        if (!got) {
                                dc_kvs_free(out);
                                return dc_err(err, ENOENT, "%s step: the run-time value %s is not known yet",
                                              s->ops->kind, v + 1);
                        }
                        v = got;
                }
                dc_kvs_add(out, s->args.v[i].key, v);
        }
        return 0;
}

int dc_net_intent(struct dc_exec_ctx *ctx, const struct dc_step *s, const struct dc_kvs *fields, unsigned *seq,
                  struct dc_error *err)
{
        return dc_journal_intent(ctx->journal, s->ops->kind, fields, seq, err);
}

const char *dc_net_show(const char *v)
{
        static const struct {
                const char *ref, *text;
        } names[] = {
                { "@net.ipv4.subnet", "<the leased IPv4 subnet>" },
                { "@net.ipv4.address", "<the leased IPv4 address>" },
                { "@net.ipv4.ip", "<the leased IPv4 address>" },
                { "@net.ipv4.gateway", "<the IPv4 gateway of the lease>" },
                { "@net.ipv4.host", "<the IPv4 gateway of the lease>" },
                { "@net.ipv6.subnet", "<the leased IPv6 /64>" },
                { "@net.ipv6.address", "<the leased IPv6 address>" },
                { "@net.ipv6.ip", "<the leased IPv6 address>" },
                { "@net.ipv6.gateway", "<the IPv6 gateway of the lease>" },
                { "@net.ipv6.host", "<the IPv6 gateway of the lease>" },
        };
        if (!v)
                return "(none)";
        if (v[0] != '@')
                return v;
        for (size_t i = 0; i < DC_ARRAY_SIZE(names); i++)
                if (strcmp(v, names[i].ref) == 0)
                        return names[i].text;
        return v;
}

int dc_net_registry_write(const char *root, const char *dir, const char *name, const char *content,
                          struct dc_error *err)
{
        _cleanup_free_ char *d = dc_xasprintf("%s/%s", root, dir);
        if (mkdir(d, 0700) < 0 && errno != EEXIST)
                return dc_err(err, errno, "cannot create %s: %s", d, strerror(errno));
        _cleanup_free_ char *path = dc_xasprintf("%s/%s", d, name);
        _cleanup_free_ char *tmp = dc_xasprintf("%s/.%s.tmp", d, name);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        int r = dc_write_all(fd, content, strlen(content));
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return dc_err(err, -r, "%s: %s", path, strerror(-r));
        }
        return 0;
}

int dc_net_registry_read(const char *root, const char *dir, const char *name, char **content)
{
        _cleanup_free_ char *path = dc_xasprintf("%s/%s/%s", root, dir, name);
        return dc_read_file(path, 65536, content);
}

int dc_net_registry_remove(const char *root, const char *dir, const char *name, struct dc_error *err)
{
        _cleanup_free_ char *d = dc_xasprintf("%s/%s", root, dir);
        _cleanup_free_ char *path = dc_xasprintf("%s/%s", d, name);
        if (unlink(path) < 0 && errno != ENOENT)
                return dc_err(err, errno, "cannot remove %s: %s", path, strerror(errno));
        rmdir(d); /* only when empty */
        return 0;
}
