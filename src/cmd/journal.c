#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/journal.h"
#include "diyctl/state.h"
#include "diyctl/util.h"

int dc_cmd_journal(int argc, char **argv)
{
        bool json = dc_take_flag(&argc, argv, "--json");
        int i = 1;
        if (i != argc - 1) {
                dc_usage_error("journal", "name one container");
                return 2;
        }
        if (!dc_name_valid(argv[i])) {
                fprintf(stderr, "diyctl: %s is not a valid container name\n", argv[i]);
                return 1;
        }
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root)
                return 1;
        _cleanup_free_ char *path = dc_xasprintf("%s/%s/journal", root, argv[i]);
        struct dc_jcontent jc = { 0 };
        struct dc_error err = { 0 };
        int r = dc_journal_read(path, &jc, &err);
        if (r == -ENOENT) {
                /* no journal: an exited container's record (its teardown
                 * undid everything), or no container of that name */
                struct dc_state st;
                struct dc_error serr = { 0 };
                if (dc_state_read(root, argv[i], &st, &serr) < 0) {
                        dc_print_error(&serr);
                        return 1;
                }
                bool exited = st.exited;
                dc_state_free(&st);
                if (exited) {
                        if (json) {
                                fputs("{\"name\":", stdout);
                                dc_json_str(stdout, argv[i]);
                                fputs(",\"records\":[],\"damaged_line\":0}\n", stdout);
                        } else {
                                printf("%s has exited: its teardown undid every host change (no journal is left)\n",
                                       argv[i]);
                        }
                        return 0;
                }
        }
        if (r < 0) {
                dc_print_error(&err);
                return 1;
        }
        if (json) {
                fputs("{\"name\":", stdout);
                dc_json_str(stdout, jc.name);
                fputs(",\"records\":[", stdout);
        } else {
                printf("%-4s %-7s %-14s %s\n", "SEQ", "STATE", "KIND", "FIELDS");
        }
        for (size_t k = 0; k < jc.n; k++) {
                const struct dc_jentry *e = &jc.entries[k];
                const char *state = e->undone ? "undone" : e->done ? "done" : "intent";
                if (json) {
                        fprintf(stdout, "%s{\"seq\":%u,\"state\":\"%s\",\"kind\":", k ? "," : "", e->seq, state);
                        dc_json_str(stdout, e->kind);
                        /* fields: the first value of each key (doc/json.md); pairs:
                         * every field in order, keys may repeat (a cgroup's dirs) */
                        fputs(",\"fields\":{", stdout);
                        int nf = 0;
                        for (size_t f = 0; f < e->kv.n; f++) {
                                if (dc_kvs_get(&e->kv, e->kv.v[f].key) != e->kv.v[f].val)
                                        continue;
                                fputs(nf++ ? "," : "", stdout);
                                dc_json_str(stdout, e->kv.v[f].key);
                                fputc(':', stdout);
                                dc_json_str(stdout, e->kv.v[f].val);
                        }
                        fputs("},\"pairs\":[", stdout);
                        for (size_t f = 0; f < e->kv.n; f++) {
                                fputs(f ? ",[" : "[", stdout);
                                dc_json_str(stdout, e->kv.v[f].key);
                                fputc(',', stdout);
                                dc_json_str(stdout, e->kv.v[f].val);
                                fputc(']', stdout);
                        }
                        fputs("]}", stdout);
                        continue;
                }
                printf("%-4u %-7s %-14s", e->seq, state, e->kind);
                for (size_t f = 0; f < e->kv.n; f++)
                        printf(" %s=%s", e->kv.v[f].key, e->kv.v[f].val);
                putchar('\n');
        }
        if (json) {
                fprintf(stdout, "],\"damaged_line\":%d}\n", jc.damaged_line);
        } else if (jc.damaged_line) {
                printf("line %d is damaged: %s\n", jc.damaged_line, jc.damage);
        }
        int rc = jc.damaged_line ? 1 : 0;
        dc_jcontent_free(&jc);
        return rc;
}
