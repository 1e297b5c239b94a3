/* Unit tests of the journal: encoding, parsing, damage detection, durable
 * append on real files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/journal.h"
#include "diyctl/state.h"
#include "diyctl/util.h"
#include "tap.h"

/* ---- helpers */

struct buf {
        char *p;
        size_t len;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
        b->p = dc_xrealloc(b->p, b->len + n + 1);
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = 0;
}

static void buf_adds(struct buf *b, const char *s)
{
        buf_add(b, s, strlen(s));
}

/* body + " crc=" + its CRC + newline; body may hold NULs. */
static void buf_add_crcline_n(struct buf *b, const char *body, size_t n)
{
        char tail[32];
        buf_add(b, body, n);
        snprintf(tail, sizeof(tail), " crc=%08x\n", dc_crc32(body, n));
        buf_adds(b, tail);
}

static void buf_add_crcline(struct buf *b, const char *body)
{
        buf_add_crcline_n(b, body, strlen(body));
}

static void buf_add_rec(struct buf *b, unsigned seq, enum dc_rec_type t, const char *kind,
                        const struct dc_kvs *kv)
{
        char *l = dc_journal_format(seq, t, kind, kv);
        if (!l)
                abort();
        buf_adds(b, l);
        free(l);
}

static struct buf header(const char *name)
{
        struct buf b = {0};
        char *enc = dc_pct_encode(name);
        char *body = dc_xasprintf("diyctl-journal 1 name=%s", enc);
        buf_add_crcline(&b, body);
        free(body);
        free(enc);
        return b;
}

static struct dc_kvs kvs2(const char *k1, const char *v1, const char *k2, const char *v2)
{
        struct dc_kvs kv = {0};
        if (k1)
                dc_kvs_add(&kv, k1, v1);
        if (k2)
                dc_kvs_add(&kv, k2, v2);
        return kv;
}

static int parse(const struct buf *b, struct dc_jcontent *c, struct dc_error *err)
{
        return dc_journal_parse(b->p, b->len, c, err);
}

static char tmpdir[64];

static char *tmppath(const char *name)
{
        return dc_xasprintf("%s/%s", tmpdir, name);
}

static off_t file_size(const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return -1;
        return st.st_size;
}

static char *slurp(const char *path)
{
        char *s = NULL;
        if (dc_read_file(path, 1 << 24, &s) < 0)
                return NULL;
        return s;
}

/* ---- CRC */

static void test_crc(void)
{
        CHECK(dc_crc32("123456789", 9) == 0xcbf43926u, "crc32(\"123456789\") = cbf43926");
        CHECK(dc_crc32("", 0) == 0, "crc32 of nothing is 0");
        CHECK(dc_crc32("a", 1) == 0xe8b7be43u, "crc32(\"a\")");
        CHECK(dc_crc32("The quick brown fox jumps over the lazy dog", 43) == 0x414fa339u,
              "crc32 of the quick brown fox");
        unsigned char all[256];
        for (int i = 0; i < 256; i++)
                all[i] = (unsigned char)i;
        CHECK(dc_crc32(all, sizeof(all)) == 0x29058c73u, "crc32 of bytes 0..255");
}

/* ---- format */

static void test_format(void)
{
        struct dc_kvs kv = {0};
        dc_kvs_add(&kv, "key", "net.ipv4.ip_forward");
        dc_kvs_add(&kv, "prev", "0");
        dc_kvs_add(&kv, "value", "1");
        char *l = dc_journal_format(2, DC_REC_INTENT, "sysctl", &kv);
        /* golden line: the format is an on-disk contract */
        CHECK_STREQ(l, "2 intent sysctl key=net.ipv4.ip_forward prev=0 value=1 crc=02d6fb2a\n",
                    "format: golden intent line");
        free(l);
        l = dc_journal_format(2, DC_REC_UNDONE, "sysctl", NULL);
        CHECK_STREQ(l, "2 undone sysctl crc=5ee07a97\n", "format: golden undone line, NULL kv");
        free(l);
        l = dc_journal_format(7, DC_REC_DONE, "veth", &(struct dc_kvs){0});
        CHECK(l && dc_startswith(l, "7 done veth crc=") && strlen(l) == strlen("7 done veth crc=") + 9,
              "format: done with empty kv");
        free(l);
        dc_kvs_free(&kv);

        dc_kvs_add(&kv, "path", "/a b");
        l = dc_journal_format(1, DC_REC_INTENT, "mount", &kv);
        CHECK(l && strstr(l, " path=/a%20b crc="), "format: value is percent-encoded");
        free(l);
        dc_kvs_free(&kv);

        const char *bad_kinds[] = { "", "Veth", "veth rule", "nft_rule", "a=b", "é", "x\n" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad_kinds); i++) {
                l = dc_journal_format(1, DC_REC_INTENT, bad_kinds[i], NULL);
                CHECK(l == NULL, "format refuses kind #%zu", i);
                free(l);
        }
        l = dc_journal_format(1, DC_REC_INTENT, NULL, NULL);
        CHECK(l == NULL, "format refuses NULL kind");
        free(l);
        const char *bad_keys[] = { "", "Key", "a=b", "a b", "crc", "k.ey", "k\n" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad_keys); i++) {
                struct dc_kvs k = kvs2("ok", "1", bad_keys[i], "v");
                l = dc_journal_format(1, DC_REC_INTENT, "x", &k);
                CHECK(l == NULL, "format refuses bad key #%zu", i);
                free(l);
                dc_kvs_free(&k);
        }
        CHECK(dc_journal_key_valid("if_name-2") && dc_journal_key_valid("crc32"),
              "keys with _ - digits are valid; crc32 is not reserved");
        CHECK(dc_journal_kind_valid("nft-rule") && !dc_journal_kind_valid("nft_rule"),
              "kinds allow - but not _");
        l = dc_journal_format(0, DC_REC_INTENT, "x", NULL);
        CHECK(l == NULL, "format refuses seq 0");
        free(l);
        l = dc_journal_format(1, (enum dc_rec_type)7, "x", NULL);
        CHECK(l == NULL, "format refuses a bad type");
        free(l);
        l = dc_journal_format(UINT_MAX, DC_REC_INTENT, "x", NULL);
        CHECK(l && dc_startswith(l, "4294967295 intent x crc="), "format: largest seq");
        free(l);

        /* length limit: value so long the line exceeds 64 KiB */
        char *big = dc_xmalloc(70000);
        memset(big, 'a', 69999);
        big[69999] = 0;
        struct dc_kvs k = kvs2("v", big, NULL, NULL);
        l = dc_journal_format(1, DC_REC_INTENT, "x", &k);
        CHECK(l == NULL, "format refuses a line > 64 KiB");
        free(l);
        dc_kvs_free(&k);
        /* exactly 65536 bytes: "1 intent x v=" (13) + value + " crc=........\n" (14) */
        big[65536 - 27] = 0;
        k = kvs2("v", big, NULL, NULL);
        l = dc_journal_format(1, DC_REC_INTENT, "x", &k);
        CHECK(l && strlen(l) == DC_JOURNAL_MAX_LINE, "format accepts a line of exactly 64 KiB");
        free(l);
        dc_kvs_free(&k);
        big[65536 - 27] = 'a';
        big[65536 - 26] = 0;
        k = kvs2("v", big, NULL, NULL);
        l = dc_journal_format(1, DC_REC_INTENT, "x", &k);
        CHECK(l == NULL, "format refuses 64 KiB + 1");
        free(l);
        dc_kvs_free(&k);
        free(big);
}

/* ---- round trips */

static const char *const tricky[] = {
        "",
        " ",
        "a b c",
        "  leading and trailing  ",
        "line1\nline2\n",
        "\r\n\t",
        "=",
        "a=b=c",
        "%",
        "%00",
        "%41",
        "100%",
        "%%%",
        "crc=deadbeef",
        " crc=00000000",
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xb3",
        "\x01\x02\x7f\x80\xfe\xff",
        "/run/diyctl/web",
        "10.88.0.5/24",
        "fe80::1%eth0",
        "-A FORWARD -i br0 -j ACCEPT",
        "\"quoted\" 'single' \\back",
        "plain.chars_/:,@+-",
};

static void test_roundtrip(void)
{
        const char *name = "we b=%\n\xc3\xa9";
        struct buf b = header(name);
        struct dc_kvs kv = {0}, done = {0};
        for (size_t i = 0; i < DC_ARRAY_SIZE(tricky); i++)
                dc_kvs_addf(&kv, "v", "%s", tricky[i]);
        dc_kvs_add(&done, "ifindex", "42");
        dc_kvs_add(&done, "after", "x y");
        buf_add_rec(&b, 1, DC_REC_INTENT, "roundtrip", &kv);
        buf_add_rec(&b, 1, DC_REC_DONE, "roundtrip", &done);

        struct dc_jcontent c;
        struct dc_error err = {0};
        int r = parse(&b, &c, &err);
        CHECK(r == 0, "roundtrip: parses (%s)", err.msg);
        CHECK(c.damaged_line == 0, "roundtrip: no damage (line %d: %s)", c.damaged_line, c.damage);
        CHECK(!c.torn && c.valid_len == b.len, "roundtrip: valid_len covers the file");
        CHECK_STREQ(c.name, name, "roundtrip: tricky container name");
        CHECK(c.n == 1, "roundtrip: one entry");
        if (c.n == 1) {
                struct dc_jentry *e = &c.entries[0];
                CHECK(e->seq == 1 && e->done && !e->undone && e->line == 2,
                      "roundtrip: seq, flags and line of the entry");
                CHECK_STREQ(e->kind, "roundtrip", "roundtrip: kind");
                CHECK(e->kv.n == DC_ARRAY_SIZE(tricky) + 2, "roundtrip: intent + done fields (%zu)", e->kv.n);
                size_t bad = 0;
                for (size_t i = 0; i < DC_ARRAY_SIZE(tricky) && i < e->kv.n; i++)
                        if (!dc_streq(e->kv.v[i].key, "v") || !dc_streq(e->kv.v[i].val, tricky[i])) {
                                printf("# value %zu: got \"%s\"\n", i, e->kv.v[i].val);
                                bad++;
                        }
                CHECK(bad == 0, "roundtrip: every tricky value decodes to itself");
                if (e->kv.n == DC_ARRAY_SIZE(tricky) + 2) {
                        CHECK_STREQ(e->kv.v[DC_ARRAY_SIZE(tricky)].val, "42", "roundtrip: done field 1 after intent's");
                        CHECK_STREQ(dc_kvs_get(&e->kv, "after"), "x y", "roundtrip: done field 2");
                }
        }
        /* every encoded line is printable ASCII with single spaces */
        size_t odd = 0;
        for (size_t i = 0; i < b.len; i++)
                if (b.p[i] != '\n' && (b.p[i] < 0x20 || b.p[i] > 0x7e))
                        odd++;
        CHECK(odd == 0, "roundtrip: the encoded journal is printable ASCII");
        dc_jcontent_free(&c);
        CHECK(c.entries == NULL && c.n == 0 && c.name == NULL, "jcontent_free resets the content");
        dc_jcontent_free(&c); /* twice is harmless */
        dc_jcontent_free(NULL);
        dc_kvs_free(&kv);
        dc_kvs_free(&done);
        free(b.p);

        /* every byte value, one per field */
        b = header("all-bytes");
        kv = (struct dc_kvs){0};
        for (int i = 1; i < 256; i++) {
                char v[3] = { (char)i, (char)i, 0 };
                dc_kvs_add(&kv, "b", v);
        }
        buf_add_rec(&b, 1, DC_REC_INTENT, "bytes", &kv);
        r = parse(&b, &c, &err);
        size_t bad = 0;
        for (size_t i = 0; r == 0 && c.n == 1 && i < 255 && i < c.entries[0].kv.n; i++)
                if (!dc_streq(c.entries[0].kv.v[i].val, kv.v[i].val))
                        bad++;
        CHECK(r == 0 && c.damaged_line == 0 && c.n == 1 && c.entries[0].kv.n == 255 && bad == 0,
              "roundtrip: every byte 1..255 survives");
        dc_jcontent_free(&c);
        dc_kvs_free(&kv);
        free(b.p);
}

/* ---- merging */

static void test_merge(void)
{
        struct buf b = header("web");
        struct dc_kvs a = kvs2("path", "/run/diyctl/web", NULL, NULL);
        struct dc_kvs s = kvs2("key", "net.ipv4.ip_forward", "value", "1");
        struct dc_kvs sd = kvs2("prev", "0", NULL, NULL);
        struct dc_kvs v = kvs2("name", "ve-web", "peer", "host0");
        struct dc_kvs vd = kvs2("ifindex", "17", NULL, NULL);
        buf_add_rec(&b, 1, DC_REC_INTENT, "statedir", &a);
        buf_add_rec(&b, 1, DC_REC_DONE, "statedir", NULL);
        buf_add_rec(&b, 2, DC_REC_INTENT, "sysctl", &s);
        buf_add_rec(&b, 3, DC_REC_INTENT, "veth", &v);
        buf_add_rec(&b, 2, DC_REC_DONE, "sysctl", &sd);  /* done lines may interleave */
        buf_add_rec(&b, 3, DC_REC_DONE, "veth", &vd);
        buf_add_rec(&b, 3, DC_REC_UNDONE, "veth", NULL);
        buf_add_rec(&b, 3, DC_REC_UNDONE, "veth", NULL); /* teardown re-run */
        buf_add_rec(&b, 5, DC_REC_INTENT, "cgroup", NULL); /* gaps are fine */
        buf_add_rec(&b, 5, DC_REC_UNDONE, "cgroup", NULL); /* undone without done */

        struct dc_jcontent c;
        struct dc_error err = {0};
        int r = parse(&b, &c, &err);
        CHECK(r == 0 && c.damaged_line == 0, "merge: parses intact (%s)", c.damage);
        CHECK(c.n == 4, "merge: four entries (%zu)", c.n);
        if (c.n == 4) {
                struct dc_jentry *e = c.entries;
                CHECK(e[0].seq == 1 && e[1].seq == 2 && e[2].seq == 3 && e[3].seq == 5, "merge: seq order");
                CHECK(e[0].done && !e[0].undone && e[0].kv.n == 1, "merge: statedir done, one field");
                CHECK(e[1].done && !e[1].undone && e[1].kv.n == 3, "merge: sysctl done, 2+1 fields");
                CHECK(e[1].kv.n == 3 && strcmp(e[1].kv.v[0].key, "key") == 0 &&
                      strcmp(e[1].kv.v[1].key, "value") == 0 && strcmp(e[1].kv.v[2].key, "prev") == 0,
                      "merge: intent's fields first, then done's");
                CHECK(e[2].done && e[2].undone && e[2].kv.n == 3, "merge: veth done and undone");
                CHECK_STREQ(dc_kvs_get(&e[2].kv, "ifindex"), "17", "merge: done's ifindex readable by key");
                CHECK(!e[3].done && e[3].undone && e[3].kv.n == 0, "merge: cgroup undone, never done");
                CHECK(e[0].line == 2 && e[1].line == 4 && e[2].line == 5 && e[3].line == 10,
                      "merge: line is the intent's line");
                long long ifi = 0;
                CHECK(dc_kvs_get_ll(&e[2].kv, "ifindex", &ifi) == 0 && ifi == 17, "merge: get_ll on entry kv");
        }
        dc_jcontent_free(&c);
        dc_kvs_free(&a);
        dc_kvs_free(&s);
        dc_kvs_free(&sd);
        dc_kvs_free(&v);
        dc_kvs_free(&vd);
        free(b.p);
}

/* ---- damage */

/* A good start (header, seq 1 intent+done: lines 1-3), then tail, then a
 * valid intent for seq 9 that must never be seen. */
static void damage_case(const char *what, const char *tail, size_t tail_len, bool add_after,
                        int want_line, const char *want_msg, bool want_torn)
{
        struct buf b = header("web");
        struct dc_kvs kv = kvs2("path", "/x", NULL, NULL);
        buf_add_rec(&b, 1, DC_REC_INTENT, "statedir", &kv);
        buf_add_rec(&b, 1, DC_REC_DONE, "statedir", NULL);
        size_t good = b.len;
        buf_add(&b, tail, tail_len);
        if (add_after)
                buf_add_rec(&b, 9, DC_REC_INTENT, "late", NULL);
        dc_kvs_free(&kv);

        struct dc_jcontent c;
        struct dc_error err = {0};
        int r = parse(&b, &c, &err);
        bool ok = r == 0 && c.damaged_line == want_line && c.n == 1 && c.entries[0].seq == 1 &&
                  c.entries[0].done && c.entries[0].kv.n == 1 && strstr(c.damage, want_msg) &&
                  c.torn == want_torn && c.valid_len == good;
        CHECK(ok, "damage: %s -> line %d \"%s\"", what, c.damaged_line, c.damage);
        if (!ok)
                printf("#   want line %d containing \"%s\" torn=%d; r=%d n=%zu torn=%d valid_len=%zu/%zu\n",
                       want_line, want_msg, want_torn, r, c.n, c.torn, c.valid_len, good);
        dc_jcontent_free(&c);
        free(b.p);
}

static void damage_body(const char *what, const char *body, int want_line, const char *want_msg)
{
        struct buf t = {0};
        buf_add_crcline(&t, body);
        damage_case(what, t.p, t.len, true, want_line, want_msg, false);
        free(t.p);
}

static void test_damage(void)
{
        /* torn: no trailing newline */
        char *l = dc_journal_format(2, DC_REC_INTENT, "veth", NULL);
        damage_case("torn last line", l, strlen(l) - 1, false, 4, "torn", true);
        damage_case("torn: only a few bytes", l, 3, false, 4, "torn", true);
        damage_case("torn: NUL-filled tail (delayed allocation after a crash)", "\0\0\0\0\0\0", 6, false, 4,
                    "torn", true);
        damage_case("nothing after the last newline is intact", "", 0, false, 0, "", false);

        /* bad CRC */
        char *bad = dc_xstrdup(l);
        bad[0] = '3';
        damage_case("bad CRC (seq changed)", bad, strlen(bad), true, 4, "bad CRC", false);
        strcpy(bad, l);
        bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == '0' ? '1' : '0';
        damage_case("bad CRC (crc digit changed)", bad, strlen(bad), true, 4, "bad CRC", false);
        free(bad);
        free(l);

        /* syntax */
        damage_case("empty line", "\n", 1, true, 4, "bad syntax", false);
        damage_case("no crc field", "2 intent veth\n", 14, true, 4, "no crc", false);
        damage_case("crc not hex", "2 intent veth crc=0000000g\n", 27, true, 4, "bad syntax", false);
        damage_case("crc in upper case", "2 intent veth crc=0000000A\n", 27, true, 4, "bad syntax", false);
        damage_case("crc too short", "2 intent veth crc=1234567\n", 26, true, 4, "bad syntax", false);
        damage_case("CRLF line end", "2 intent veth crc=12345678\r\n", 28, true, 4, "bad syntax", false);
        damage_body("seq with leading zero", "02 intent veth", 4, "sequence");
        damage_body("seq 0", "0 intent veth", 4, "sequence");
        damage_body("seq not a number", "x intent veth", 4, "sequence");
        damage_body("seq negative", "-2 intent veth", 4, "sequence");
        damage_body("seq overflows unsigned", "4294967296 intent veth", 4, "sequence");
        damage_body("seq far too long", "123456789012345678901234567890 intent veth", 4, "sequence");
        damage_body("unknown record type", "2 started veth", 4, "unknown record type");
        damage_body("no record type", "2", 4, "bad syntax");
        damage_body("no kind", "2 intent", 4, "kind");
        damage_body("kind with capitals", "2 intent Veth", 4, "kind");
        damage_body("kind with underscore", "2 intent nft_rule", 4, "kind");
        damage_body("field without =", "2 intent veth name", 4, "no '='");
        damage_body("empty key", "2 intent veth =x", 4, "invalid key");
        damage_body("key with capitals", "2 intent veth Name=x", 4, "invalid key");
        damage_body("reserved key crc", "2 intent veth crc=12345678", 4, "reserved");
        damage_body("double space", "2 intent veth  name=x", 4, "empty field");
        damage_body("trailing space", "2 intent veth name=x ", 4, "empty field");
        damage_body("leading space", " 2 intent veth", 4, "sequence");
        damage_body("tab separator", "2\tintent veth", 4, "sequence");

        /* percent-encoding */
        damage_body("bad escape %zz", "2 intent veth name=%zz", 4, "percent-encoding");
        damage_body("truncated escape", "2 intent veth name=ab%4", 4, "percent-encoding");
        damage_body("escape at end", "2 intent veth name=ab%", 4, "percent-encoding");
        damage_body("encoded NUL %00", "2 intent veth name=a%00b", 4, "percent-encoding");
        damage_body("raw = in value", "2 intent veth name=a=b", 4, "percent-encoding");
        damage_body("raw high byte in value", "2 intent veth name=caf\xc3\xa9", 4, "percent-encoding");
        damage_body("raw control byte in value", "2 intent veth name=a\x01", 4, "percent-encoding");
        damage_body("raw byte in name", "2 intent veth n\xc3\xa4me=x", 4, "invalid key");

        /* NUL inside a line, CRC correct */
        struct buf t = {0};
        buf_add_crcline_n(&t, "2 intent veth name=a\0b", 22);
        damage_case("NUL byte inside a line", t.p, t.len, true, 4, "NUL", false);
        free(t.p);

        /* semantics */
        damage_body("done for unknown seq", "2 done veth", 4, "done for unknown seq 2");
        damage_body("undone for unknown seq", "7 undone veth", 4, "undone for unknown seq 7");
        damage_body("duplicate intent", "1 intent statedir", 4, "duplicate intent for seq 1");
        damage_body("kind mismatch on done", "1 done veth", 4, "kind");
        damage_body("kind mismatch on undone", "1 undone veth", 4, "kind");
        {
                struct buf tt = {0};
                buf_add_rec(&tt, 5, DC_REC_INTENT, "a", NULL);
                buf_add_rec(&tt, 4, DC_REC_INTENT, "b", NULL);
                struct buf b = header("w");
                buf_add_rec(&b, 1, DC_REC_INTENT, "statedir", NULL);
                buf_add(&b, tt.p, tt.len);
                buf_add_rec(&b, 6, DC_REC_INTENT, "late", NULL);
                struct dc_jcontent c;
                struct dc_error err = {0};
                int r = parse(&b, &c, &err);
                CHECK(r == 0 && c.damaged_line == 4 && strstr(c.damage, "out of order") && c.n == 2 &&
                      c.entries[1].seq == 5,
                      "damage: intent seq out of order -> line %d \"%s\"", c.damaged_line, c.damage);
                dc_jcontent_free(&c);
                free(b.p);
                free(tt.p);
        }

        /* over-long lines */
        size_t n = DC_JOURNAL_MAX_LINE + 10;
        char *big = dc_xmalloc(n + 1);
        memset(big, 'a', n);
        big[n - 1] = '\n';
        big[n] = 0;
        damage_case("line longer than 64 KiB", big, n, true, 4, "longer than", false);
        damage_case("unterminated line longer than 64 KiB", big, n - 1, false, 4, "longer than", false);
        free(big);
        /* the boundary: a valid line of exactly 64 KiB is fine, one byte more is not */
        for (int extra = 0; extra <= 1; extra++) {
                size_t vlen = DC_JOURNAL_MAX_LINE - 27 + (size_t)extra;
                char *v = dc_xmalloc(vlen + 1);
                memset(v, 'b', vlen);
                v[vlen] = 0;
                char *body = dc_xasprintf("2 intent x v=%s", v);
                struct buf b = header("w");
                buf_add_crcline(&b, body);
                struct dc_jcontent c;
                struct dc_error err = {0};
                int r = parse(&b, &c, &err);
                if (extra == 0)
                        CHECK(r == 0 && c.damaged_line == 0 && c.n == 1 && strlen(c.entries[0].kv.v[0].val) == vlen,
                              "damage: a line of exactly 64 KiB is accepted");
                else
                        CHECK(r == 0 && c.damaged_line == 2 && c.n == 0 && strstr(c.damage, "longer"),
                              "damage: a line of 64 KiB + 1 is over-long");
                dc_jcontent_free(&c);
                free(b.p);
                free(body);
                free(v);
        }
}

/* ---- header */

static void header_case_code(const char *what, const char *buf, size_t len, const char *want, int code)
{
        struct dc_jcontent c;
        struct dc_error err = {0};
        memset(&c, 0x5a, sizeof(c)); /* parse must initialise it */
        int r = dc_journal_parse(buf, len, &c, &err);
        bool ok = r == -code && err.code == code && strstr(err.msg, want) && c.n == 0 &&
                  c.entries == NULL && c.name == NULL;
        CHECK(ok, "header: %s -> %d \"%s\"", what, r, err.msg);
        dc_jcontent_free(&c);
}

static void header_case(const char *what, const char *buf, size_t len, const char *want)
{
        header_case_code(what, buf, len, want, EINVAL);
}

/* Empty or torn header: -ENODATA, nothing was journaled. */
static void header_torn(const char *what, const char *buf, size_t len)
{
        header_case_code(what, buf, len, "nothing was journaled", ENODATA);
}

static void test_header(void)
{
        header_torn("empty input", "", 0);
        header_torn("NULL input", NULL, 0);
        header_case("some text", "hello world\n", 12, "not a diyctl journal");
        header_torn("torn magic", "diyctl-jour", 11);
        header_torn("magic only", "diyctl-journal", 14);
        header_case("torn garbage", "diyctl-jxur", 11, "not a diyctl journal");
        header_case("no version", "diyctl-journal name=x crc=00000000\n", 35, "not a diyctl journal");
        header_case("garbled version", "diyctl-journal 1x name=x\n", 25, "not a diyctl journal");
        header_case("NUL bytes", "\0\0\0\0\0\0\0\0", 8, "not a diyctl journal");

        struct buf h = header("web");
        header_torn("torn header", h.p, h.len - 1);
        size_t badcut = SIZE_MAX;
        int badr = 0;
        for (size_t cut = 0; cut < h.len; cut++) {
                struct dc_jcontent c;
                struct dc_error err = {0};
                int r = dc_journal_parse(h.p, cut, &c, &err);
                if (r != -ENODATA && badcut == SIZE_MAX) {
                        badcut = cut;
                        badr = r;
                }
                dc_jcontent_free(&c);
        }
        CHECK(badcut == SIZE_MAX, "header: every cut of the header is -ENODATA (cut %zu -> %d)", badcut, badr);
        h.p[17] ^= 1; /* inside name=web */
        header_case("header CRC mismatch", h.p, h.len, "CRC");
        free(h.p);

        struct buf b = {0};
        buf_add_crcline(&b, "diyctl-journal 2 name=web");
        header_case("version 2", b.p, b.len, "unsupported journal version 2");
        free(b.p);
        b = (struct buf){0};
        buf_add_crcline(&b, "diyctl-journal 123456789012345678901234567890 name=web");
        header_case("huge version", b.p, b.len, "unsupported journal version 12345678901234567890...");
        free(b.p);
        b = (struct buf){0};
        buf_add_crcline(&b, "diyctl-journal 1 name=web extra=1");
        header_case("extra header field", b.p, b.len, "bad name");
        free(b.p);
        b = (struct buf){0};
        buf_add_crcline(&b, "diyctl-journal 1");
        header_case("no name", b.p, b.len, "no name");
        free(b.p);
        b = (struct buf){0};
        buf_add_crcline(&b, "diyctl-journal 1 name=a%0");
        header_case("bad name encoding", b.p, b.len, "bad name");
        free(b.p);
        b = (struct buf){0};
        buf_add_crcline(&b, "diyctl-journal 1 nome=web");
        header_case("misspelt name", b.p, b.len, "no name");
        free(b.p);
        b = (struct buf){0};
        buf_adds(&b, "diyctl-journal 1 name=web\n");
        header_case("header without crc", b.p, b.len, "garbled");
        free(b.p);

        b = header("");
        struct dc_jcontent c;
        struct dc_error err = {0};
        int r = parse(&b, &c, &err);
        CHECK(r == 0 && c.name && c.name[0] == 0 && c.n == 0 && c.damaged_line == 0,
              "header: empty name and no records is a valid, empty journal");
        dc_jcontent_free(&c);
        free(b.p);
}

/* ---- every truncated prefix */

struct sim_entry {
        unsigned seq;
        size_t nkv;
        bool done, undone;
};

static void test_prefixes(void)
{
        struct buf b = header("prefix");
        size_t line_end[32];
        size_t nlines = 0;
        line_end[nlines++] = b.len;

        struct { unsigned seq; enum dc_rec_type t; const char *kind; int nkv; } script[] = {
                { 1, DC_REC_INTENT, "statedir", 1 },
                { 1, DC_REC_DONE, "statedir", 0 },
                { 2, DC_REC_INTENT, "sysctl", 3 },
                { 2, DC_REC_DONE, "sysctl", 1 },
                { 3, DC_REC_INTENT, "veth", 2 },
                { 4, DC_REC_INTENT, "addr", 2 },
                { 3, DC_REC_DONE, "veth", 1 },
                { 4, DC_REC_UNDONE, "addr", 0 },
                { 3, DC_REC_UNDONE, "veth", 0 },
                { 5, DC_REC_INTENT, "nft-rule", 3 },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(script); i++) {
                struct dc_kvs kv = {0};
                for (int k = 0; k < script[i].nkv; k++)
                        dc_kvs_addf(&kv, "k", "v %d\n%%=%zu", k, i);
                buf_add_rec(&b, script[i].seq, script[i].t, script[i].kind, &kv);
                dc_kvs_free(&kv);
                line_end[nlines++] = b.len;
        }

        int bad = 0, first_bad = -1;
        size_t cuts = 0;
        for (size_t cut = line_end[0]; cut <= b.len; cut++) {
                /* complete lines within the cut */
                size_t lines = 0;
                while (lines < nlines && line_end[lines] <= cut)
                        lines++;
                /* simulate the records of complete lines 2..lines */
                struct sim_entry sim[8];
                size_t ns = 0;
                for (size_t i = 0; i + 1 < lines; i++) {
                        if (script[i].t == DC_REC_INTENT) {
                                sim[ns++] = (struct sim_entry){ script[i].seq, (size_t)script[i].nkv, false, false };
                                continue;
                        }
                        for (size_t s = 0; s < ns; s++)
                                if (sim[s].seq == script[i].seq) {
                                        sim[s].nkv += (size_t)script[i].nkv;
                                        if (script[i].t == DC_REC_DONE)
                                                sim[s].done = true;
                                        else
                                                sim[s].undone = true;
                                }
                }
                bool at_boundary = line_end[lines - 1] == cut;

                struct dc_jcontent c;
                struct dc_error err = {0};
                int r = dc_journal_parse(b.p, cut, &c, &err);
                bool ok = r == 0 && c.n == ns && c.valid_len == line_end[lines - 1] &&
                          (at_boundary ? c.damaged_line == 0 && !c.torn
                                       : c.damaged_line == (int)lines + 1 && c.torn);
                for (size_t s = 0; ok && s < ns; s++)
                        ok = c.entries[s].seq == sim[s].seq && c.entries[s].kv.n == sim[s].nkv &&
                             c.entries[s].done == sim[s].done && c.entries[s].undone == sim[s].undone;
                if (!ok) {
                        bad++;
                        if (first_bad < 0) {
                                first_bad = (int)cut;
                                printf("# cut %zu: r=%d n=%zu (want %zu) damaged=%d torn=%d \"%s\"\n", cut, r, c.n,
                                       ns, c.damaged_line, c.torn, c.damage);
                        }
                }
                cuts++;
                dc_jcontent_free(&c);
        }
        CHECK(bad == 0, "prefixes: all %zu cuts keep every complete entry and report the torn line (first bad %d)",
              cuts, first_bad);
        free(b.p);
}

/* ---- single-byte corruption anywhere is caught at its own line */

static void test_corruption(void)
{
        struct buf b = header("corrupt");
        struct dc_kvs kv = kvs2("name", "ve-web", "mtu", "1500");
        buf_add_rec(&b, 1, DC_REC_INTENT, "veth", &kv);
        buf_add_rec(&b, 1, DC_REC_DONE, "veth", &kv);
        buf_add_rec(&b, 2, DC_REC_INTENT, "sysctl", &kv);
        buf_add_rec(&b, 2, DC_REC_UNDONE, "sysctl", NULL);
        dc_kvs_free(&kv);

        static const unsigned char xors[] = { 0x01, 0x02, 0x20, 0x80 };
        static const char sets[] = { '\n', '\0', ' ', '=', '%', '1' };
        int bad = 0, tried = 0;
        for (size_t off = 0; off < b.len; off++) {
                int line = 1;
                for (size_t i = 0; i < off; i++)
                        line += b.p[i] == '\n';
                int entries_before = line <= 2 ? 0 : line <= 4 ? 1 : 2;
                for (size_t m = 0; m < DC_ARRAY_SIZE(xors) + DC_ARRAY_SIZE(sets); m++) {
                        char orig = b.p[off];
                        char nv = m < DC_ARRAY_SIZE(xors) ? (char)(orig ^ xors[m])
                                                          : sets[m - DC_ARRAY_SIZE(xors)];
                        if (nv == orig)
                                continue;
                        b.p[off] = nv;
                        struct dc_jcontent c;
                        struct dc_error err = {0};
                        int r = parse(&b, &c, &err);
                        bool ok = line == 1 ? r == -EINVAL
                                            : r == 0 && c.damaged_line == line && (int)c.n == entries_before;
                        if (!ok && bad++ == 0)
                                printf("# offset %zu -> 0x%02x: r=%d line %d (want %d) n=%zu \"%s\"\n", off,
                                       (unsigned char)nv, r, c.damaged_line, line, c.n, c.damage);
                        tried++;
                        dc_jcontent_free(&c);
                        b.p[off] = orig;
                }
        }
        CHECK(bad == 0, "corruption: all %d single-byte changes detected at their own line", tried);
        free(b.p);
}

/* ---- files */

static void test_files(void)
{
        struct dc_error err = {0};
        struct dc_journal *j = NULL;
        _cleanup_free_ char *path = tmppath("journal");

        int r = dc_journal_create(path, "web", &j, &err);
        CHECK(r == 0 && j && j->fd >= 0 && j->next_seq == 1, "create: %s", err.msg);
        if (!j)
                return;
        struct stat st;
        CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "create: mode 0600");
        int fl = fcntl(j->fd, F_GETFL), fdfl = fcntl(j->fd, F_GETFD);
        CHECK((fl & O_APPEND) && (fl & O_ACCMODE) == O_WRONLY && (fdfl & FD_CLOEXEC),
              "create: fd is O_APPEND, write-only, close-on-exec");
        {
                struct buf h = header("web");
                _cleanup_free_ char *s = slurp(path);
                CHECK_STREQ(s, h.p, "create: the header is on disk");
                free(h.p);
        }

        struct dc_journal *j2 = NULL;
        struct dc_error err2 = {0};
        r = dc_journal_create(path, "other", &j2, &err2);
        CHECK(r == -EEXIST && j2 == NULL && strstr(err2.msg, "already exists") && strstr(err2.msg, path),
              "create: O_EXCL refuses an existing journal (%s)", err2.msg);
        dc_journal_close(j2);
        _cleanup_free_ char *s0 = slurp(path);
        CHECK(s0 && dc_startswith(s0, "diyctl-journal 1 name=web "), "create: the refused create left the file alone");

        struct dc_kvs kv = kvs2("path", "/run/diyctl/web x", "mode", "0755");
        unsigned seq = 0;
        r = dc_journal_intent(j, "statedir", &kv, &seq, &err);
        CHECK(r == 0 && seq == 1 && j->next_seq == 2, "intent: seq 1 (%s)", err.msg);
        struct dc_kvs dkv = kvs2("created", "1", NULL, NULL);
        r = dc_journal_done(j, 1, "statedir", &dkv, &err);
        CHECK(r == 0, "done: seq 1 (%s)", err.msg);
        r = dc_journal_intent(j, "sysctl", NULL, &seq, &err);
        CHECK(r == 0 && seq == 2, "intent: seq 2 with no fields");

        /* refusals write nothing and consume no seq */
        off_t size = file_size(path);
        struct dc_kvs badk = kvs2("Bad", "x", NULL, NULL);
        r = dc_journal_intent(j, "veth", &badk, &seq, &err);
        CHECK(r == -EINVAL && strstr(err.msg, "invalid key") && seq == 2, "intent: invalid key refused (%s)", err.msg);
        dc_kvs_free(&badk);
        r = dc_journal_intent(j, "Veth", NULL, &seq, &err);
        CHECK(r == -EINVAL && strstr(err.msg, "invalid record kind"), "intent: invalid kind refused (%s)", err.msg);
        char *big = dc_xmalloc(70000);
        memset(big, 'z', 69999);
        big[69999] = 0;
        struct dc_kvs bigkv = kvs2("v", big, NULL, NULL);
        free(big);
        r = dc_journal_intent(j, "veth", &bigkv, &seq, &err);
        CHECK(r == -E2BIG && strstr(err.msg, "too long"), "intent: over-long record refused (%s)", err.msg);
        r = dc_journal_done(j, 1, "statedir", &bigkv, &err);
        CHECK(r == -E2BIG, "done: over-long record refused");
        dc_kvs_free(&bigkv);
        r = dc_journal_done(j, 3, "veth", NULL, &err);
        CHECK(r == -EINVAL && strstr(err.msg, "no intent"), "done: seq never journaled refused (%s)", err.msg);
        r = dc_journal_undone(j, 0, "veth", &err);
        CHECK(r == -EINVAL, "undone: seq 0 refused");
        r = dc_journal_done(j, 2, "sys ctl", NULL, &err);
        CHECK(r == -EINVAL, "done: invalid kind refused");
        CHECK(file_size(path) == size && j->next_seq == 3, "refusals wrote nothing and used no seq");
        dc_journal_close(j);
        j = NULL;

        /* the bytes on disk are exactly the formatted lines */
        {
                struct buf want = header("web");
                buf_add_rec(&want, 1, DC_REC_INTENT, "statedir", &kv);
                buf_add_rec(&want, 1, DC_REC_DONE, "statedir", &dkv);
                buf_add_rec(&want, 2, DC_REC_INTENT, "sysctl", NULL);
                _cleanup_free_ char *s = slurp(path);
                CHECK_STREQ(s, want.p, "file holds exactly header + formatted lines");
                free(want.p);
        }

        struct dc_jcontent c;
        r = dc_journal_read(path, &c, &err);
        CHECK(r == 0 && c.damaged_line == 0 && c.n == 2, "read: two entries (%s)", err.msg);
        CHECK_STREQ(c.name, "web", "read: name");
        if (c.n == 2) {
                CHECK_STREQ(dc_kvs_get(&c.entries[0].kv, "path"), "/run/diyctl/web x", "read: field decoded");
                CHECK(c.entries[0].done && c.entries[0].kv.n == 3 && !c.entries[1].done,
                      "read: done merged, second entry only intended");
        }
        dc_jcontent_free(&c);

        /* open continues the sequence */
        r = dc_journal_open(path, &j, &err);
        CHECK(r == 0 && j && j->next_seq == 3, "open: next_seq 3 (%s)", err.msg);
        if (!j) {
                dc_kvs_free(&kv);
                dc_kvs_free(&dkv);
                return;
        }
        fl = fcntl(j->fd, F_GETFL);
        fdfl = fcntl(j->fd, F_GETFD);
        CHECK((fl & O_APPEND) && (fdfl & FD_CLOEXEC), "open: fd is O_APPEND and close-on-exec");
        r = dc_journal_intent(j, "veth", NULL, &seq, &err);
        CHECK(r == 0 && seq == 3, "open: intent gets seq 3");
        r = dc_journal_undone(j, 1, "statedir", &err);
        CHECK(r == 0, "open: undone for seq 1 (%s)", err.msg);
        r = dc_journal_undone(j, 3, "veth", &err);
        CHECK(r == 0, "open: undone for seq 3");
        dc_journal_close(j);
        j = NULL;
        r = dc_journal_read(path, &c, &err);
        CHECK(r == 0 && c.damaged_line == 0 && c.n == 3 && c.entries[0].undone && !c.entries[1].undone &&
              c.entries[2].undone && c.entries[2].seq == 3,
              "read after open: undone marks merged");
        dc_jcontent_free(&c);

        /* a torn last line is cut off by open, and the sequence continues */
        size = file_size(path);
        {
                _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
                ssize_t w = fd >= 0 ? write(fd, "4 intent ad", 11) : -1;
                CHECK(w == 11, "simulate a torn append");
        }
        r = dc_journal_read(path, &c, &err);
        CHECK(r == 0 && c.torn && c.damaged_line == 8 && c.n == 3, "read: torn line reported at line 8 (%d)", c.damaged_line);
        dc_jcontent_free(&c);
        r = dc_journal_open(path, &j, &err);
        CHECK(r == 0 && j && j->next_seq == 4 && file_size(path) == size,
              "open: torn line cut off (%s)", err.msg);
        if (j) {
                r = dc_journal_intent(j, "addr", NULL, &seq, &err);
                CHECK(r == 0 && seq == 4, "open: intent after the repair gets seq 4");
                dc_journal_close(j);
                j = NULL;
        }
        r = dc_journal_read(path, &c, &err);
        CHECK(r == 0 && c.damaged_line == 0 && c.n == 4 && c.entries[3].seq == 4,
              "read: repaired journal is intact with the new entry");
        dc_jcontent_free(&c);

        /* other damage: open refuses, file untouched */
        {
                struct buf d = header("dmg");
                buf_add_rec(&d, 1, DC_REC_INTENT, "a", NULL);
                buf_adds(&d, "2 intent b crc=00000000\n");
                buf_add_rec(&d, 3, DC_REC_INTENT, "c", NULL);
                _cleanup_free_ char *dp = tmppath("damaged");
                _cleanup_close_ int fd = open(dp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
                int w = fd >= 0 ? dc_write_all(fd, d.p, d.len) : -1;
                CHECK(w == 0, "write a damaged journal");
                r = dc_journal_open(dp, &j, &err);
                CHECK(r == -EBADMSG && j == NULL && strstr(err.msg, "line 3") && strstr(err.msg, "bad CRC"),
                      "open: mid-file damage refused (%s)", err.msg);
                CHECK(file_size(dp) == (off_t)d.len, "open: damaged file left alone");
                r = dc_journal_read(dp, &c, &err);
                CHECK(r == 0 && c.n == 1 && c.damaged_line == 3 && !c.torn,
                      "read: damaged journal gives the entries before the damage");
                dc_jcontent_free(&c);
                free(d.p);
        }

        /* errors */
        _cleanup_free_ char *missing = tmppath("missing");
        r = dc_journal_read(missing, &c, &err);
        CHECK(r == -ENOENT && strstr(err.msg, missing), "read: missing file -> -ENOENT (%s)", err.msg);
        r = dc_journal_open(missing, &j, &err);
        CHECK(r == -ENOENT && j == NULL, "open: missing file -> -ENOENT");
        _cleanup_free_ char *nodir = tmppath("no/such/dir/journal");
        r = dc_journal_create(nodir, "x", &j, &err);
        CHECK(r == -ENOENT && j == NULL && strstr(err.msg, "cannot create"), "create: missing dir (%s)", err.msg);
        _cleanup_free_ char *notj = tmppath("notjournal");
        {
                _cleanup_close_ int fd = open(notj, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
                int w = fd >= 0 ? dc_write_all(fd, "hello\n", 6) : -1;
                CHECK(w == 0, "write a non-journal");
        }
        r = dc_journal_read(notj, &c, &err);
        CHECK(r == -EINVAL && strstr(err.msg, notj) && strstr(err.msg, "not a diyctl journal"),
              "read: not a journal (%s)", err.msg);
        r = dc_journal_open(notj, &j, &err);
        CHECK(r == -EINVAL && j == NULL, "open: not a journal");
        {
                _cleanup_free_ char *empty = tmppath("empty");
                _cleanup_close_ int fd = open(empty, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
                r = dc_journal_read(empty, &c, &err);
                CHECK(fd >= 0 && r == -ENODATA && strstr(err.msg, "empty") && strstr(err.msg, empty),
                      "read: empty file is -ENODATA (%s)", err.msg);
        }
        {
                _cleanup_free_ char *v2 = tmppath("v2");
                struct buf d = {0};
                buf_add_crcline(&d, "diyctl-journal 2 name=x");
                _cleanup_close_ int fd = open(v2, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
                int w = fd >= 0 ? dc_write_all(fd, d.p, d.len) : -1;
                CHECK(w == 0, "write a version 2 journal");
                r = dc_journal_read(v2, &c, &err);
                CHECK(r == -EINVAL && strstr(err.msg, "unsupported journal version 2"), "read: version 2 (%s)", err.msg);
                free(d.p);
        }
        dc_kvs_free(&kv);
        dc_kvs_free(&dkv);
}

/* Relative path: the parent directory to fsync is ".". */
static void test_relative(void)
{
        char cwd[4096];
        struct dc_error err = {0};
        struct dc_journal *j = NULL;
        if (!getcwd(cwd, sizeof(cwd)) || chdir(tmpdir) < 0) {
                CHECK(false, "chdir to the temp dir");
                return;
        }
        int r = dc_journal_create("rel-journal", "rel", &j, &err);
        CHECK(r == 0 && j, "create with a relative path (%s)", err.msg);
        dc_journal_close(j);
        r = dc_journal_create("/", "root", &j, &err);
        CHECK(r < 0 && j == NULL, "create on / fails cleanly (%d)", r);
        r = chdir(cwd);
        CHECK(r == 0, "chdir back");
}

/* Write failures: bad fd, fdatasync failing (pipe), short write (RLIMIT_FSIZE). */
static void test_failures(void)
{
        struct dc_error err = {0};
        struct dc_journal *j = NULL;
        _cleanup_free_ char *path = tmppath("fail");
        unsigned seq = 0;
        if (dc_journal_create(path, "fail", &j, &err) < 0) {
                CHECK(false, "create for failure tests: %s", err.msg);
                return;
        }

        /* write() error: an fd open read-only */
        int saved = j->fd;
        j->fd = open(path, O_RDONLY | O_CLOEXEC);
        int r = dc_journal_intent(j, "a", NULL, &seq, &err);
        CHECK(r == -EBADF && strstr(err.msg, "write failed") && j->next_seq == 1 && !j->failed,
              "write error -> -EBADF, no seq used (%s)", err.msg);
        close(j->fd);
        j->fd = saved;
        r = dc_journal_intent(j, "a", NULL, &seq, &err);
        CHECK(r == 0 && seq == 1, "after a failed write() the journal still works");

        /* short write: the file size limit lets only part of the line in */
        struct rlimit old, lim;
        getrlimit(RLIMIT_FSIZE, &old);
        void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
        off_t size = file_size(path);
        lim = old;
        lim.rlim_cur = (rlim_t)size + 5;
        setrlimit(RLIMIT_FSIZE, &lim);
        r = dc_journal_intent(j, "short", NULL, &seq, &err);
        setrlimit(RLIMIT_FSIZE, &old);
        signal(SIGXFSZ, oldsig);
        CHECK(r == -EIO && strstr(err.msg, "short write") && seq == 1, "short write -> -EIO (%s)", err.msg);
        CHECK(file_size(path) == size && !j->failed, "short write: the partial line was cut off");
        r = dc_journal_intent(j, "after", NULL, &seq, &err);
        CHECK(r == 0 && seq == 2, "short write: the journal goes on with seq 2 (%s)", err.msg);
        struct dc_jcontent c;
        r = dc_journal_read(path, &c, &err);
        CHECK(r == 0 && c.damaged_line == 0 && c.n == 2 && dc_streq(c.entries[1].kind, "after"),
              "short write: the journal reads back intact");
        dc_jcontent_free(&c);

        /* create whose header cannot be written removes the file it made */
        _cleanup_free_ char *p2 = tmppath("fail2");
        struct dc_journal *j2 = NULL;
        lim = old;
        lim.rlim_cur = 0;
        oldsig = signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &lim);
        r = dc_journal_create(p2, "x", &j2, &err);
        setrlimit(RLIMIT_FSIZE, &old);
        signal(SIGXFSZ, oldsig);
        CHECK(r == -EFBIG && j2 == NULL && strstr(err.msg, "write failed"), "create: header write fails (%s)", err.msg);
        CHECK(file_size(p2) < 0 && errno == ENOENT, "create: failed create removed its file");
        dc_journal_close(j2);

        /* fdatasync failing (EINVAL on a pipe): journal refuses from then on */
        int p[2];
        if (pipe2(p, O_CLOEXEC) == 0) {
                saved = j->fd;
                j->fd = p[1];
                r = dc_journal_intent(j, "b", NULL, &seq, &err);
                CHECK(r == -EINVAL && strstr(err.msg, "fdatasync") && j->failed, "fdatasync failure reported (%s)", err.msg);
                char got[128] = {0};
                ssize_t n = read(p[0], got, sizeof(got) - 1);
                CHECK(n > 0 && dc_startswith(got, "3 intent b crc="), "the line was written before fdatasync");
                j->fd = saved;
                r = dc_journal_done(j, 1, "a", NULL, &err);
                CHECK(r == -EIO && strstr(err.msg, "unusable"), "after a failed fdatasync appends are refused (%s)", err.msg);
                close(p[0]);
                close(p[1]);
        }

        /* sequence exhaustion */
        j->failed = false;
        j->next_seq = UINT_MAX;
        r = dc_journal_intent(j, "last", NULL, &seq, &err);
        CHECK(r == 0 && seq == UINT_MAX && j->next_seq == 0, "intent with seq UINT_MAX");
        r = dc_journal_intent(j, "more", NULL, &seq, &err);
        CHECK(r == -EOVERFLOW, "intent after UINT_MAX refused");
        r = dc_journal_done(j, UINT_MAX, "last", NULL, &err);
        CHECK(r == 0, "done for seq UINT_MAX");
        dc_journal_close(j);
        j = NULL;
        r = dc_journal_read(path, &c, &err);
        CHECK(r == 0 && c.damaged_line == 0 && c.n == 3 && c.entries[2].seq == UINT_MAX && c.entries[2].done,
              "seq UINT_MAX reads back");
        dc_jcontent_free(&c);
        r = dc_journal_open(path, &j, &err);
        CHECK(r == 0 && j && j->next_seq == 0, "open after UINT_MAX: next_seq 0");
        if (j) {
                r = dc_journal_intent(j, "more", NULL, &seq, &err);
                CHECK(r == -EOVERFLOW, "open after UINT_MAX: intent refused");
        }
        dc_journal_close(j);
        dc_journal_close(NULL);
}

static void rm_rf_tmp(void)
{
        static const char *const names[] = { "journal", "damaged", "notjournal", "empty", "v2",
                                             "rel-journal", "fail", "fail2" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(names); i++) {
                char *p = tmppath(names[i]);
                unlink(p);
                free(p);
        }
        rmdir(tmpdir);
}


/* An exited container's record: dc_teardown_keep_record leaves its log and
 * status; the state reads as exited only once the journal is gone; a plain
 * teardown (stop, cleanup, the next start's) removes it all. */
static void touch(const char *dir, const char *name, const char *text)
{
        _cleanup_free_ char *p = dc_xasprintf("%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
                dc_write_all(fd, text, strlen(text));
                close(fd);
        }
}

static void make_state(const char *root, const char *name, bool exited_status)
{
        _cleanup_free_ char *dir = dc_xasprintf("%s/%s", root, name);
        _cleanup_free_ char *jp = dc_xasprintf("%s/journal", dir);
        _cleanup_free_ char *rd = dc_xasprintf("%s/root", dir);
        mkdir(root, 0755);
        mkdir(dir, 0711);
        mkdir(rd, 0755);
        struct dc_error err = { 0 };
        struct dc_journal *j = NULL;
        if (dc_journal_create(jp, name, &j, &err) < 0) {
                CHECK(false, "record: journal: %s", err.msg);
                return;
        }
        struct dc_kvs kv = { 0 };
        dc_kvs_add(&kv, "path", dir);
        unsigned seq;
        CHECK(dc_journal_intent(j, "statedir", &kv, &seq, &err) == 0 && dc_journal_done(j, seq, "statedir", NULL, &err) == 0,
              "record: statedir journaled: %s", err.msg);
        dc_kvs_free(&kv);
        dc_journal_close(j);
        touch(dir, "lock", "");
        touch(dir, "log", "out\n");
        touch(dir, "resolv.conf", "nameserver 192.0.2.1\n");
        touch(dir, "status", exited_status ? "name=job\nstate=exited\nstarted=10\nended=12\nexit_code=3\ndetached=1\n"
                                           : "name=job\nlauncher_pid=1\npid=2\nstarted=10\ndetached=1\n");
}

static void test_exited_record(void)
{
        _cleanup_free_ char *root = tmppath("state");
        _cleanup_free_ char *dir = dc_xasprintf("%s/job", root);
        struct dc_error err = { 0 };
        struct dc_state st;

        make_state(root, "job", true);
        CHECK(dc_state_read(root, "job", &st, &err) == 0 && !st.exited && !st.running,
              "record: with its journal left it is not exited (dead: the teardown is due)");
        dc_state_free(&st);
        int lock = -1;
        CHECK(dc_statedir_lock(dir, &lock, &err) == 0, "record: lock taken: %s", err.msg);
        CHECK(dc_state_read(root, "job", &st, &err) == 0 && st.running && st.stopping && !st.exited &&
                      st.exit_code == 3,
              "record: its launcher alive, it is stopping, with its exit code known");
        dc_state_free(&st);
        if (lock >= 0)
                close(lock);
        CHECK(dc_teardown_keep_record(dir, &err) == 0, "record: teardown keeping the record: %s", err.msg);
        struct stat sb;
        static const char *const gone[] = { "journal", "lock", "resolv.conf", "root", "status.tmp" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(gone); i++) {
                _cleanup_free_ char *p = dc_xasprintf("%s/%s", dir, gone[i]);
                CHECK(lstat(p, &sb) < 0 && errno == ENOENT, "record: %s removed", gone[i]);
        }
        _cleanup_free_ char *log = dc_xasprintf("%s/log", dir);
        _cleanup_free_ char *status = dc_xasprintf("%s/status", dir);
        CHECK(lstat(log, &sb) == 0 && sb.st_size == 4 && lstat(status, &sb) == 0, "record: log and status kept");
        CHECK(dc_state_read(root, "job", &st, &err) == 0 && st.exited && !st.running && !st.stopping &&
                      st.exit_code == 3 && st.ended == 12 && st.started == 10,
              "record: reads as exited, code 3, ended 12");
        dc_state_free(&st);
        /* stop and cleanup: a teardown with no journal removes the record */
        CHECK(dc_teardown(dir, &err) == 0 && lstat(dir, &sb) < 0 && errno == ENOENT, "record: teardown removes it: %s",
              err.msg);

        /* a plain teardown keeps nothing, exited status or not */
        make_state(root, "job", true);
        CHECK(dc_teardown(dir, &err) == 0 && lstat(dir, &sb) < 0 && errno == ENOENT,
              "record: a plain teardown removes everything: %s", err.msg);
        make_state(root, "job", false);
        CHECK(dc_state_read(root, "job", &st, &err) == 0 && !st.exited && st.exit_code == 0 && st.ended == 0,
              "record: a running container's status is not a record");
        dc_state_free(&st);
        CHECK(dc_teardown(dir, &err) == 0 && lstat(dir, &sb) < 0 && errno == ENOENT, "record: and is torn down");
        CHECK(dc_statedir_retire("relative/dir", &err) == -EINVAL, "record: retire wants an absolute path");
}

int main(void)
{
        setvbuf(stdout, NULL, _IOLBF, 0); /* keep TAP lines if a sanitizer aborts */
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-journal.XXXXXX");
        if (!mkdtemp(tmpdir)) {
                printf("Bail out! mkdtemp: %s\n", strerror(errno));
                return 1;
        }
        test_crc();
        test_format();
        test_roundtrip();
        test_merge();
        test_damage();
        test_header();
        test_prefixes();
        test_corruption();
        test_files();
        test_relative();
        test_failures();
        test_exited_record();
        rm_rf_tmp();
        return tap_done();
}
