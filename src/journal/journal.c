/* The journal: encoding, parsing and durable append. See journal.h for the
 * file format. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "diyctl/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/util.h"

#define MAGIC "diyctl-journal"
#define CRC_FIELD " crc="
#define CRC_SUFFIX_LEN 13 /* " crc=" and 8 hex digits */
#define MAX_FILE ((size_t)64 << 20)

static const char *const rec_names[] = {
        [DC_REC_INTENT] = "intent",
        [DC_REC_DONE] = "done",
        [DC_REC_UNDONE] = "undone",
};

/* ---- CRC-32 (IEEE, reflected polynomial 0xEDB88320), four bits at a time */

static const uint32_t crc_nibble[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
        0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
        0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

unsigned dc_crc32(const void *buf, size_t len)
{
        const unsigned char *p = buf;
        uint32_t crc = 0xffffffffu;
        for (size_t i = 0; i < len; i++) {
                crc ^= p[i];
                crc = (crc >> 4) ^ crc_nibble[crc & 15];
                crc = (crc >> 4) ^ crc_nibble[crc & 15];
        }
        return (unsigned)(crc ^ 0xffffffffu);
}

/* ---- names and values */

static bool name_chars_ok(const char *s, bool underscore)
{
        if (!s || !*s)
                return false;
        for (; *s; s++) {
                char c = *s;
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      (underscore && c == '_')))
                        return false;
        }
        return true;
}

bool dc_journal_kind_valid(const char *kind)
{
        return name_chars_ok(kind, false);
}

bool dc_journal_key_valid(const char *key)
{
        return name_chars_ok(key, true) && strcmp(key, "crc") != 0;
}

/* The bytes dc_pct_encode leaves alone, and '%' itself. */
static bool value_char_ok(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != 0 && strchr("._/:,@+-%", c));
}

/* ---- a growing string */

struct sbuf {
        char *p;
        size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 128;
                while (cap < b->len + n + 1)
                        cap *= 2;
                b->p = dc_xrealloc(b->p, cap);
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = 0;
}

static void sb_adds(struct sbuf *b, const char *s)
{
        sb_add(b, s, strlen(s));
}

static void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
        char tmp[64];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(tmp))
                abort(); /* only used for short numeric fields */
        sb_add(b, tmp, (size_t)n);
}

static void sb_add_value(struct sbuf *b, const char *key, const char *val)
{
        _cleanup_free_ char *enc = dc_pct_encode(val ? val : "");
        sb_adds(b, " ");
        sb_adds(b, key);
        sb_adds(b, "=");
        sb_adds(b, enc);
}

/* Append " crc=XXXXXXXX\n" covering everything so far; false when the
 * line is too long. */
static bool sb_finish_line(struct sbuf *b)
{
        sb_addf(b, CRC_FIELD "%08x\n", dc_crc32(b->p, b->len));
        return b->len <= DC_JOURNAL_MAX_LINE;
}

static int build_line(unsigned seq, enum dc_rec_type type, const char *kind,
                      const struct dc_kvs *kv, char **out, size_t *out_len, struct dc_error *err)
{
        *out = NULL;
        if (seq == 0)
                return dc_err(err, EINVAL, "journal: sequence number 0 is invalid");
        if ((unsigned)type >= DC_ARRAY_SIZE(rec_names))
                return dc_err(err, EINVAL, "journal: invalid record type %d", (int)type);
        if (!dc_journal_kind_valid(kind))
                return dc_err(err, EINVAL, "journal: invalid record kind \"%.64s\" (must match [a-z0-9-]+)",
                              kind ? kind : "(null)");
        for (size_t i = 0; kv && i < kv->n; i++)
                if (!dc_journal_key_valid(kv->v[i].key))
                        return dc_err(err, EINVAL,
                                      "journal: %s record: invalid key \"%.64s\" (must match [a-z0-9_-]+, not \"crc\")",
                                      kind, kv->v[i].key ? kv->v[i].key : "(null)");

        struct sbuf b = {0};
        sb_addf(&b, "%u ", seq);
        sb_adds(&b, rec_names[type]);
        sb_adds(&b, " ");
        sb_adds(&b, kind);
        for (size_t i = 0; kv && i < kv->n; i++)
                sb_add_value(&b, kv->v[i].key, kv->v[i].val);
        if (!sb_finish_line(&b)) {
                int r = dc_err(err, E2BIG, "journal: %s record %u too long (%zu bytes, at most %d)",
                               kind, seq, b.len, DC_JOURNAL_MAX_LINE);
                free(b.p);
                return r;
        }
        *out = b.p;
        *out_len = b.len;
        return 0;
}

char *dc_journal_format(unsigned seq, enum dc_rec_type type, const char *kind,
                        const struct dc_kvs *kv)
{
        char *line;
        size_t len = 0;
        if (build_line(seq, type, kind, kv, &line, &len, NULL) < 0)
                return NULL;
        return line;
}

static int build_header(const char *name, char **out, size_t *out_len, struct dc_error *err)
{
        struct sbuf b = {0};
        sb_addf(&b, MAGIC " %d", DC_JOURNAL_VERSION);
        sb_add_value(&b, "name", name);
        if (!sb_finish_line(&b)) {
                free(b.p);
                return dc_err(err, E2BIG, "journal: container name too long for the header");
        }
        *out = b.p;
        *out_len = b.len;
        return 0;
}

/* ---- parsing */

void dc_jcontent_free(struct dc_jcontent *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->entries[i].kind);
                dc_kvs_free(&c->entries[i].kv);
        }
        free(c->entries);
        free(c->name);
        memset(c, 0, sizeof(*c));
}

static void set_damage(struct dc_jcontent *c, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_damage(struct dc_jcontent *c, int line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->damage, sizeof(c->damage), fmt, ap);
        va_end(ap);
        c->damaged_line = line;
}

/* Where the next line ends. 0: found (*len excludes the newline), 1: no
 * newline before the end of the buffer, 2: longer than the maximum. */
enum { LINE_OK, LINE_TORN, LINE_LONG };
static int find_line(const char *p, size_t rem, size_t *len)
{
        size_t scan = rem < DC_JOURNAL_MAX_LINE ? rem : DC_JOURNAL_MAX_LINE;
        const char *nl = memchr(p, '\n', scan);
        if (!nl)
                return rem > DC_JOURNAL_MAX_LINE ? LINE_LONG : LINE_TORN;
        *len = (size_t)(nl - p);
        return LINE_OK;
}

static int hexdigit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Check the " crc=XXXXXXXX" at the end of a line (without its newline). On
 * success *body_len is the length of what the CRC covers. */
enum { CRC_OK, CRC_SYNTAX, CRC_MISMATCH };
static int check_crc(const char *p, size_t len, size_t *body_len, char *msg, size_t msgsz)
{
        if (len <= CRC_SUFFIX_LEN || memcmp(p + len - CRC_SUFFIX_LEN, CRC_FIELD, 5) != 0) {
                snprintf(msg, msgsz, "bad syntax: no crc field at the end");
                return CRC_SYNTAX;
        }
        uint32_t stored = 0;
        for (size_t i = len - 8; i < len; i++) {
                int h = hexdigit(p[i]);
                if (h < 0) {
                        snprintf(msg, msgsz, "bad syntax: crc is not 8 lowercase hex digits");
                        return CRC_SYNTAX;
                }
                stored = stored << 4 | (uint32_t)h;
        }
        *body_len = len - CRC_SUFFIX_LEN;
        uint32_t computed = dc_crc32(p, *body_len);
        if (stored != computed) {
                snprintf(msg, msgsz, "bad CRC (stored %08x, computed %08x)", (unsigned)stored,
                         (unsigned)computed);
                return CRC_MISMATCH;
        }
        return CRC_OK;
}

/* Split off the next token of a line whose fields are separated by single
 * spaces. *cur is NULL after the last token. 1: a token, 0: no more,
 * -1: an empty token (leading, trailing or doubled space). */
static int next_token(const char **cur, const char *end, const char **tok, size_t *toklen)
{
        const char *s = *cur;
        if (!s)
                return 0;
        const char *sp = memchr(s, ' ', (size_t)(end - s));
        const char *e = sp ? sp : end;
        if (e == s)
                return -1;
        *tok = s;
        *toklen = (size_t)(e - s);
        *cur = sp ? sp + 1 : NULL;
        return 1;
}

static bool parse_seq(const char *s, size_t n, unsigned *out)
{
        if (n == 0 || n > 10 || s[0] == '0')
                return false;
        unsigned long long v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v > UINT_MAX)
                return false;
        *out = (unsigned)v;
        return true;
}

static bool tok_is_name(const char *s, size_t n, bool underscore)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      (underscore && c == '_')))
                        return false;
        }
        return true;
}

/* Parse "key=value" into a decoded pair appended to kv (capacity *cap). */
static bool parse_field(const char *s, size_t n, struct dc_kvs *kv, size_t *cap, char *msg,
                        size_t msgsz)
{
        const char *eq = memchr(s, '=', n);
        if (!eq) {
                snprintf(msg, msgsz, "bad syntax: field \"%.*s\" has no '='", (int)(n > 40 ? 40 : n), s);
                return false;
        }
        size_t klen = (size_t)(eq - s);
        if (!tok_is_name(s, klen, true)) {
                snprintf(msg, msgsz, "bad syntax: invalid key \"%.*s\"", (int)(klen > 40 ? 40 : klen), s);
                return false;
        }
        if (klen == 3 && memcmp(s, "crc", 3) == 0) {
                snprintf(msg, msgsz, "bad syntax: reserved key crc before the end of the line");
                return false;
        }
        const char *v = eq + 1;
        size_t vlen = n - klen - 1;
        for (size_t i = 0; i < vlen; i++)
                if (!value_char_ok(v[i])) {
                        snprintf(msg, msgsz, "bad percent-encoding in value of %.*s: raw byte 0x%02x",
                                 (int)klen, s, (unsigned char)v[i]);
                        return false;
                }
        _cleanup_free_ char *raw = dc_xstrndup(v, vlen);
        char *val = dc_pct_decode(raw);
        if (!val) {
                snprintf(msg, msgsz, "bad percent-encoding in value of %.*s", (int)klen, s);
                return false;
        }
        if (kv->n == *cap) {
                *cap = *cap ? *cap * 2 : 4;
                kv->v = dc_xrealloc(kv->v, *cap * sizeof(*kv->v));
        }
        kv->v[kv->n].key = dc_xstrndup(s, klen);
        kv->v[kv->n].val = val;
        kv->n++;
        return true;
}

struct record {
        unsigned seq;
        enum dc_rec_type type;
        char *kind;
        struct dc_kvs kv;
};

static void record_clear(struct record *r)
{
        free(r->kind);
        dc_kvs_free(&r->kv);
        r->kind = NULL;
}

/* Parse one record line (newline and NUL-free, CRC already checked; body is
 * what the CRC covers). */
static bool parse_record(const char *body, size_t len, struct record *rec, char *msg, size_t msgsz)
{
        const char *cur = body, *end = body + len, *tok = NULL;
        size_t toklen = 0, cap = 0;
        int k;

        memset(rec, 0, sizeof(*rec));
        if (next_token(&cur, end, &tok, &toklen) != 1 || !parse_seq(tok, toklen, &rec->seq)) {
                snprintf(msg, msgsz, "bad syntax: no valid sequence number");
                return false;
        }
        if (next_token(&cur, end, &tok, &toklen) != 1) {
                snprintf(msg, msgsz, "bad syntax: no record type");
                return false;
        }
        size_t t;
        for (t = 0; t < DC_ARRAY_SIZE(rec_names); t++)
                if (strlen(rec_names[t]) == toklen && memcmp(rec_names[t], tok, toklen) == 0)
                        break;
        if (t == DC_ARRAY_SIZE(rec_names)) {
                snprintf(msg, msgsz, "bad syntax: unknown record type \"%.*s\"",
                         (int)(toklen > 40 ? 40 : toklen), tok);
                return false;
        }
        rec->type = (enum dc_rec_type)t;
        if (next_token(&cur, end, &tok, &toklen) != 1 || !tok_is_name(tok, toklen, false)) {
                snprintf(msg, msgsz, "bad syntax: missing or invalid kind");
                return false;
        }
        rec->kind = dc_xstrndup(tok, toklen);
        while ((k = next_token(&cur, end, &tok, &toklen)) == 1)
                if (!parse_field(tok, toklen, &rec->kv, &cap, msg, msgsz)) {
                        record_clear(rec);
                        return false;
                }
        if (k < 0) {
                snprintf(msg, msgsz, "bad syntax: empty field (stray space)");
                record_clear(rec);
                return false;
        }
        return true;
}

static struct dc_jentry *find_entry(struct dc_jcontent *c, unsigned seq)
{
        size_t lo = 0, hi = c->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c->entries[mid].seq == seq)
                        return &c->entries[mid];
                if (c->entries[mid].seq < seq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* Move rec's fields to the end of e's. */
static void move_fields(struct dc_kvs *dst, struct dc_kvs *src)
{
        if (src->n == 0)
                return;
        dst->v = dc_xrealloc(dst->v, (dst->n + src->n) * sizeof(*dst->v));
        memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
        dst->n += src->n;
        free(src->v);
        src->v = NULL;
        src->n = 0;
}

/* Merge one record into the content; false (and msg) on inconsistency. */
static bool apply_record(struct dc_jcontent *c, size_t *cap, struct record *rec, int line, char *msg,
                         size_t msgsz)
{
        struct dc_jentry *e = find_entry(c, rec->seq);
        if (rec->type == DC_REC_INTENT) {
                if (e) {
                        snprintf(msg, msgsz, "duplicate intent for seq %u (first at line %d)", rec->seq,
                                 e->line);
                        return false;
                }
                if (c->n > 0 && rec->seq < c->entries[c->n - 1].seq) {
                        snprintf(msg, msgsz, "intent seq %u out of order (after seq %u)", rec->seq,
                                 c->entries[c->n - 1].seq);
                        return false;
                }
                if (c->n == *cap) {
                        *cap = *cap ? *cap * 2 : 16;
                        c->entries = dc_xrealloc(c->entries, *cap * sizeof(*c->entries));
                }
                c->entries[c->n++] = (struct dc_jentry){
                        .seq = rec->seq,
                        .kind = DC_TAKE(rec->kind),
                        .kv = rec->kv,
                        .line = line,
                };
                rec->kv = (struct dc_kvs){0};
                return true;
        }
        if (!e) {
                snprintf(msg, msgsz, "%s for unknown seq %u", rec_names[rec->type], rec->seq);
                return false;
        }
        if (strcmp(e->kind, rec->kind) != 0) {
                snprintf(msg, msgsz, "%s for seq %u has kind %.60s, its intent has %.60s",
                         rec_names[rec->type], rec->seq, rec->kind, e->kind);
                return false;
        }
        move_fields(&e->kv, &rec->kv);
        if (rec->type == DC_REC_DONE)
                e->done = true;
        else
                e->undone = true;
        return true;
}

static int not_journal(struct dc_jcontent *out, struct dc_error *err, const char *why)
{
        dc_jcontent_free(out);
        return dc_err(err, EINVAL, "not a diyctl journal (%s)", why);
}

/* Empty, or the header's beginning without its newline: the creator died
 * before the header was durable, so nothing was ever journaled. */
static int no_header_yet(struct dc_jcontent *out, struct dc_error *err, const char *why)
{
        dc_jcontent_free(out);
        return dc_err(err, ENODATA, "not a diyctl journal (%s: nothing was journaled)", why);
}

static int parse_header(const char *buf, size_t len, struct dc_jcontent *out, size_t *hlen,
                        struct dc_error *err)
{
        static const char magic[] = MAGIC " ";
        const size_t mlen = sizeof(magic) - 1;
        char msg[200];

        if (len == 0)
                return no_header_yet(out, err, "empty file");
        if (len < mlen) {
                if (memcmp(buf, magic, len) == 0)
                        return no_header_yet(out, err, "header incomplete");
                return not_journal(out, err, "no header");
        }
        if (memcmp(buf, magic, mlen) != 0)
                return not_journal(out, err, "no header");

        /* The version first: another version may have another syntax. */
        size_t i = mlen;
        while (i < len && buf[i] >= '0' && buf[i] <= '9')
                i++;
        size_t vlen = i - mlen;
        if (i == len)
                return no_header_yet(out, err, "header incomplete");
        if (vlen == 0 || (buf[i] != ' ' && buf[i] != '\n'))
                return not_journal(out, err, "garbled version");
        if (!(vlen == 1 && buf[mlen] == '0' + DC_JOURNAL_VERSION)) {
                dc_jcontent_free(out);
                return dc_err(err, EINVAL, "unsupported journal version %.*s%s",
                              (int)(vlen > 20 ? 20 : vlen), buf + mlen, vlen > 20 ? "..." : "");
        }

        size_t ll;
        switch (find_line(buf, len, &ll)) {
        case LINE_TORN:
                return no_header_yet(out, err, "header incomplete");
        case LINE_LONG:
                return not_journal(out, err, "header line too long");
        default:
                break;
        }
        if (memchr(buf, 0, ll))
                return not_journal(out, err, "NUL byte in header");
        size_t body;
        switch (check_crc(buf, ll, &body, msg, sizeof(msg))) {
        case CRC_SYNTAX:
                return not_journal(out, err, "garbled header");
        case CRC_MISMATCH:
                return not_journal(out, err, "header CRC mismatch");
        default:
                break;
        }

        /* body is MAGIC " 1 name=VALUE" */
        static const char name_pfx[] = " name=";
        size_t p = mlen + vlen;
        if (body < p || body - p < sizeof(name_pfx) - 1 ||
            memcmp(buf + p, name_pfx, sizeof(name_pfx) - 1) != 0)
                return not_journal(out, err, "header has no name");
        p += sizeof(name_pfx) - 1;
        for (size_t k = p; k < body; k++)
                if (!value_char_ok(buf[k]))
                        return not_journal(out, err, "bad name in header");
        _cleanup_free_ char *raw = dc_xstrndup(buf + p, body - p);
        out->name = dc_pct_decode(raw);
        if (!out->name)
                return not_journal(out, err, "bad name in header");
        *hlen = ll + 1;
        return 0;
}

int dc_journal_parse(const char *buf, size_t len, struct dc_jcontent *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        if (!buf)
                len = 0;

        size_t pos = 0;
        int r = parse_header(buf, len, out, &pos, err);
        if (r < 0)
                return r;
        out->valid_len = pos;

        size_t cap = 0;
        int line = 1;
        char msg[sizeof(out->damage)];
        while (pos < len) {
                const char *p = buf + pos;
                size_t ll, body;
                if (line == INT_MAX) {
                        set_damage(out, line, "too many lines");
                        break;
                }
                line++;
                int k = find_line(p, len - pos, &ll);
                if (k == LINE_LONG) {
                        set_damage(out, line, "line longer than %d bytes", DC_JOURNAL_MAX_LINE);
                        break;
                }
                if (k == LINE_TORN) {
                        set_damage(out, line, "incomplete last line (torn write: no trailing newline)");
                        out->torn = true;
                        break;
                }
                if (memchr(p, 0, ll)) {
                        set_damage(out, line, "NUL byte in line");
                        break;
                }
                if (check_crc(p, ll, &body, msg, sizeof(msg)) != CRC_OK) {
                        set_damage(out, line, "%s", msg);
                        break;
                }
                struct record rec;
                if (!parse_record(p, body, &rec, msg, sizeof(msg))) {
                        set_damage(out, line, "%s", msg);
                        break;
                }
                bool ok = apply_record(out, &cap, &rec, line, msg, sizeof(msg));
                record_clear(&rec);
                if (!ok) {
                        set_damage(out, line, "%s", msg);
                        break;
                }
                pos += ll + 1;
                out->valid_len = pos;
        }
        return 0;
}

int dc_journal_read(const char *path, struct dc_jcontent *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_free_ char *buf = NULL;
        int r = dc_read_file(path, MAX_FILE, &buf);
        if (r == -EFBIG)
                return dc_err(err, EFBIG, "journal %s: larger than %zu MiB", path, MAX_FILE >> 20);
        if (r < 0)
                return dc_err(err, -r, "cannot read journal %s: %s", path, strerror(-r));
        r = dc_journal_parse(buf, (size_t)r, out, err);
        if (r < 0)
                return dc_err_wrap(err, "journal %s", path);
        return 0;
}

/* ---- durable append */

static int journal_append(struct dc_journal *j, const char *line, size_t len, struct dc_error *err)
{
        if (j->failed)
                return dc_err(err, EIO, "journal %s: unusable after an earlier write failure", j->path);
        ssize_t w;
        do
                w = write(j->fd, line, len);
        while (w < 0 && errno == EINTR);
        if (w < 0) {
                int e = errno;
                return dc_err(err, e, "journal %s: write failed: %s", j->path, strerror(e));
        }
        if ((size_t)w != len) {
                /* Cut the partial line off, or nothing appended later could
                 * ever be read back. */
                struct stat st;
                if (fstat(j->fd, &st) < 0 || st.st_size < w || ftruncate(j->fd, st.st_size - w) < 0 ||
                    fdatasync(j->fd) < 0)
                        j->failed = true;
                return dc_err(err, EIO, "journal %s: short write (%zd of %zu bytes; disk full?)",
                              j->path, w, len);
        }
        if (fdatasync(j->fd) < 0) {
                int e = errno;
                /* After a failed fdatasync the page cache may have dropped
                 * the line: appending more could leave a hole. */
                j->failed = true;
                return dc_err(err, e, "journal %s: fdatasync failed: %s", j->path, strerror(e));
        }
        return 0;
}

static int fsync_parent(const char *path, struct dc_error *err)
{
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = slash == path ? dc_xstrdup("/")
                                   : slash        ? dc_xstrndup(path, (size_t)(slash - path))
                                                  : dc_xstrdup(".");
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                return dc_err(err, e, "journal %s: cannot open its directory: %s", path, strerror(e));
        }
        if (fsync(fd) < 0 && errno != EINVAL) {
                int e = errno;
                return dc_err(err, e, "journal %s: fsync of its directory failed: %s", path, strerror(e));
        }
        return 0;
}

int dc_journal_create(const char *path, const char *name, struct dc_journal **out,
                      struct dc_error *err)
{
        *out = NULL;
        if (!path || !name)
                return dc_err(err, EINVAL, "journal: no path or name");
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        int r = build_header(name, &line, &len, err);
        if (r < 0)
                return r;

        _cleanup_close_ int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) {
                int e = errno;
                if (e == EEXIST)
                        return dc_err(err, e, "journal %s already exists", path);
                return dc_err(err, e, "cannot create journal %s: %s", path, strerror(e));
        }
        struct dc_journal tmp = { .fd = fd, .next_seq = 1, .path = (char *)path };
        r = journal_append(&tmp, line, len, err);
        if (r >= 0)
                r = fsync_parent(path, err);
        if (r < 0) {
                /* We made it (O_EXCL) and nothing was journaled yet. */
                (void)unlink(path);
                return r;
        }

        struct dc_journal *j = dc_xcalloc(1, sizeof(*j));
        j->fd = DC_TAKE_FD(fd);
        j->next_seq = 1;
        j->path = dc_xstrdup(path);
        *out = j;
        return 0;
}

/* Read the whole file behind fd (at most max bytes). */
static int read_fd(int fd, size_t max, char **out, size_t *out_len)
{
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = dc_xmalloc(cap);
        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                return -EFBIG;
                        cap *= 2;
                        buf = dc_xrealloc(buf, cap);
                }
                ssize_t r = pread(fd, buf + len, cap - len, (off_t)len);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        break;
                len += (size_t)r;
                if (len > max)
                        return -EFBIG;
        }
        *out = DC_TAKE(buf);
        *out_len = len;
        return 0;
}

int dc_journal_open(const char *path, struct dc_journal **out, struct dc_error *err)
{
        *out = NULL;
        _cleanup_close_ int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                return dc_err(err, e, "cannot open journal %s: %s", path, strerror(e));
        }
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_fd(fd, MAX_FILE, &buf, &len);
        if (r < 0)
                return dc_err(err, -r, "cannot read journal %s: %s", path, strerror(-r));

        struct dc_jcontent c;
        r = dc_journal_parse(buf, len, &c, err);
        if (r < 0)
                return dc_err_wrap(err, "journal %s", path);
        if (c.damaged_line && !c.torn) {
                r = dc_err(err, EBADMSG, "journal %s: line %d is damaged (%s); refusing to append after it",
                           path, c.damaged_line, c.damage);
                dc_jcontent_free(&c);
                return r;
        }
        if (c.torn && (ftruncate(fd, (off_t)c.valid_len) < 0 || fdatasync(fd) < 0)) {
                int e = errno;
                dc_jcontent_free(&c);
                return dc_err(err, e, "journal %s: cannot cut off its torn last line: %s", path,
                              strerror(e));
        }
        unsigned next = c.n ? c.entries[c.n - 1].seq + 1 : 1; /* 0 after UINT_MAX: intent refuses */
        dc_jcontent_free(&c);

        struct dc_journal *j = dc_xcalloc(1, sizeof(*j));
        j->fd = DC_TAKE_FD(fd);
        j->next_seq = next;
        j->path = dc_xstrdup(path);
        *out = j;
        return 0;
}

void dc_journal_close(struct dc_journal *j)
{
        if (!j)
                return;
        if (j->fd >= 0)
                close(j->fd);
        free(j->path);
        free(j);
}


int dc_journal_intent(struct dc_journal *j, const char *kind, const struct dc_kvs *kv,
                      unsigned *seq, struct dc_error *err)
{
        if (j->next_seq == 0)
                return dc_err(err, EOVERFLOW, "journal %s: sequence numbers exhausted", j->path);
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        int r = build_line(j->next_seq, DC_REC_INTENT, kind, kv, &line, &len, err);
        if (r < 0)
                return r;
        r = journal_append(j, line, len, err);
        if (r < 0)
                return r;
        /* DIYCTL_FAULT=KIND:intent: once the intent of the first step of that
         * kind is on disk, before it changes anything, so tests can check that
         * undoing a change that never happened is harmless */
        dc_fault_point("%s:intent", kind);
        if (seq)
                *seq = j->next_seq;
        j->next_seq++;
        return 0;
}

static int append_outcome(struct dc_journal *j, unsigned seq, enum dc_rec_type type,
                          const char *kind, const struct dc_kvs *kv, struct dc_error *err)
{
        if (seq == 0 || (j->next_seq != 0 && seq >= j->next_seq))
                return dc_err(err, EINVAL, "journal %s: %s for seq %u, which has no intent",
                              j->path, rec_names[type], seq);
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        int r = build_line(seq, type, kind, kv, &line, &len, err);
        if (r < 0)
                return r;
        return journal_append(j, line, len, err);
}

int dc_journal_done(struct dc_journal *j, unsigned seq, const char *kind,
                    const struct dc_kvs *kv, struct dc_error *err)
{
        return append_outcome(j, seq, DC_REC_DONE, kind, kv, err);
}

int dc_journal_undone(struct dc_journal *j, unsigned seq, const char *kind,
                      struct dc_error *err)
{
        return append_outcome(j, seq, DC_REC_UNDONE, kind, NULL, err);
}
