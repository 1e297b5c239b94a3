/* libFuzzer harness for the journal parser.
 *
 * Beyond "no crash, no leak, no out-of-bounds read", it checks properties:
 *  - a rejected input leaves the content empty;
 *  - entries are in strictly increasing seq order, damage is reported
 *    consistently, and valid_len is the end of the last good line;
 *  - the intact prefix (valid_len bytes) parses to the same entries without
 *    damage;
 *  - re-encoding the entries with dc_journal_format and parsing again gives
 *    the same entries back.
 * Each input is parsed twice: as it is, and with the CRC of every line that
 * has a crc field recomputed, so mutations get past the CRC check and reach
 * the syntax and merge logic.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *          src/util/util.c src/util/error.c src/util/kv.c src/journal/journal.c \
 *          tests/fuzz/fuzz-journal.c -o fuzz-journal
 * Run:   ./fuzz-journal tests/fuzz/corpus-journal */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diyctl/journal.h"
#include "diyctl/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                          \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
                        abort();                                               \
                }                                                              \
        } while (0)

static bool same_entries(const struct dc_jcontent *a, const struct dc_jcontent *b, bool flags)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++) {
                const struct dc_jentry *x = &a->entries[i], *y = &b->entries[i];
                if (x->seq != y->seq || strcmp(x->kind, y->kind) != 0 || x->kv.n != y->kv.n)
                        return false;
                if (flags && (x->done != y->done || x->undone != y->undone || x->line != y->line))
                        return false;
                for (size_t k = 0; k < x->kv.n; k++)
                        if (strcmp(x->kv.v[k].key, y->kv.v[k].key) != 0 ||
                            strcmp(x->kv.v[k].val, y->kv.v[k].val) != 0)
                                return false;
        }
        return true;
}

static void add(char **buf, size_t *len, const char *s)
{
        size_t n = strlen(s);
        *buf = dc_xrealloc(*buf, *len + n + 1);
        memcpy(*buf + *len, s, n + 1);
        *len += n;
}

/* Encoded length of an intent line holding all of e's fields. */
static size_t intent_len(const struct dc_jentry *e)
{
        size_t n = 10 + 8 + strlen(e->kind) + 14;
        for (size_t k = 0; k < e->kv.n; k++) {
                char *v = dc_pct_encode(e->kv.v[k].val);
                n += 2 + strlen(e->kv.v[k].key) + strlen(v);
                free(v);
        }
        return n;
}

static void check_reencode(const struct dc_jcontent *c)
{
        /* header, by hand: the writer's header builder is not exported */
        char *enc = dc_pct_encode(c->name);
        char *body = dc_xasprintf("diyctl-journal 1 name=%s", enc);
        char *hdr = dc_xasprintf("%s crc=%08x\n", body, dc_crc32(body, strlen(body)));
        free(body);
        free(enc);
        if (strlen(hdr) > DC_JOURNAL_MAX_LINE) {
                free(hdr);
                return;
        }
        char *buf = NULL;
        size_t len = 0;
        add(&buf, &len, hdr);
        free(hdr);
        for (size_t i = 0; i < c->n; i++) {
                const struct dc_jentry *e = &c->entries[i];
                char *l = dc_journal_format(e->seq, DC_REC_INTENT, e->kind, &e->kv);
                if (!l) {
                        /* only refused when merged fields got too long */
                        REQUIRE(intent_len(e) > DC_JOURNAL_MAX_LINE - 20);
                        free(buf);
                        return;
                }
                add(&buf, &len, l);
                free(l);
                if (e->done) {
                        l = dc_journal_format(e->seq, DC_REC_DONE, e->kind, NULL);
                        REQUIRE(l);
                        add(&buf, &len, l);
                        free(l);
                }
                if (e->undone) {
                        l = dc_journal_format(e->seq, DC_REC_UNDONE, e->kind, NULL);
                        REQUIRE(l);
                        add(&buf, &len, l);
                        free(l);
                }
        }
        struct dc_jcontent again;
        struct dc_error err = {0};
        int r = dc_journal_parse(buf, len, &again, &err);
        REQUIRE(r == 0);
        REQUIRE(again.damaged_line == 0);
        REQUIRE(strcmp(again.name, c->name) == 0);
        REQUIRE(same_entries(c, &again, false));
        for (size_t i = 0; i < c->n; i++)
                REQUIRE(again.entries[i].done == c->entries[i].done &&
                        again.entries[i].undone == c->entries[i].undone);
        dc_jcontent_free(&again);
        free(buf);
}

/* Rewrite " crc=XXXXXXXX" at the end of every newline-terminated line. */
static void fix_crcs(char *buf, size_t size)
{
        size_t start = 0;
        for (size_t i = 0; i < size; i++) {
                if (buf[i] != '\n')
                        continue;
                size_t len = i - start;
                if (len > 13 && memcmp(buf + i - 13, " crc=", 5) == 0) {
                        char hex[9];
                        snprintf(hex, sizeof(hex), "%08x", dc_crc32(buf + start, len - 13));
                        memcpy(buf + i - 8, hex, 8);
                }
                start = i + 1;
        }
}

static void check_one(char *buf, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* exact-size copies, so ASan sees any read past the end */
        char *buf = size ? dc_xmalloc(size) : NULL;
        if (size)
                memcpy(buf, data, size);
        check_one(buf, size);
        if (size) {
                fix_crcs(buf, size);
                check_one(buf, size);
        }
        free(buf);
        return 0;
}

static void check_one(char *buf, size_t size)
{

        struct dc_jcontent c;
        struct dc_error err = {0};
        int r = dc_journal_parse(buf, size, &c, &err);
        if (r < 0) {
                REQUIRE(r == -EINVAL || r == -ENODATA);
                REQUIRE(r != -ENODATA || size == 0 || !memchr(buf, '\n', size));
                REQUIRE(c.n == 0 && c.entries == NULL && c.name == NULL);
                REQUIRE(err.msg[0] != 0);
                return;
        }
        REQUIRE(r == 0 && c.name);
        REQUIRE(c.valid_len <= size);
        REQUIRE((c.damaged_line == 0) == (c.valid_len == size));
        REQUIRE((c.damaged_line == 0) == (c.damage[0] == 0));
        REQUIRE(!c.torn || c.damaged_line > 0);
        for (size_t i = 0; i < c.n; i++) {
                REQUIRE(c.entries[i].kind && dc_journal_kind_valid(c.entries[i].kind));
                REQUIRE(c.entries[i].seq > 0);
                REQUIRE(i == 0 || c.entries[i - 1].seq < c.entries[i].seq);
                REQUIRE(c.entries[i].line >= 2 && (c.damaged_line == 0 || c.entries[i].line < c.damaged_line));
                for (size_t k = 0; k < c.entries[i].kv.n; k++)
                        REQUIRE(dc_journal_key_valid(c.entries[i].kv.v[k].key) && c.entries[i].kv.v[k].val);
        }

        /* the intact prefix parses to the same thing, without damage */
        if (c.damaged_line) {
                struct dc_jcontent p;
                REQUIRE(dc_journal_parse(buf, c.valid_len, &p, &err) == 0);
                REQUIRE(p.damaged_line == 0 && p.valid_len == c.valid_len);
                REQUIRE(same_entries(&c, &p, true));
                dc_jcontent_free(&p);
        }

        check_reencode(&c);
        dc_jcontent_free(&c);
}
