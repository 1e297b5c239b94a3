/* Unit tests of src/util/util.c, src/util/kv.c and src/util/fs.c. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/fs.h"
#include "diyctl/image.h"
#include "diyctl/kv.h"
#include "diyctl/rlimit.h"
#include "diyctl/util.h"
#include "tap.h"

static char tmpdir[64];

static char *tmppath(const char *name)
{
        return dc_xasprintf("%s/%s", tmpdir, name);
}

static int write_bytes(const char *path, const char *data, size_t n)
{
        _cleanup_close_ int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        return dc_write_all(fd, data, n);
}

static bool is_dir(const char *path, unsigned *mode)
{
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return false;
        if (mode)
                *mode = st.st_mode & 07777;
        return true;
}

/* ---- dc_parse_size */

static void size_ok(const char *s, unsigned long long want)
{
        unsigned long long v = 12345;
        int r = dc_parse_size(s, &v);
        CHECK(r == 0 && v == want, "parse_size(\"%s\") = %llu (got %d, %llu)", s, want, r, v);
}

static void size_bad(const char *s)
{
        unsigned long long v = 12345;
        int r = dc_parse_size(s, &v);
        CHECK(r == -EINVAL && v == 12345, "parse_size(\"%s\") is -EINVAL and leaves *out alone (got %d)",
              s ? s : "NULL", r);
}

static void test_parse_size(void)
{
        size_ok("0", 0);
        size_ok("1024", 1024);
        size_ok("512k", 512ULL << 10);
        size_ok("512K", 512ULL << 10);
        size_ok("64M", 64ULL << 20);
        size_ok("64m", 64ULL << 20);
        size_ok("1G", 1ULL << 30);
        size_ok("2T", 2ULL << 40);
        size_ok("1KiB", 1024);
        size_ok("1kb", 1024);
        size_ok("3MB", 3ULL << 20);
        size_ok("1Gi", 1ULL << 30);
        size_ok("18446744073709551615", 18446744073709551615ULL);
        size_ok("16777215T", 16777215ULL << 40);
        size_ok("17179869183G", 17179869183ULL << 30);

        size_bad(NULL);
        size_bad("");
        size_bad("-1");
        size_bad("+1");
        size_bad(" 1");
        size_bad("1 ");
        size_bad("1.5G");
        size_bad("G");
        size_bad("1X");
        size_bad("1Gx");
        size_bad("1GiBB");
        size_bad("1iB");
        size_bad("1B");
        size_bad("0x10");
        size_bad("18446744073709551616");
        size_bad("99999999999999999999999");
        size_bad("16777216T");
        size_bad("17179869184G");
        size_bad("18014398509481984k");
}

/* ---- percent encoding */

static void test_pct(void)
{
        char *e = dc_pct_encode("a b");
        CHECK_STREQ(e, "a%20b", "pct: space");
        free(e);
        e = dc_pct_encode("plain.chars_/:,@+-AZaz09");
        CHECK_STREQ(e, "plain.chars_/:,@+-AZaz09", "pct: plain characters left alone");
        free(e);
        e = dc_pct_encode("k=v%\n");
        CHECK_STREQ(e, "k%3Dv%25%0A", "pct: '=', '%%' and newline encoded, upper-case hex");
        free(e);
        e = dc_pct_encode("");
        CHECK_STREQ(e, "", "pct: empty string");
        free(e);
        e = dc_pct_encode("caf\xc3\xa9");
        CHECK_STREQ(e, "caf%C3%A9", "pct: UTF-8 bytes encoded");
        free(e);

        char all[256];
        for (int i = 1; i < 256; i++)
                all[i - 1] = (char)i;
        all[255] = 0;
        e = dc_pct_encode(all);
        bool clean = true;
        for (const char *p = e; *p; p++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/:,@+-%", *p))
                        clean = false;
        CHECK(clean, "pct: encoding of every byte uses only the plain set and %%");
        char *d = dc_pct_decode(e);
        CHECK(d && strcmp(d, all) == 0, "pct: every byte 1..255 round-trips");
        free(d);
        free(e);

        d = dc_pct_decode("a%2fb%2F%41");
        CHECK_STREQ(d, "a/b/A", "pct: decode accepts both hex cases");
        free(d);
        d = dc_pct_decode("");
        CHECK_STREQ(d, "", "pct: decode empty");
        free(d);
        d = dc_pct_decode("%25%32%35");
        CHECK_STREQ(d, "%25", "pct: decode is one level only");
        free(d);

        const char *bad[] = { "%", "a%", "%4", "a%4", "%zz", "%g0", "%0g", "%00", "a%00b", "%-1", "% 1" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
                d = dc_pct_decode(bad[i]);
                CHECK(d == NULL, "pct: decode rejects \"%s\"", bad[i]);
                free(d);
        }
}

/* ---- string vectors and helpers */

static void test_strv(void)
{
        struct dc_strv sv = {0};
        dc_strv_push(&sv, "a");
        dc_strv_push(&sv, "bb");
        dc_strv_push_take(&sv, dc_xstrdup("ccc"));
        CHECK(sv.n == 3 && sv.v[3] == NULL, "strv: three strings, NULL-terminated");
        CHECK_STREQ(sv.v[1], "bb", "strv: order kept");
        CHECK(dc_strv_contains(&sv, "ccc") && !dc_strv_contains(&sv, "c") && !dc_strv_contains(&sv, ""),
              "strv: contains is exact");
        struct dc_strv cp = {0};
        dc_strv_push(&cp, "first");
        dc_strv_copy(&cp, &sv);
        CHECK(cp.n == 4 && cp.v[4] == NULL && strcmp(cp.v[0], "first") == 0 && strcmp(cp.v[3], "ccc") == 0 &&
              cp.v[1] != sv.v[0],
              "strv: copy appends deep copies");
        dc_strv_free(&sv);
        CHECK(sv.v == NULL && sv.n == 0, "strv: free resets");
        dc_strv_free(&sv);
        CHECK(!dc_strv_contains(&sv, "a"), "strv: empty vector contains nothing");
        dc_strv_free(&cp);

        CHECK(dc_streq(NULL, NULL) && !dc_streq("a", NULL) && !dc_streq(NULL, "a") && dc_streq("x", "x") &&
              !dc_streq("x", "xy"),
              "streq is NULL-safe");
        CHECK(dc_startswith("foobar", "foo") && dc_startswith("foo", "") && !dc_startswith("fo", "foo"),
              "startswith");
        char *s = dc_xasprintf("%d-%s", 42, "x");
        CHECK_STREQ(s, "42-x", "xasprintf");
        free(s);
        s = dc_xstrndup("abcdef", 3);
        CHECK_STREQ(s, "abc", "xstrndup");
        free(s);
}

/* ---- key/value lists */

static void test_kvs(void)
{
        struct dc_kvs kv = {0};
        dc_kvs_add(&kv, "a", "1");
        dc_kvs_add(&kv, "b", NULL);
        dc_kvs_add(&kv, "a", "2");
        dc_kvs_addf(&kv, "n", "%d", -17);
        CHECK(kv.n == 4, "kvs: four pairs");
        CHECK_STREQ(dc_kvs_get(&kv, "a"), "1", "kvs: get returns the first of a repeated key");
        CHECK_STREQ(dc_kvs_get(&kv, "b"), "", "kvs: NULL value stored as empty");
        CHECK(dc_kvs_get(&kv, "zz") == NULL, "kvs: missing key is NULL");
        CHECK_STREQ(dc_kvs_get(&kv, "n"), "-17", "kvs: addf");

        dc_kvs_set(&kv, "a", "3");
        CHECK(kv.n == 4 && strcmp(kv.v[0].val, "3") == 0 && strcmp(kv.v[2].val, "2") == 0,
              "kvs: set replaces the first value only");
        dc_kvs_set(&kv, "c", "new");
        CHECK(kv.n == 5 && strcmp(kv.v[4].key, "c") == 0, "kvs: set appends a missing key");
        dc_kvs_set(&kv, "c", NULL);
        CHECK_STREQ(dc_kvs_get(&kv, "c"), "", "kvs: set NULL stores empty");

        char key[8] = "k";
        dc_kvs_add(&kv, key, "v");
        key[0] = 'x';
        CHECK(dc_kvs_get(&kv, "k") && !dc_kvs_get(&kv, "x"), "kvs: add copies the key");

        long long x = 99;
        CHECK(dc_kvs_get_ll(&kv, "n", &x) == 0 && x == -17, "kvs: get_ll -17");
        struct {
                const char *v;
                int ok;
                long long want;
        } ll[] = {
                { "0", 1, 0 },
                { "42", 1, 42 },
                { "9223372036854775807", 1, 9223372036854775807LL },
                { "-9223372036854775808", 1, (-9223372036854775807LL - 1) },
                { "9223372036854775808", 0, 0 },
                { "", 0, 0 },
                { "x", 0, 0 },
                { "12x", 0, 0 },
                { " 5", 0, 0 },
                { "5 ", 0, 0 },
                { "0x10", 0, 0 },
                { "+5", 0, 0 },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(ll); i++) {
                dc_kvs_set(&kv, "t", ll[i].v);
                x = 99;
                int r = dc_kvs_get_ll(&kv, "t", &x);
                if (ll[i].ok)
                        CHECK(r == 0 && x == ll[i].want, "kvs: get_ll(\"%s\")", ll[i].v);
                else
                        CHECK(r == -EINVAL && x == 99, "kvs: get_ll(\"%s\") is -EINVAL, *out untouched", ll[i].v);
        }
        x = 99;
        CHECK(dc_kvs_get_ll(&kv, "missing", &x) == -EINVAL && x == 99, "kvs: get_ll of a missing key");

        struct dc_kvs cp = {0};
        dc_kvs_add(&cp, "pre", "0");
        dc_kvs_copy(&cp, &kv);
        CHECK(cp.n == kv.n + 1 && strcmp(cp.v[1].key, kv.v[0].key) == 0 && cp.v[1].val != kv.v[0].val,
              "kvs: copy appends deep copies");
        dc_kvs_free(&cp);
        dc_kvs_free(&kv);
        CHECK(kv.v == NULL && kv.n == 0, "kvs: free resets");
        dc_kvs_free(&kv);
        CHECK(dc_kvs_get(&kv, "a") == NULL, "kvs: get on an empty list");
}

/* ---- files */

static void test_mkdir_p(void)
{
        _cleanup_free_ char *deep = tmppath("a/b/c");
        unsigned mode = 0;
        int r = dc_mkdir_p(deep, 0750);
        CHECK(r == 0 && is_dir(deep, &mode) && mode == 0750, "mkdir_p: nested (%d, %o)", r, mode);
        r = dc_mkdir_p(deep, 0750);
        CHECK(r == 0, "mkdir_p: existing directory is fine");
        _cleanup_free_ char *slashes = tmppath("d//e///f/");
        r = dc_mkdir_p(slashes, 0755);
        _cleanup_free_ char *f = tmppath("d/e/f");
        CHECK(r == 0 && is_dir(f, NULL), "mkdir_p: doubled and trailing slashes (%d)", r);
        _cleanup_free_ char *file = tmppath("file");
        write_bytes(file, "x", 1);
        r = dc_mkdir_p(file, 0755);
        CHECK(r == -ENOTDIR, "mkdir_p: an existing file is not a directory (%d)", r);
        _cleanup_free_ char *under = tmppath("file/sub");
        r = dc_mkdir_p(under, 0755);
        CHECK(r == -ENOTDIR, "mkdir_p: below a file (%d)", r);
        r = dc_mkdir_p("", 0755);
        CHECK(r == -ENOENT, "mkdir_p: empty path (%d)", r);
        r = dc_mkdir_p("/", 0755);
        CHECK(r == 0, "mkdir_p: / exists");
        r = dc_mkdir_p("/proc/self/nope/x", 0755);
        CHECK(r < 0, "mkdir_p: errors are returned (%d)", r);
}

/* ---- dc_make_in_tmpfs: a temporary directory as the root, its run/ as
 * the "tmpfs" (same filesystem: the device check passes) */

static void relink(int dir, const char *name, const char *to)
{
        unlinkat(dir, name, 0);
        CHECK(symlinkat(to, dir, name) == 0, "make_in_tmpfs: link %s -> %s (%s)", name, to, strerror(errno));
}

static void test_make_in_tmpfs(void)
{
        _cleanup_free_ char *root = tmppath("root");
        _cleanup_free_ char *etc = tmppath("root/etc");
        _cleanup_free_ char *run = tmppath("root/run");
        _cleanup_free_ char *var = tmppath("root/var");
        CHECK(mkdir(root, 0755) == 0 && mkdir(etc, 0755) == 0 && mkdir(run, 0755) == 0 && mkdir(var, 0755) == 0,
              "make_in_tmpfs: a root with etc, run and var");
        _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int efd = open(etc, O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct stat rs;
        CHECK(fstat(rfd, &rs) == 0, "make_in_tmpfs: the root's file system");
        const dev_t in[] = { rs.st_dev };           /* all of it stands for the container's tmpfs */
        const dev_t elsewhere[] = { rs.st_dev + 1 }; /* and here it is another file system */
        struct dc_error err = { 0 };

        /* relative, through "..", two directories to make, then the file */
        relink(efd, "resolv.conf", "../run/systemd/resolve/stub-resolv.conf");
        int fd = dc_make_in_tmpfs(rfd, "/etc/resolv.conf", DC_CREATE_FILE, in, 1, &err);
        _cleanup_free_ char *made = tmppath("root/run/systemd/resolve/stub-resolv.conf");
        struct stat st;
        CHECK(fd >= 0 && stat(made, &st) == 0 && S_ISREG(st.st_mode), "make_in_tmpfs: the link's file is made in "
              "run/ (%d: %s)", fd, err.msg);
        if (fd >= 0)
                close(fd);
        fd = dc_make_in_tmpfs(rfd, "/etc/resolv.conf", DC_CREATE_FILE, in, 1, &err);
        CHECK(fd >= 0, "make_in_tmpfs: there already, it is opened (%d)", fd);
        if (fd >= 0)
                close(fd);

        /* an absolute link, and a link in the middle of the way */
        relink(efd, "resolv.conf", "/run/a/b");
        relink(rfd, "run/a", "/run/real");
        fd = dc_make_in_tmpfs(rfd, "etc/resolv.conf", DC_CREATE_FILE, in, 1, &err);
        _cleanup_free_ char *real = tmppath("root/run/real/b");
        CHECK(fd >= 0 && stat(real, &st) == 0, "make_in_tmpfs: absolute links, also on the way (%d: %s)", fd,
              err.msg);
        if (fd >= 0)
                close(fd);

        /* a directory, asked for */
        fd = dc_make_in_tmpfs(rfd, "/run/d1/d2", DC_CREATE_DIR, in, 1, &err);
        _cleanup_free_ char *d2 = tmppath("root/run/d1/d2");
        CHECK(fd >= 0 && is_dir(d2, NULL), "make_in_tmpfs: a directory (%d: %s)", fd, err.msg);
        if (fd >= 0)
                close(fd);

        /* not on one of the file systems given: nothing is made */
        relink(efd, "resolv.conf", "../var/lib/resolv.conf");
        fd = dc_make_in_tmpfs(rfd, "/etc/resolv.conf", DC_CREATE_FILE, elsewhere, 1, &err);
        _cleanup_free_ char *lib = tmppath("root/var/lib");
        CHECK(fd == -ENOENT && !is_dir(lib, NULL) &&
                      strstr(err.msg, "/etc/resolv.conf leads to /var/lib, which is missing, and is not on the "
                                      "container's own /run or /tmp"),
              "make_in_tmpfs: refused elsewhere, nothing made (%d: %s)", fd, err.msg);
        fd = dc_make_in_tmpfs(rfd, "/etc/resolv.conf", DC_CREATE_FILE, in, 0, &err);
        CHECK(fd == -ENOENT && !is_dir(lib, NULL), "make_in_tmpfs: no file system given, nothing made (%d)", fd);
        /* ".." never leaves the root: /../../run is /run */
        relink(efd, "resolv.conf", "../../../../run/up");
        fd = dc_make_in_tmpfs(rfd, "/etc/resolv.conf", DC_CREATE_FILE, in, 1, &err);
        _cleanup_free_ char *up = tmppath("root/run/up");
        CHECK(fd >= 0 && stat(up, &st) == 0, "make_in_tmpfs: \"..\" stops at the root (%d: %s)", fd, err.msg);
        if (fd >= 0)
                close(fd);
        /* a loop */
        relink(rfd, "run/loop1", "/run/loop2");
        relink(rfd, "run/loop2", "/run/loop1");
        fd = dc_make_in_tmpfs(rfd, "/run/loop1", DC_CREATE_FILE, in, 1, &err);
        CHECK(fd == -ELOOP, "make_in_tmpfs: a link loop is ELOOP (%d)", fd);
        /* nothing to make, and not asked to */
        fd = dc_make_in_tmpfs(rfd, "/run/none", DC_CREATE_NONE, in, 1, &err);
        CHECK(fd == -ENOENT, "make_in_tmpfs: DC_CREATE_NONE makes nothing (%d)", fd);
}

/* ---- rlimits: the config's spellings, and their round trip through an
 * exec step's arguments */

static void test_rlimit(void)
{
        struct rlimit r;
        CHECK(dc_rlimit_parse("1024", &r) == 0 && r.rlim_cur == 1024 && r.rlim_max == 1024, "rlimit: N is both");
        CHECK(dc_rlimit_parse("1:2", &r) == 0 && r.rlim_cur == 1 && r.rlim_max == 2, "rlimit: SOFT:HARD");
        CHECK(dc_rlimit_parse("unlimited", &r) == 0 && r.rlim_cur == RLIM_INFINITY && r.rlim_max == RLIM_INFINITY,
              "rlimit: unlimited");
        CHECK(dc_rlimit_parse("0:infinity", &r) == 0 && r.rlim_cur == 0 && r.rlim_max == RLIM_INFINITY,
              "rlimit: infinity");
        CHECK(dc_rlimit_parse("18446744073709551614", &r) == 0 && r.rlim_cur == RLIM_INFINITY - 1,
              "rlimit: the largest number");
        CHECK(dc_rlimit_parse("-1:1024", &r) == 0 && r.rlim_cur == RLIM_INFINITY && r.rlim_max == 1024,
              "rlimit: -1 is unlimited, as Docker writes it (the soft limit above the hard is the config's to refuse)");
        static const char *const bad[] = { "", ":", "1:", ":1", "-2", "-11", "1.5", "1k", "18446744073709551615",
                                           "99999999999999999999", "1:2:3", " 1", "Unlimited", NULL };
        for (size_t i = 0; bad[i]; i++)
                CHECK(dc_rlimit_parse(bad[i], &r) == -EINVAL, "rlimit: \"%s\" is refused", bad[i]);
        CHECK(dc_rlimit_parse(NULL, &r) == -EINVAL, "rlimit: NULL is refused");
        char b[64];
        struct rlimit f = { 5, 5 };
        dc_rlimit_format(&f, b, sizeof(b));
        CHECK_STREQ(b, "5", "rlimit: format of equal limits");
        f.rlim_max = RLIM_INFINITY;
        dc_rlimit_format(&f, b, sizeof(b));
        CHECK_STREQ(b, "5:unlimited", "rlimit: format SOFT:HARD");
        CHECK(dc_rlimit_index("nofile") >= 0 && dc_rlimit_resource((size_t)dc_rlimit_index("nofile")) == RLIMIT_NOFILE &&
                      dc_rlimit_index("nofiles") < 0 && dc_rlimit_index(NULL) < 0,
              "rlimit: names map to RLIMIT_*");
        for (size_t i = 0; i < DC_RLIMIT_N; i++)
                CHECK(dc_rlimit_index(dc_rlimit_names[i]) == (int)i && dc_rlimit_resource(i) >= 0,
                      "rlimit: %s has a resource", dc_rlimit_names[i]);

        /* exec step arguments: set on ourselves, lowered only (no privilege) */
        struct rlimit cur;
        getrlimit(RLIMIT_CORE, &cur);
        struct dc_kvs a = { 0 };
        struct rlimit want = { 0, cur.rlim_max };
        dc_rlimit_add_arg(&a, (size_t)dc_rlimit_index("core"), &want, "x.conf:3: process.rlimits.core");
        struct dc_error err = { 0 };
        int rr = dc_rlimits_raise(0, &a, &err);
        CHECK(rr == 0, "rlimit: nothing to raise (%d: %s)", rr, err.msg);
        rr = dc_rlimits_set(&a, &err);
        struct rlimit now;
        getrlimit(RLIMIT_CORE, &now);
        CHECK(rr == 0 && now.rlim_cur == 0 && now.rlim_max == cur.rlim_max, "rlimit: set from the arguments (%d: %s)",
              rr, err.msg);
        dc_kvs_free(&a);
        /* a hard limit above ours, without CAP_SYS_RESOURCE: named by its origin */
        if (cur.rlim_max != RLIM_INFINITY && geteuid() != 0) {
                struct rlimit up = { 0, cur.rlim_max + 1 };
                dc_rlimit_add_arg(&a, (size_t)dc_rlimit_index("core"), &up, "x.conf:3: process.rlimits.core");
                rr = dc_rlimits_raise(0, &a, &err);
                CHECK(rr == -EPERM && strstr(err.msg, "x.conf:3: process.rlimits.core: cannot raise the hard limit"),
                      "rlimit: raising is refused with its origin (%d: %s)", rr, err.msg);
                dc_kvs_free(&a);
        }
        dc_kvs_add(&a, "rlimit", "bogus 1 2");
        CHECK(dc_rlimits_set(&a, &err) == -EINVAL && strstr(err.msg, "bad rlimit argument"), "rlimit: a bad argument");
        dc_kvs_free(&a);
}

static void test_read_file(void)
{
        _cleanup_free_ char *p = tmppath("data");
        char big[1100];
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char)('a' + i % 26);
        big[10] = 0; /* NULs are data */

        size_t sizes[] = { 0, 1, 254, 255, 256, 511, 512, 1023, 1024, 1100 };
        int bad = 0;
        for (size_t i = 0; i < DC_ARRAY_SIZE(sizes); i++) {
                size_t n = sizes[i];
                write_bytes(p, big, n);
                /* max == n: fits; max == n - 1: too big; max huge: fits */
                size_t maxes[] = { n, n ? n - 1 : 0, 1 << 20 };
                for (size_t m = 0; m < 3; m++) {
                        char *out = NULL;
                        int r = dc_read_file(p, maxes[m], &out);
                        bool fits = n <= maxes[m];
                        bool ok = fits ? r == (int)n && out && memcmp(out, big, n) == 0 && out[n] == 0
                                       : r == -EFBIG && out == NULL;
                        if (!ok) {
                                bad++;
                                printf("# size %zu max %zu: r=%d\n", n, maxes[m], r);
                        }
                        free(out);
                }
        }
        CHECK(bad == 0, "read_file: sizes around the buffer steps, exactly max fits, max+1 is -EFBIG");
        char *out = NULL;
        _cleanup_free_ char *missing = tmppath("missing");
        int r = dc_read_file(missing, 100, &out);
        CHECK(r == -ENOENT && out == NULL, "read_file: missing file");
        r = dc_read_file(tmpdir, 100, &out);
        CHECK(r == -EISDIR && out == NULL, "read_file: a directory (%d)", r);
        free(out);

        write_bytes(p, "", 0);
        r = dc_write_file(p, "hello");
        out = NULL;
        int r2 = dc_read_file(p, 100, &out);
        CHECK(r == 0 && r2 == 5 && out && strncmp(out, "hello", 5) == 0, "write_file then read_file");
        free(out);
        r = dc_write_file(missing, "x");
        CHECK(r == -ENOENT, "write_file does not create");
}

static void test_json(void)
{
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);
        dc_json_str(f, "plain");
        fputc('|', f);
        dc_json_str(f, "q\"b\\n\nt\tr\r\x01\x1f caf\xc3\xa9");
        fputc('|', f);
        dc_json_str(f, NULL);
        fputc('|', f);
        dc_json_str(f, "");
        fclose(f);
        CHECK_STREQ(s, "\"plain\"|\"q\\\"b\\\\n\\nt\\tr\\r\\u0001\\u001f caf\xc3\xa9\"|null|\"\"",
                    "json_str escapes quotes, backslash, controls; NULL is null");
        free(s);
}

static void rm_tmp(void)
{
        static const char *const names[] = { "a/b/c", "a/b", "a", "d/e/f", "d/e", "d", "file", "data" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(names); i++) {
                char *p = tmppath(names[i]);
                if (rmdir(p) < 0)
                        unlink(p);
                free(p);
        }
        dc_rm_rf_at(AT_FDCWD, tmpdir); /* and what the later tests made */
}

static void test_signals(void)
{
        static const struct {
                const char *in;
                bool digits;
                int sig;
        } cases[] = {
                { "SIGTERM", false, SIGTERM }, { "TERM", false, SIGTERM },   { "SIGQUIT", false, SIGQUIT },
                { "SIGKILL", false, SIGKILL }, { "SIGIOT", false, SIGABRT }, { "SIGPOLL", false, SIGIO },
                { "SIGRTMIN", false, 34 },     { "SIGRTMIN+3", false, 37 },  { "RTMAX", false, 64 },
                { "SIGRTMAX-30", false, 34 },  { "SIGRTMIN+30", false, 64 }, { "SIGRTMIN+31", false, -1 },
                { "SIGRTMAX-31", false, -1 },  { "SIGRTMIN-1", false, -1 },  { "SIGRTMIN+", false, -1 },
                { "SIGRTMIN+003", false, -1 }, { "sigterm", false, -1 },     { "SIG", false, -1 },
                { "", false, -1 },             { "SIGFOO", false, -1 },      { "15", false, -1 },
                { "15", true, 15 },            { "9", true, 9 },             { "32", true, -1 },
                { "33", true, -1 },            { "34", true, 34 },           { "64", true, 64 },
                { "65", true, -1 },            { "0", true, -1 },            { "1a", true, -1 },
                { "100", true, -1 },           { "SIGHUP", true, SIGHUP },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(cases); i++) {
                int got = dc_signal_parse(cases[i].in, cases[i].digits);
                CHECK(got == cases[i].sig, "signal %s%s is %d (got %d)", cases[i].in, cases[i].digits ? " (digits)" : "",
                      cases[i].sig, got);
        }
        CHECK(dc_signal_parse(NULL, true) == -1, "no signal from NULL");
        CHECK(dc_signal_parse_loose("quit") == SIGQUIT && dc_signal_parse_loose("SigTerm") == SIGTERM &&
                      dc_signal_parse_loose("9") == 9 && dc_signal_parse_loose("rtmin+3") == 37,
              "loose: any case, with or without SIG, or a number");
        CHECK(dc_signal_parse_loose("sigfoo") == -1 && dc_signal_parse_loose(NULL) == -1 &&
                      dc_signal_parse_loose("SIGRTMIN+1234567890123456789") == -1,
              "loose: none for an unknown or overlong name");
        char b[24];
        CHECK_STREQ(dc_signal_name(SIGTERM, b), "SIGTERM", "name of 15");
        CHECK_STREQ(dc_signal_name(SIGABRT, b), "SIGABRT", "the first name of 6");
        CHECK_STREQ(dc_signal_name(SIGIO, b), "SIGIO", "the first name of 29");
        CHECK_STREQ(dc_signal_name(34, b), "SIGRTMIN", "name of 34");
        CHECK_STREQ(dc_signal_name(37, b), "SIGRTMIN+3", "name of 37");
        CHECK_STREQ(dc_signal_name(64, b), "SIGRTMAX", "name of 64");
        CHECK_STREQ(dc_signal_name(32, b), "signal 32", "32 has no name");
        for (int sig = 1; sig <= 64; sig++) {
                if (sig == 32 || sig == 33)
                        continue;
                CHECK(dc_signal_parse(dc_signal_name(sig, b), false) == sig, "the name of %d (%s) parses back", sig, b);
        }
        int fw = 0;
        for (int sig = 0; sig <= 65; sig++)
                fw += dc_signal_forwardable(sig);
        CHECK(fw == 18 + 31, "forwardable: 18 classic signals and the 31 real-time ones (%d)", fw);
        CHECK(dc_signal_forwardable(SIGTERM) && dc_signal_forwardable(SIGWINCH) && dc_signal_forwardable(37),
              "TERM, WINCH and RTMIN+3 are passed on");
        CHECK(!dc_signal_forwardable(SIGKILL) && !dc_signal_forwardable(SIGCHLD) && !dc_signal_forwardable(SIGSEGV) &&
                      !dc_signal_forwardable(SIGTSTP) && !dc_signal_forwardable(32),
              "KILL, CHLD, SEGV, TSTP and 32 are not");
}

/* dc_open_no_links and dc_path_through_link: a link anywhere on the path
 * (a directory on the way, or the last part) is refused, and named. The
 * temporary directory itself may be reached through one (/tmp on some
 * hosts): the paths are built on its real path. */
static void test_no_links(void)
{
        _cleanup_free_ char *base = realpath(tmpdir, NULL);
        _cleanup_free_ char *real = dc_xasprintf("%s/nl-real", base), *in = dc_xasprintf("%s/nl-real/sub", base);
        _cleanup_free_ char *link = dc_xasprintf("%s/nl-link", base), *via = dc_xasprintf("%s/nl-link/sub", base);
        CHECK(mkdir(real, 0755) == 0 && mkdir(in, 0755) == 0 && symlink("nl-real", link) == 0, "a tree with a link");
        int fd = dc_open_no_links(in, O_PATH);
        CHECK(fd >= 0, "a path without links opens (%s)", fd < 0 ? strerror(-fd) : "");
        if (fd >= 0)
                close(fd);
        CHECK(dc_open_no_links(via, O_PATH) == -ELOOP, "a directory link on the way: ELOOP");
        CHECK(dc_open_no_links(link, O_PATH) == -ELOOP, "a link as the last part: ELOOP");
        _cleanup_free_ char *t = dc_path_through_link(via);
        CHECK(t && strcmp(t, in) == 0, "the real path is named (%s)", t ? t : "NULL");
        _cleanup_free_ char *n = dc_path_through_link(in);
        CHECK(n == NULL, "no link, no name");
        _cleanup_free_ char *gone = dc_xasprintf("%s/nl-missing", base);
        _cleanup_free_ char *m = dc_path_through_link(gone);
        CHECK(m == NULL, "a missing path names nothing");
        unlink(link);
        rmdir(in);
        rmdir(real);
}

/* A ".." resolved inside a root while renames go on elsewhere: the kernel
 * may answer EAGAIN, and dc_open_in_root asks again (a link such as
 * /etc/resolv.conf -> ../run/... failed a start now and then while other
 * containers started). */
static volatile int renaming = 1;
static volatile unsigned long renames;

/* The race needs the two threads on two CPUs at once (where there are two). */
static void pin_to_cpu(int cpu)
{
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
                sched_setaffinity(0, sizeof(set), &set);
}

static void *rename_loop(void *arg)
{
        const char *dir = arg;
        pin_to_cpu(1);
        _cleanup_free_ char *a = dc_xasprintf("%s/ra", dir), *b = dc_xasprintf("%s/rb", dir);
        close(open(a, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
        while (renaming) {
                rename(a, b);
                rename(b, a);
                __atomic_add_fetch(&renames, 2, __ATOMIC_RELAXED);
        }
        return NULL;
}

static void test_in_root_while_renaming(void)
{
        _cleanup_free_ char *root = tmppath("rr"), *etc = tmppath("rr/etc"), *run = tmppath("rr/run");
        _cleanup_free_ char *f = tmppath("rr/run/stub"), *scratch = tmppath("rr-scratch");
        CHECK(mkdir(root, 0755) == 0 && mkdir(etc, 0755) == 0 && mkdir(run, 0755) == 0 && mkdir(scratch, 0755) == 0,
              "a root with etc/ and run/");
        close(open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
        _cleanup_free_ char *l = tmppath("rr/etc/resolv.conf");
        CHECK(symlink("../run/stub", l) == 0, "etc/resolv.conf -> ../run/stub");
        int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        pthread_t th;
        renaming = 1;
        CHECK(pthread_create(&th, NULL, rename_loop, scratch) == 0, "a thread renaming");
        cpu_set_t saved;
        bool restore = sched_getaffinity(0, sizeof(saved), &saved) == 0;
        pin_to_cpu(0);
        int failed = 0, first = 0;
        /* once the renames run; then long enough for thousands of them */
        while (__atomic_load_n(&renames, __ATOMIC_RELAXED) < 100)
                sched_yield();
        for (int i = 0; i < 50000; i++) {
                struct dc_error err = { 0 };
                int fd = dc_open_in_root(rfd, "/etc/resolv.conf", DC_CREATE_NONE, &err);
                if (fd < 0) {
                        failed++;
                        first = first ? first : fd;
                } else {
                        close(fd);
                }
        }
        renaming = 0;
        pthread_join(th, NULL);
        if (restore)
                sched_setaffinity(0, sizeof(saved), &saved);
        close(rfd);
        CHECK(failed == 0, "every open through \"..\" succeeds while renames race (%d failed, first %s)", failed,
              first ? strerror(-first) : "-");
}

static void errs_add(struct dc_errs *e, const char *msg)
{
        struct dc_error one = { .code = EINVAL };
        snprintf(one.msg, sizeof(one.msg), "%s", msg);
        dc_errs_add(e, &one);
}

/* Errors come out in line order whatever order the checks found them in;
 * files keep the order they first came in, --set overrides (which apply to
 * every file) lead, errors without a line lead theirs, a message naming
 * another file's line is placed by its own, and each error is one line. */
static void test_errs_order(void)
{
        struct dc_errs e = { 0 };
        struct dc_error err = { 0 };
        CHECK(dc_errs_end(&e, &err) == 0, "no errors: 0");
        errs_add(&e, "web.conf:12: b: x");
        errs_add(&e, "web.conf:3: a: y\n  hint: two lines");
        errs_add(&e, "net.conf:7: c: z");
        errs_add(&e, "web.conf:12: b2: same line, later");
        errs_add(&e, "net.conf:2: d: w");
        errs_add(&e, "--set: e: v");
        errs_add(&e, "web.conf:120: f: u");
        errs_add(&e, "web.conf: name: \"web\" is also the name in a.conf:1: its own");
        errs_add(&e, "--set: network.ipv6.gateway: fd88::1: no");
        CHECK(dc_errs_end(&e, &err) == -EINVAL && err.code == EINVAL, "errors: -EINVAL");
        CHECK_STREQ(err.msg,
                    "--set: e: v\n--set: network.ipv6.gateway: fd88::1: no\n"
                    "web.conf: name: \"web\" is also the name in a.conf:1: its own\n"
                    "web.conf:3: a: y   hint: two lines\nweb.conf:12: b: x\nweb.conf:12: b2: same line, later\n"
                    "web.conf:120: f: u\nnet.conf:2: d: w\nnet.conf:7: c: z",
                    "sorted by line within a file, files in first-seen order, --set first");
        CHECK(e.n == 0 && e.v == NULL, "ending frees and clears the list");

        /* more than fit: the first lines of the file are the ones shown,
         * whatever order they were found in, and the rest are counted */
        struct dc_errs m = { 0 };
        char line[64];
        for (int i = 300; i > 0; i--) {
                snprintf(line, sizeof(line), "big.conf:%d: key%d: bad value here", i, i);
                errs_add(&m, line);
        }
        dc_errs_end(&m, &err);
        const char *p = err.msg;
        long prev = 0, n = 0;
        bool sorted = true;
        while (p && strncmp(p, "big.conf:", 9) == 0) {
                long l = strtol(p + 9, NULL, 10);
                sorted = sorted && l == prev + 1;
                prev = l;
                n++;
                p = strchr(p, '\n');
                p = p ? p + 1 : NULL;
        }
        CHECK(sorted && n > 20, "lines 1 to %ld shown in order", prev);
        unsigned rest = 0;
        CHECK(p && sscanf(p, "and %u more errors", &rest) == 1 && n + rest == 300,
              "then how many more: %ld shown + %u = 300", n, rest);
        CHECK(strlen(err.msg) < sizeof(err.msg) - 1, "fits in the message");
}

int main(void)
{
        setvbuf(stdout, NULL, _IOLBF, 0); /* keep TAP lines if a sanitizer aborts */
        umask(022);
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-util.XXXXXX");
        if (!mkdtemp(tmpdir)) {
                printf("Bail out! mkdtemp: %s\n", strerror(errno));
                return 1;
        }
        test_parse_size();
        test_errs_order();
        test_pct();
        test_strv();
        test_kvs();
        test_mkdir_p();
        test_make_in_tmpfs();
        test_rlimit();
        test_read_file();
        test_json();
        test_signals();
        test_no_links();
        test_in_root_while_renaming();
        rm_tmp();
        return tap_done();
}
