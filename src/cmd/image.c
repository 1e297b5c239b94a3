/* diyctl image list | prune: the cache of unpacked layers and tarballs. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/image.h"
#include "diyctl/util.h"

static void human_size(char *buf, size_t n, unsigned long long b)
{
        if (b >= 1000ull * 1000 * 1000)
                snprintf(buf, n, "%.1f GB", (double)b / 1e9);
        else if (b >= 1000ull * 1000)
                snprintf(buf, n, "%.1f MB", (double)b / 1e6);
        else if (b >= 1000)
                snprintf(buf, n, "%.1f kB", (double)b / 1e3);
        else
                snprintf(buf, n, "%llu B", b);
}

static const char *base_name(const char *p)
{
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

static int list(int argc, char **argv)
{
        bool json = false;
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0) {
                        json = true;
                } else {
                        dc_usage_error("image", "unknown argument %s", argv[i]);
                        return 2;
                }
        }
        _cleanup_free_ char *root = dc_image_cache_root(getuid());
        struct dc_cache_list l;
        struct dc_error err = { 0 };
        if (dc_cache_list(root, &l, &err) < 0) {
                dc_print_error(&err);
                return 1;
        }
        if (json) {
                printf("{\"cache\":");
                dc_json_str(stdout, root);
                printf(",\"entries\":[");
                for (size_t i = 0; i < l.n; i++) {
                        const struct dc_cache_entry *e = &l.v[i];
                        long long bytes = 0, entries = 0, created = 0;
                        dc_kvs_get_ll(&e->info, "bytes", &bytes);
                        dc_kvs_get_ll(&e->info, "entries", &entries);
                        dc_kvs_get_ll(&e->info, "created", &created);
                        printf("%s{\"kind\":\"%s\",\"id\":\"sha256:%s\",\"path\":", i ? "," : "",
                               dc_cache_kind_name(e->kind), e->hex);
                        dc_json_str(stdout, e->path);
                        printf(",\"bytes\":%lld,\"entries\":%lld,\"created\":%lld", bytes, entries, created);
                        static const char *const keys[] = { "archive", "member", "digest", "label" };
                        for (size_t k = 0; k < DC_ARRAY_SIZE(keys); k++) {
                                const char *v = dc_kvs_get(&e->info, keys[k]);
                                printf(",\"%s\":", keys[k]);
                                if (v)
                                        dc_json_str(stdout, v);
                                else
                                        fputs("null", stdout);
                        }
                        printf(",\"users\":[");
                        for (size_t k = 0; k < e->users.n; k++) {
                                fputs(k ? "," : "", stdout);
                                dc_json_str(stdout, base_name(e->users.v[k]));
                        }
                        printf("],\"stale_holders\":%zu}", e->stale.n);
                }
                printf("],\"partial\":[");
                for (size_t i = 0; i < l.partial.n; i++) {
                        fputs(i ? "," : "", stdout);
                        dc_json_str(stdout, l.partial.v[i]);
                }
                printf("]}\n");
        } else if (l.n == 0) {
                printf("the image cache %s is empty\n", root);
        } else {
                printf("%-8s %-14s %10s  %-16s  %-16s %s\n", "KIND", "ID", "SIZE", "CREATED", "USED BY", "SOURCE");
                unsigned long long total = 0;
                for (size_t i = 0; i < l.n; i++) {
                        const struct dc_cache_entry *e = &l.v[i];
                        long long bytes = 0, created = 0;
                        dc_kvs_get_ll(&e->info, "bytes", &bytes);
                        dc_kvs_get_ll(&e->info, "created", &created);
                        total += bytes > 0 ? (unsigned long long)bytes : 0;
                        char size[32], when[32] = "-", users[128] = "-";
                        human_size(size, sizeof(size), bytes > 0 ? (unsigned long long)bytes : 0);
                        time_t t = (time_t)created;
                        struct tm tm;
                        if (created > 0 && localtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
                        for (size_t k = 0; k < e->users.n; k++)
                                snprintf(users + (k ? strlen(users) : 0), sizeof(users) - (k ? strlen(users) : 0),
                                         "%s%s", k ? "," : "", base_name(e->users.v[k]));
                        const char *archive = dc_kvs_get(&e->info, "archive");
                        const char *label = dc_kvs_get(&e->info, "label");
                        printf("%-8s %-14.12s %10s  %-16s  %-16s %s%s%s\n", dc_cache_kind_name(e->kind), e->hex, size,
                               when, users, archive ? base_name(archive) : "?", label ? ": " : "", label ? label : "");
                }
                char tot[32];
                human_size(tot, sizeof(tot), total);
                printf("%zu %s, %s, in %s\n", l.n, l.n == 1 ? "entry" : "entries", tot, root);
        }
        if (l.partial.n && !json)
                fprintf(stderr, "diyctl: %zu unfinished unpack(s) in %s/tmp (in progress, or left by a crash: "
                        "diyctl image prune removes the latter)\n", l.partial.n, root);
        dc_cache_list_free(&l);
        return 0;
}

static int prune(int argc, char **argv)
{
        struct dc_cache_prune_opts o = { 0 };
        struct dc_strv ids = { 0 };
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--dry-run") == 0) {
                        o.dry_run = true;
                } else if (argv[i][0] == '-') {
                        dc_usage_error("image", "unknown option %s", argv[i]);
                        dc_strv_free(&ids);
                        return 2;
                } else {
                        dc_strv_push(&ids, argv[i]);
                }
        }
        o.ids = (const char *const *)ids.v;
        o.n_ids = ids.n;
        _cleanup_free_ char *root = dc_image_cache_root(getuid());
        struct dc_cache_prune_result res;
        struct dc_error err = { 0 };
        int r = dc_cache_prune(root, &o, &res, &err);
        dc_strv_free(&ids);
        for (size_t i = 0; i < res.removed.n; i++)
                printf("%s %s\n", o.dry_run ? "would remove" : "removed", res.removed.v[i]);
        for (size_t i = 0; i < res.kept.n; i++)
                printf("kept %s\n", res.kept.v[i]);
        char sz[32];
        human_size(sz, sizeof(sz), res.bytes);
        if (r == 0)
                printf("%zu entr%s %s, %s\n", res.removed.n, res.removed.n == 1 ? "y" : "ies",
                       o.dry_run ? "would be removed" : "removed", sz);
        dc_cache_prune_result_free(&res);
        if (r < 0) {
                dc_print_error(&err);
                return 1;
        }
        return 0;
}

int dc_cmd_image(int argc, char **argv)
{
        if (argc < 2) {
                dc_usage_error("image", "say list or prune");
                return 2;
        }
        if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "ls") == 0)
                return list(argc, argv);
        if (strcmp(argv[1], "prune") == 0)
                return prune(argc, argv);
        dc_usage_error("image", "unknown subcommand %s", argv[1]);
        return 2;
}
