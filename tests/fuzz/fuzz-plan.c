/* libFuzzer harness for config parsing AND validation and planning: any
 * input must give either a plan or an error with a message, never a crash,
 * a leak or undefined behaviour; and what the plan says must hold together:
 *
 *   - every step's kind is in the table and describes itself;
 *   - the exec step is last, carries a capability list that parses back and
 *     a seccomp profile, and reads back as a struct dc_security;
 *   - the hardening steps (readonly, mask, nodev) come after pivot_root;
 *   - no volume target lies in /proc, no plan argument but the command
 *     line and the environment holds a control character (a hostile config
 *     must not get a newline or an escape into a mount point, a link name,
 *     a rule or a file name), and mount options are only ours.
 *
 * The file name lies in a directory that does not exist, so @include and
 * relative paths reach no real file. Image and tarball roots are replaced by
 * a path before planning (their planner reads the archive; fuzz-image.c
 * covers that). A first line "!KEY=VALUE" is applied as a --set override.
 *
 * Seeds: tests/fuzz/corpus-plan/ (the examples and hand-written hostile
 * configs); the dictionary tests/fuzz/plan.dict holds the key names. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diyctl/config.h"
#include "diyctl/plan.h"
#include "diyctl/security.h"

#define FUZZ_DIR "/nonexistent-diyctl-fuzz"
#define FUZZ_FILE FUZZ_DIR "/fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_ctl(const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return true;
        return false;
}

/* Argument keys whose values may hold anything: the command line and the
 * environment are the process's own. Every other value ends up in a path, a
 * name, a mount option, a rule or a line of a file. */
static bool free_text_key(const char *k)
{
        return strcmp(k, "arg") == 0 || strcmp(k, "env") == 0;
}

/* Mount options are ours: "mode=755,size=67108864". */
static bool plain_options(const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '=' || *p == ','))
                        return false;
        return true;
}

static void check_plan(const struct dc_plan *p)
{
        if (!p->n)
                abort();
        FILE *null = fopen("/dev/null", "w");
        int pivot = -1, ro = -1, mask = -1, nodev = -1;
        for (size_t i = 0; i < p->n; i++) {
                const struct dc_step *s = &p->steps[i];
                if (!s->ops || dc_step_find(s->ops->kind) != s->ops)
                        abort(); /* a kind not in the table */
                if (null)
                        s->ops->describe(s, null);
                const char *k = s->ops->kind;
                if (strcmp(k, "pivot-root") == 0)
                        pivot = (int)i;
                else if (strcmp(k, "readonly") == 0)
                        ro = (int)i;
                else if (strcmp(k, "mask") == 0)
                        mask = (int)i;
                else if (strcmp(k, "nodev") == 0)
                        nodev = (int)i;
                for (size_t a = 0; a < s->args.n; a++) {
                        const char *key = s->args.v[a].key, *val = s->args.v[a].val;
                        if (!key || !val)
                                abort();
                        if (!free_text_key(key) && has_ctl(val)) {
                                fprintf(stderr, "step %zu %s: %s holds a control character\n", i + 1, k, key);
                                abort();
                        }
                        if (strcmp(k, "mount") == 0 && strcmp(key, "data") == 0 && !plain_options(val)) {
                                fprintf(stderr, "mount options from the config: %s\n", val);
                                abort();
                        }
                        if (strcmp(k, "bind") == 0 && strcmp(key, "target") == 0 &&
                            (strcmp(val, "/proc") == 0 || strncmp(val, "/proc/", 6) == 0)) {
                                fprintf(stderr, "a volume in /proc: %s\n", val);
                                abort();
                        }
                }
        }
        if (pivot < 0 || ro != pivot + 1 || mask != ro + 1 || nodev != mask + 1)
                abort(); /* the hardening steps come right after pivot_root */
        const struct dc_step *ex = &p->steps[p->n - 1];
        if (strcmp(ex->ops->kind, "exec") != 0)
                abort();
        const char *caps = dc_kvs_get(&ex->args, "caps");
        const char *sc = dc_kvs_get(&ex->args, "seccomp");
        dc_capset set;
        if (!caps || !sc || dc_caps_parse_list(caps, &set) < 0)
                abort();
        char *again = dc_caps_format(set);
        if (strcmp(again, caps) != 0)
                abort(); /* the list is canonical */
        free(again);
        struct dc_security sec;
        struct dc_error err = { 0 };
        if (dc_security_from_kvs(&ex->args, &sec, &err) < 0 || sec.caps != set)
                abort();
        if (null) {
                dc_plan_print(p, null);
                dc_plan_print_json(p, null);
                fclose(null);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 64 * 1024)
                return 0;
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        char *set = NULL;
        const char *sets[1];
        struct dc_config_opts opts = { .sets = sets, .n_sets = 0 };
        const char *nl = strchr(text, '\n');
        if (text[0] == '!' && nl) {
                set = strndup(text + 1, (size_t)(nl - text - 1));
                if (set) {
                        sets[0] = set;
                        opts.n_sets = 1;
                }
        }

        struct dc_config *c = NULL;
        struct dc_error err = { 0 };
        int r = dc_config_load_string(text, FUZZ_FILE, &opts, &c, &err);
        if (r < 0 && (c || !err.msg[0]))
                abort();
        if (r == 0) {
                /* planning an image or a tarball reads it: plan a path instead */
                if (c->rootfs.image || c->rootfs.tarball) {
                        free(c->rootfs.image);
                        free(c->rootfs.tarball);
                        free(c->rootfs.tag);
                        c->rootfs.image = c->rootfs.tarball = c->rootfs.tag = NULL;
                        free(c->rootfs.path);
                        c->rootfs.path = strdup(FUZZ_DIR "/rootfs");
                }
                /* root; unprivileged without a cgroup; unprivileged in a delegated one */
                for (int uid = 0; uid < 3; uid++) {
                        struct dc_plan_opts po = {
                                .state_root = "/run/diyctl",
                                .uid = uid ? 1000 : 0,
                                .gid = uid ? 1000 : 0,
                                .skip_fs_checks = true,
                                .cgroups = uid != 1,
                                .cgroup_parent = uid == 2 ? "self" : NULL,
                                .subuid_file = FUZZ_DIR "/subuid",
                                .subgid_file = FUZZ_DIR "/subgid",
                        };
                        struct dc_plan *p = NULL;
                        struct dc_error perr = { 0 };
                        int pr = dc_plan_build(c, &po, &p, &perr);
                        if (pr == 0) {
                                if (!p)
                                        abort();
                                check_plan(p);
                                dc_plan_free(p);
                        } else if (p || !perr.msg[0]) {
                                abort();
                        }
                }
                dc_config_free(c);
        }
        free(set);
        free(text);
        return 0;
}
