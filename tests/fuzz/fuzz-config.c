/* libFuzzer harness for the config parser: any input must give either a
 * config or an error, never a crash or a leak.
 *
 * The file name lies in a directory that does not exist, so @include in the
 * input cannot reach real files (libconfig 1.5 opens includes under the top
 * file's directory).
 *
 * It also checks our parse against libconfig's own: the config module never
 * lets libconfig 1.5 fail on a string token (that leaks), by finding such
 * strings first; that finding must agree with libconfig, or valid configs
 * would be refused. The reference parse runs with leak detection off, since
 * it is the one that leaks.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *        src/util/{util,error,kv}.c src/config/{keys,config}.c tests/fuzz/fuzz-config.c -lconfig
 * Run:   ./fuzz-config -max_len=4096 tests/fuzz/corpus-config
 * A first line "!KEY=VALUE" is also applied as a --set override. */
#include "diyctl/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#if defined(__has_include)
#if __has_include(<sanitizer/lsan_interface.h>)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif
#endif

#define FUZZ_DIR "/nonexistent-diyctl-fuzz"
#define FUZZ_FILE FUZZ_DIR "/fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libconfig's verdict on TEXT, with its error line. */
static int reference_parse(const char *text, int *line)
{
#ifdef HAVE_LSAN
        __lsan_disable();
#endif
        config_t cfg;
        config_init(&cfg);
        config_set_include_dir(&cfg, FUZZ_DIR);
        int ok = config_read_string(&cfg, text);
        *line = config_error_line(&cfg);
        config_destroy(&cfg);
#ifdef HAVE_LSAN
        __lsan_enable();
#endif
        return ok;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void compare_with_libconfig(char *text, size_t cap, int r, const struct dc_error *err)
{
        int line = 0;
        int ok = reference_parse(text, &line);
        bool ours_syntax = r < 0 && dc_startswith(err->msg, FUZZ_FILE ":") && ends_with(err->msg, ": syntax error");
        if (!ok && r == 0) {
                fprintf(stderr, "accepted a text libconfig refuses (line %d)\n", line);
                abort();
        }
        if (ok && ours_syntax) {
                /* libconfig 1.5 silently drops a string left open at the end
                 * of the text; we refuse it. Closing it must make libconfig
                 * refuse it too. */
                size_t n = strlen(text);
                if (n + 3 > cap)
                        return;
                memcpy(text + n, " \"", 3);
                int closed_ok = reference_parse(text, &line);
                text[n] = 0;
                if (closed_ok) {
                        fprintf(stderr, "refused a text libconfig accepts: %s\n", err->msg);
                        abort();
                }
                return;
        }
        if (!ok && ours_syntax) {
                /* Ours points at the start of the offending token, libconfig
                 * at its end: never later than libconfig. */
                int ours = atoi(err->msg + strlen(FUZZ_FILE ":"));
                if (ours < 1 || ours > line) {
                        fprintf(stderr, "syntax error at line %d, libconfig says %d: %s\n", ours, line, err->msg);
                        abort();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 64 * 1024)
                return 0;
        size_t cap = size + 3;
        char *text = malloc(cap);
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
        if (r == 0) {
                if (!c)
                        abort();
                FILE *f = fopen("/dev/null", "w");
                if (f) {
                        dc_config_print_json(c, f);
                        fclose(f);
                }
                dc_config_free(c);
        } else if (c || err.msg[0] == 0) {
                abort();
        }
        if (!set)
                compare_with_libconfig(text, cap, r, &err);
        free(set);
        free(text);
        return 0;
}
