/* Parse a container config with libconfig into a struct dc_config.
 *
 * The flow: libconfig reads the text (with @include) into a tree; --set
 * overrides are grafted into that tree, replacing whole settings; then one
 * walk over the tree checks every key against the key table (keys.c), checks
 * its type and value, and fills the struct. Every value keeps its origin.
 *
 * libconfig 1.5 notes (Debian 12):
 * - @include paths are opened relative to the include directory, which we
 *   set to the top file's directory. 1.5 has no include hook, so nested
 *   includes also resolve relative to the top file's directory (not the
 *   including fragment's), and absolute @include paths do not work (1.5
 *   prepends the include directory to them too).
 * - Settings from an included file record the include path as written
 *   ("common/net.conf"), relative to the top file's directory; we show it
 *   joined to the top file's directory as the user gave it.
 * - Integer literals that do not fit in 32 bits (without an L suffix) are
 *   silently wrapped by 1.5. We scan the texts for such literals and report
 *   them instead of using a wrong value (see prescan()).
 * - When its parser fails on a string token, 1.5 leaks that string; we never
 *   let it see a string where its grammar allows none (see load()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "diyctl/config.h"
#include "diyctl/host.h"
#include "diyctl/fs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "diyctl/security.h"

/* Largest config file (or fragment) we read. */
#define DC_CONFIG_MAX_SIZE (4u << 20)

/* The hook of every setting created by a --set override points here, so its
 * origin is "--set" and relative paths in it are relative to the cwd. */
static char set_marker;

/* An integer literal libconfig 1.5 would store wrongly (see prescan). */
struct bad_int {
        const char *file; /* interned display name */
        int line;
        long long stored; /* what libconfig stores instead */
        bool is64;        /* written with an L suffix */
        char lit[48];
};

struct loader {
        struct dc_config *c;
        struct dc_error *err;
        /* Errors of single keys, in file order: a key's error does not stop
         * the walk (check shows them all at once); what looks at several keys
         * together runs only when there was none. */
        struct dc_strv errs;
        size_t n_errs;
        int first_code;
        const char *top;     /* interned top file name, as given */
        char *dir_given;     /* dirname of the top file, as given */
        char *cwd;           /* absolute, NULL when unknown */
        struct bad_int *bad;
        size_t n_bad;
};

static void loader_done(struct loader *l)
{
        dc_strv_free(&l->errs);
        free(l->dir_given);
        free(l->cwd);
        free(l->bad);
}

/* ---- small string helpers ---------------------------------------------- */

/* A value for an error message: bare when it is plain printable text, else
 * quoted with C escapes; long values are cut. */
static const char *show(char *buf, size_t size, const char *s)
{
        bool plain = *s != 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\')
                        plain = false;
        size_t o = 0, max = size - 8; /* room for an escape, "..." and the quote */
        if (!plain)
                buf[o++] = '"';
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (o >= max) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                if (plain) {
                        buf[o++] = (char)*p;
                } else if (*p == '"' || *p == '\\') {
                        buf[o++] = '\\';
                        buf[o++] = (char)*p;
                } else if (*p == '\n') {
                        buf[o++] = '\\';
                        buf[o++] = 'n';
                } else if (*p == '\t') {
                        buf[o++] = '\\';
                        buf[o++] = 't';
                } else if (*p < ' ' || *p == 0x7f) {
                        o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
                } else {
                        buf[o++] = (char)*p;
                }
        }
        if (!plain)
                buf[o++] = '"';
        buf[o] = 0;
        return buf;
}
#define SHOW(s) show((char[160]){ 0 }, 160, (s))

/* Optimal string alignment distance, for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
        size_t n = strlen(a), m = strlen(b);
        if (n > 64 || m > 64)
                return SIZE_MAX;
        size_t d[65][65];
        for (size_t i = 0; i <= n; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= m; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= n; i++)
                for (size_t j = 1; j <= m; j++) {
                        size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
                        size_t v = d[i - 1][j] + 1;
                        if (d[i][j - 1] + 1 < v)
                                v = d[i][j - 1] + 1;
                        if (d[i - 1][j - 1] + cost < v)
                                v = d[i - 1][j - 1] + cost;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                            d[i - 2][j - 2] + 1 < v)
                                v = d[i - 2][j - 2] + 1;
                        d[i][j] = v;
                }
        return d[n][m];
}

/* Directory part of a path as written: "." when there is none. */
static char *dir_of(const char *path)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                return dc_xstrdup(".");
        while (slash > path && slash[-1] == '/')
                slash--;
        if (slash == path)
                return dc_xstrdup("/");
        return dc_xstrndup(path, (size_t)(slash - path));
}

static const char *intern(struct dc_config *c, const char *s)
{
        for (size_t i = 0; i < c->files.n; i++)
                if (strcmp(c->files.v[i], s) == 0)
                        return c->files.v[i];
        dc_strv_push(&c->files, s);
        return c->files.v[c->files.n - 1];
}

/* ---- origins and errors -------------------------------------------------- */

static bool from_set(const config_setting_t *s)
{
        return config_setting_get_hook(s) == &set_marker;
}

/* Display name of a file libconfig recorded (NULL: the top file). */
static const char *file_display(struct loader *l, const char *f)
{
        if (!f)
                return l->top;
        if (f[0] == '/' || strcmp(l->dir_given, ".") == 0)
                return intern(l->c, f);
        size_t n = strlen(l->dir_given);
        _cleanup_free_ char *j = dc_xasprintf("%s%s%s", l->dir_given,
                                              n && l->dir_given[n - 1] == '/' ? "" : "/", f);
        return intern(l->c, j);
}

static struct dc_origin origin_of(struct loader *l, const config_setting_t *s)
{
        if (from_set(s))
                return (struct dc_origin){ intern(l->c, "--set"), 0 };
        return (struct dc_origin){ file_display(l, config_setting_source_file(s)),
                                   (int)config_setting_source_line(s) };
}

__attribute__((format(printf, 4, 5)))
static int err_at(struct loader *l, const config_setting_t *s, const char *key, const char *fmt, ...)
{
        char body[1536];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof(body), fmt, ap);
        va_end(ap);
        struct dc_origin o = origin_of(l, s);
        return dc_err_at(l->err, &o, key, "%s", body);
}

/* The directory relative paths in setting S are relative to. */
static char *base_dir(struct loader *l, const config_setting_t *s)
{
        if (from_set(s))
                return dc_xstrdup(l->cwd); /* known when there are --set overrides */
        const char *f = config_setting_source_file(s);
        if (!f)
                return dc_xstrdup(l->c->dir);
        _cleanup_free_ char *d = dir_of(f);
        return dc_path_join(l->c->dir, d);
}

static const char *type_name(const config_setting_t *s)
{
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_GROUP: return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return "an integer";
        case CONFIG_TYPE_FLOAT: return "a floating-point number";
        case CONFIG_TYPE_STRING: return "a string";
        case CONFIG_TYPE_BOOL: return "a boolean";
        case CONFIG_TYPE_ARRAY: return "an array";
        case CONFIG_TYPE_LIST: return "a list";
        default: return "nothing";
        }
}

/* What a setting holds, for "expected X, got Y": a scalar with its value,
 * so the user sees which one was read ("yes" (a string), 1.5 (a
 * floating-point number)); a group, an array or a list by its kind. */
static const char *got(char *buf, size_t size, const config_setting_t *s)
{
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_STRING: {
                const char *v = config_setting_get_string(s);
                char shown[160];
                show(shown, sizeof(shown), v ? v : "");
                snprintf(buf, size, shown[0] == '"' ? "%s (a string)" : "\"%s\" (a string)", shown);
                return buf;
        }
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                snprintf(buf, size, "%lld (an integer)", config_setting_get_int64(s));
                return buf;
        case CONFIG_TYPE_FLOAT: {
                char num[64];
                snprintf(num, sizeof(num), "%g", config_setting_get_float(s));
                snprintf(buf, size, "%s%s (a floating-point number)", num, strpbrk(num, ".eEn") ? "" : ".0");
                return buf;
        }
        case CONFIG_TYPE_BOOL:
                snprintf(buf, size, "%s (a boolean)", config_setting_get_bool(s) ? "true" : "false");
                return buf;
        default:
                return type_name(s);
        }
}
#define GOT(s) got((char[192]){ 0 }, 192, (s))

static bool is_int(const config_setting_t *s)
{
        return config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
}

/* ---- integer literals libconfig 1.5 gets wrong --------------------------- */

static void add_bad_int(struct loader *l, const char *file, int line, long long stored, bool is64,
                        const char *lit, size_t n)
{
        l->bad = dc_xrealloc(l->bad, (l->n_bad + 1) * sizeof(*l->bad));
        struct bad_int *b = &l->bad[l->n_bad++];
        b->file = file;
        b->line = line;
        b->stored = stored;
        b->is64 = is64;
        if (n >= sizeof(b->lit))
                n = sizeof(b->lit) - 1;
        memcpy(b->lit, lit, n);
        b->lit[n] = 0;
}

/* Check one number token: does libconfig 1.5 store something other than
 * what is written? Decimal literals are read with strtoll and, without an
 * L suffix, cast to int; hexadecimal ones with strtoull. */
static void check_number(struct loader *l, const char *file, int line, const char *tok, size_t n)
{
        char buf[128];
        if (n >= sizeof(buf))
                n = sizeof(buf) - 1;
        memcpy(buf, tok, n);
        buf[n] = 0;
        size_t len = n;
        bool is64 = false;
        while (len > 0 && buf[len - 1] == 'L') {
                is64 = true;
                buf[--len] = 0;
        }
        const char *digits = buf + (buf[0] == '-' || buf[0] == '+');
        bool hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
        if (hex) {
                if (digits != buf || !digits[2] || strspn(digits + 2, "0123456789abcdefABCDEF") != strlen(digits + 2))
                        return;
                errno = 0;
                unsigned long long v = strtoull(digits, NULL, 16);
                bool range = errno == ERANGE;
                if (is64 && (range || v > (unsigned long long)LLONG_MAX))
                        add_bad_int(l, file, line, (long long)v, true, tok, n);
                else if (!is64 && (range || v > INT_MAX))
                        add_bad_int(l, file, line, (int)v, false, tok, n);
                return;
        }
        if (!digits[0] || strspn(digits, "0123456789") != strlen(digits))
                return; /* a float, or not a number at all */
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        bool range = errno == ERANGE;
        if (is64 && range)
                add_bad_int(l, file, line, v, true, tok, n);
        else if (!is64 && (range || v < INT_MIN || v > INT_MAX))
                add_bad_int(l, file, line, (int)v, false, tok, n);
}

/* A lexer for libconfig syntax, just enough to find number tokens, strings
 * and @include directives as libconfig's scanner does. */
enum tok_kind { TK_END, TK_STRING, TK_NUMBER, TK_WORD, TK_PUNCT, TK_INCLUDE, TK_OTHER };

struct token {
        enum tok_kind kind;
        const char *start; /* where the token (or directive) starts */
        const char *s;     /* TK_INCLUDE: the file name, without quotes */
        size_t n;
        int line;
};

struct lexer {
        const char *p;
        int line;
        bool line_start; /* only blanks since the last newline */
};

/* The closing quote (or the end of the text) of a string whose opening quote
 * is at P, with backslash escapes as libconfig's scanner has them; counts
 * newlines. */
static const char *string_end(const char *p, int *line)
{
        p++;
        while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                        p++;
                if (*p == '\n')
                        (*line)++;
                p++;
        }
        return p;
}

static void lex_next(struct lexer *lx, struct token *t)
{
        const char *p = lx->p;
        for (;;) {
                if (*p == '\n') {
                        lx->line++;
                        lx->line_start = true;
                        p++;
                } else if (isspace((unsigned char)*p)) {
                        p++;
                } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
                        while (*p && *p != '\n')
                                p++;
                } else if (p[0] == '/' && p[1] == '*') {
                        p += 2;
                        while (*p && !(p[0] == '*' && p[1] == '/')) {
                                if (*p == '\n')
                                        lx->line++;
                                p++;
                        }
                        if (*p)
                                p += 2;
                        lx->line_start = false;
                } else if (lx->line_start && strncmp(p, "@include", 8) == 0 && (p[8] == ' ' || p[8] == '\t')) {
                        const char *q = p + 8;
                        while (*q == ' ' || *q == '\t')
                                q++;
                        if (*q != '"')
                                break; /* "@" is garbage then */
                        /* The file name is scanned like a string. */
                        t->kind = TK_INCLUDE;
                        t->start = p;
                        t->line = lx->line;
                        t->s = q + 1;
                        const char *e = string_end(q, &lx->line);
                        t->n = (size_t)(e - t->s);
                        lx->p = *e ? e + 1 : e;
                        lx->line_start = false;
                        return;
                } else {
                        break;
                }
        }
        lx->line_start = false;
        t->start = t->s = p;
        t->line = lx->line;
        if (!*p) {
                t->kind = TK_END;
                t->n = 0;
        } else if (*p == '"') {
                t->kind = TK_STRING;
                p = string_end(p, &lx->line);
                if (*p)
                        p++;
        } else if (isalpha((unsigned char)*p) || *p == '*') {
                t->kind = TK_WORD;
                while (isalnum((unsigned char)*p) || *p == '*' || *p == '_' || *p == '-')
                        p++;
        } else if (isdigit((unsigned char)*p) ||
                   ((*p == '-' || *p == '+' || *p == '.') && (isdigit((unsigned char)p[1]) || p[1] == '.'))) {
                t->kind = TK_NUMBER;
                p++;
                while (isalnum((unsigned char)*p) || *p == '.' ||
                       ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E')))
                        p++;
        } else {
                t->kind = strchr("=:;,{}[]()", *p) ? TK_PUNCT : TK_OTHER;
                p++;
        }
        t->n = (size_t)(p - t->s);
        lx->p = p;
}

/* What the prescan found first: a string where libconfig's grammar allows
 * none. libconfig 1.5 leaks the string's buffer when a syntax error happens
 * on a string token, so we never let it see one (see load()). */
struct misplaced {
        const char *file; /* interned display name; NULL: none found */
        int line;
        int depth;        /* 0: in the top text */
        size_t offset;    /* in the text it was found in */
        /* In a fragment: the @include of the top text that leads to it. */
        size_t top_offset;
        int top_line;
};

#define DC_MAX_INCLUDE_DEPTH 10 /* libconfig's limit */
#define DC_MAX_INCLUDES 256

/* An @include file name as libconfig reads it: backslash escapes a quote
 * or a backslash. */
static char *unescape_include(const char *s, size_t n)
{
        char *out = dc_xmalloc(n + 1), *o = out;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\\'))
                        i++;
                *o++ = s[i];
        }
        *o = 0;
        return out;
}

/* The parser's view while prescanning: included files continue the token
 * stream of the including file, as they do in libconfig. */
struct scan_state {
        enum tok_kind prev;
        char prev_punct;
        char *stack; /* open brackets */
        size_t n, cap;
        struct misplaced mis;
        int *lines;  /* the line of each open bracket */
        size_t inc_offset; /* the @include of the top text being followed */
        int inc_line;
        unsigned includes; /* files read so far */
        /* The first @include libconfig must not open (a directory makes its
         * scanner exit the process), with why. */
        const char *bad_inc_file;
        int bad_inc_line;
        char bad_inc[400];
        /* The first fragment that leaves a bracket open: where, and which. */
        const char *unclosed_file;
        int unclosed_line;
        char unclosed;
        /* The files being read, top first: an @include cycle. */
        struct stat chain[DC_MAX_INCLUDE_DEPTH + 1];
        int chain_n;
};

__attribute__((format(printf, 4, 5)))
static void bad_include(struct scan_state *st, const char *file, int line, const char *fmt, ...)
{
        if (st->bad_inc_file)
                return;
        st->bad_inc_file = file;
        st->bad_inc_line = line;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->bad_inc, sizeof(st->bad_inc), fmt, ap);
        va_end(ap);
}

/* Scan TEXT (shown as FILE): record integer literals libconfig 1.5 would
 * store wrongly, find the first misplaced string, and follow @include
 * directives the way libconfig does (relative to the top file's directory). */
static void prescan(struct loader *l, const char *text, const char *file, int depth, struct scan_state *st)
{
        struct lexer lx = { .p = text, .line = 1, .line_start = true };
        size_t open_at_start = st->n;
        for (;;) {
                struct token t;
                lex_next(&lx, &t);
                if (t.kind == TK_END)
                        break;
                switch (t.kind) {
                case TK_NUMBER:
                        check_number(l, file, t.line, t.s, t.n);
                        break;
                case TK_STRING: {
                        bool ok = st->prev == TK_STRING ||
                                  (st->prev == TK_PUNCT &&
                                   (strchr("=:[(", st->prev_punct) ||
                                    (st->prev_punct == ',' && st->n > 0 && strchr("[(", st->stack[st->n - 1]))));
                        if (!ok && !st->mis.file)
                                st->mis = (struct misplaced){ file, t.line, depth, (size_t)(t.s - text),
                                                              st->inc_offset, st->inc_line };
                        break;
                }
                case TK_PUNCT:
                        if (strchr("{[(", *t.s)) {
                                if (st->n == st->cap) {
                                        st->cap = st->cap ? st->cap * 2 : 16;
                                        st->stack = dc_xrealloc(st->stack, st->cap);
                                        st->lines = dc_xrealloc(st->lines, st->cap * sizeof(int));
                                }
                                st->lines[st->n] = t.line;
                                st->stack[st->n++] = *t.s;
                        } else if (strchr("}])", *t.s) && st->n > 0) {
                                st->n--;
                        }
                        st->prev_punct = *t.s;
                        break;
                case TK_INCLUDE: {
                        /* A budget, so a file that includes itself twice
                         * cannot make us read it 2^10 times. */
                        if (t.n == 0) {
                                bad_include(st, file, t.line, "an empty file name");
                                continue;
                        }
                        /* Over the budget the file is still checked (libconfig
                         * opens it), only not read. */
                        bool read = depth < DC_MAX_INCLUDE_DEPTH && st->includes < DC_MAX_INCLUDES;
                        st->includes += read;
                        _cleanup_free_ char *name = unescape_include(t.s, t.n);
                        /* Exactly the path libconfig opens. */
                        _cleanup_free_ char *path = dc_xasprintf("%s/%s", l->c->dir, name);
                        _cleanup_free_ char *ftext = NULL;
                        if (depth == 0) {
                                st->inc_offset = (size_t)(t.start - text);
                                st->inc_line = t.line;
                        }
                        struct stat sb;
                        int rr = -ENOENT;
                        if (name[0] == '/') {
                                bad_include(st, file, t.line, "%s is an absolute path: libconfig resolves every @include "
                                            "against the top file's directory (%s); write it relative to that", name,
                                            l->c->dir);
                        } else if (stat(path, &sb) < 0) {
                                bad_include(st, file, t.line, "%s: %s (looked for %s)", name, strerror(errno), path);
                        } else if (!S_ISREG(sb.st_mode)) {
                                bad_include(st, file, t.line, "%s is not a regular file", name);
                        } else if (!read) {
                                /* libconfig refuses what is too deep itself */
                        } else if ((rr = dc_read_file(path, DC_CONFIG_MAX_SIZE, &ftext)) < 0) {
                                bad_include(st, file, t.line, "%s: %s", name, strerror(-rr));
                        } else {
                                bool cycle = false;
                                for (int k = 0; k < st->chain_n; k++)
                                        cycle |= st->chain[k].st_dev == sb.st_dev && st->chain[k].st_ino == sb.st_ino;
                                if (cycle) {
                                        bad_include(st, file, t.line, "%s includes itself (an @include cycle)", name);
                                } else {
                                        st->chain[st->chain_n++] = sb;
                                        prescan(l, ftext, file_display(l, name), depth + 1, st);
                                        st->chain_n--;
                                }
                        }
                        continue; /* not a token for the parser */
                }
                default:
                        break;
                }
                st->prev = t.kind;
        }
        if (depth > 0 && st->n > open_at_start && !st->unclosed_file) {
                st->unclosed_file = file;
                st->unclosed_line = st->lines[open_at_start];
                st->unclosed = st->stack[open_at_start];
        }
}

/* ---- typed access --------------------------------------------------------- */

static int bad_int_error(struct loader *l, const struct dc_origin *o, const char *key, const struct bad_int *b)
{
        if (b->is64)
                return dc_err_at(l->err, o, key, "%s does not fit in a 64-bit integer", b->lit);
        bool size = strstr(key, "memory") || strstr(key, "size");
        return dc_err_at(l->err, o, key,
                      "%s does not fit in a 32-bit integer; libconfig needs an L suffix for larger ones, "
                      "like %sL%s",
                      b->lit, b->lit, size ? ", or write a size string like \"5G\"" : "");
}

static int get_int(struct loader *l, const config_setting_t *s, const char *key, long long *out)
{
        if (!is_int(s))
                return err_at(l, s, key, "expected an integer, got %s", GOT(s));
        long long v = config_setting_get_int64(s);
        struct dc_origin o = origin_of(l, s);
        for (size_t i = 0; i < l->n_bad; i++) {
                const struct bad_int *b = &l->bad[i];
                if (b->file == o.file && b->line == o.line && b->stored == v)
                        return bad_int_error(l, &o, key, b);
        }
        *out = v;
        return 0;
}

static int get_ranged(struct loader *l, const config_setting_t *s, const char *key,
                      long long min, long long max, long long *out)
{
        long long v = 0;
        int r = get_int(l, s, key, &v);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return err_at(l, s, key, "%lld is out of range (%lld-%lld)", v, min, max);
        *out = v;
        return 0;
}

/* The type check the key table asks for; MIXED keys check in their handler. */
static int check_type(struct loader *l, const config_setting_t *s, const char *key, enum dc_ktype t)
{
        int type = config_setting_type(s);
        switch (t) {
        case DC_KT_STRING:
                if (type != CONFIG_TYPE_STRING)
                        return err_at(l, s, key, "expected a string, got %s", GOT(s));
                return 0;
        case DC_KT_BOOL:
                if (type != CONFIG_TYPE_BOOL)
                        return err_at(l, s, key, "expected a boolean, got %s", GOT(s));
                return 0;
        case DC_KT_INT: {
                long long v = 0;
                return get_int(l, s, key, &v);
        }
        case DC_KT_NUMBER:
                if (type == CONFIG_TYPE_FLOAT)
                        return 0;
                if (!is_int(s))
                        return err_at(l, s, key, "expected a number, got %s", GOT(s));
                long long v = 0;
                return get_int(l, s, key, &v);
        case DC_KT_STRINGS:
                if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                        return err_at(l, s, key, "expected an array of strings, got %s", GOT(s));
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                        if (config_setting_type(e) != CONFIG_TYPE_STRING)
                                return err_at(l, e, key, "expected an array of strings, but element %d is %s",
                                              i, GOT(e));
                }
                return 0;
        case DC_KT_GROUP:
                if (type != CONFIG_TYPE_GROUP)
                        return err_at(l, s, key, "expected a group { ... }, got %s", GOT(s));
                return 0;
        case DC_KT_LIST:
                if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
                        return err_at(l, s, key, "expected a list of groups ( { ... }, ... ), got %s",
                                      GOT(s));
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
                                return err_at(l, e, NULL, "%s[%d]: expected a group { ... }, got %s", key, i,
                                              GOT(e));
                }
                return 0;
        case DC_KT_MIXED:
                return 0;
        default:
                return dc_err(l->err, EINVAL, "internal error: bad key type for %s", key);
        }
}

static const char *str(const config_setting_t *s)
{
        const char *v = config_setting_get_string(s);
        return v ? v : "";
}

/* A control character (newline, tab, escape, DEL...): never in a path or a
 * name, where it would corrupt line-based files and messages. */
static bool has_ctl(const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return true;
        return false;
}

/* A path value: non-empty, made absolute against the file's directory. */
static int get_path(struct loader *l, const config_setting_t *s, const char *key, char **out)
{
        const char *v = str(s);
        if (!*v)
                return err_at(l, s, key, "the path is empty");
        if (has_ctl(v))
                return err_at(l, s, key, "%s contains a control character", SHOW(v));
        _cleanup_free_ char *base = base_dir(l, s);
        free(*out);
        *out = dc_path_join(base, v);
        return 0;
}

static void set_str(char **field, const char *v)
{
        free(*field);
        *field = dc_xstrdup(v);
}

/* ---- value checks --------------------------------------------------------- */

static bool valid_name(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > 63)
                return false;
        if (!(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
                return false;
        for (size_t i = 1; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (!(islower(ch) || isdigit(ch) || ch == '_' || ch == '.' || ch == '-'))
                        return false;
        }
        return true;
}

static bool valid_hostname(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (!(isalnum(ch) || ch == '.' || ch == '-'))
                        return false;
        }
        return !strchr("-.", s[0]) && !strchr("-.", s[n - 1]);
}

/* The kernel takes any bytes but '/', ':' and spaces; we take the portable
 * set, since a link name goes into firewall rules, command lines and
 * /proc/sys paths: a quote, a ';' or a leading '-' could change what they say. */
/* "ADDR/N" with ADDR of family af and N in 0..(32 or 128). */
static bool valid_cidr(const char *s, int af)
{
        const char *slash = strchr(s, '/');
        if (!slash || slash == s)
                return false;
        size_t alen = (size_t)(slash - s);
        char addr[INET6_ADDRSTRLEN + 1];
        if (alen >= sizeof(addr))
                return false;
        memcpy(addr, s, alen);
        addr[alen] = 0;
        unsigned char buf[16];
        if (inet_pton(af, addr, buf) != 1)
                return false;
        const char *pl = slash + 1;
        size_t plen = strlen(pl);
        if (plen < 1 || plen > 3 || strspn(pl, "0123456789") != plen)
                return false;
        return atoi(pl) <= (af == AF_INET ? 32 : 128);
}

static bool valid_addr(const char *s, int af)
{
        unsigned char buf[16];
        return inet_pton(af, s, buf) == 1;
}

/* One side of process.user: a numeric id or a user/group name. */
static bool valid_user_part(const char *s, size_t n)
{
        if (n == 0 || n > 32)
                return false;
        if (strspn(s, "0123456789") >= n) {
                if (n > 10)
                        return false;
                char buf[16];
                memcpy(buf, s, n);
                buf[n] = 0;
                return strtoull(buf, NULL, 10) < UINT32_MAX;
        }
        if (s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (!(isalnum(ch) || ch == '_' || ch == '.' || ch == '-' || (ch == '$' && i == n - 1)))
                        return false;
        }
        return true;
}

bool dc_valid_user_spec(const char *v)
{
        const char *colon = strchr(v, ':');
        return colon ? valid_user_part(v, (size_t)(colon - v)) && valid_user_part(colon + 1, strlen(colon + 1))
                     : valid_user_part(v, strlen(v));
}

/* ---- the walk --------------------------------------------------------------- */

typedef int (*handler_fn)(struct loader *l, config_setting_t *s, const char *key, void *ctx);
static handler_fn find_handler(const char *tkey);

/* Suggest a sibling key of TKEY's table prefix close to NAME, or NULL. */
static const char *suggest(const char *tprefix, const char *name)
{
        size_t plen = tprefix ? strlen(tprefix) : 0;
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t i = 0; i < dc_n_keys; i++) {
                const char *k = dc_keys[i].name;
                if (tprefix) {
                        if (strncmp(k, tprefix, plen) != 0 || k[plen] != '.')
                                continue;
                        k += plen + 1;
                }
                if (strpbrk(k, ".["))
                        continue;
                size_t d = edit_distance(name, k);
                if (d < best_d) {
                        best_d = d;
                        best = k;
                }
        }
        if (best && best_d <= 2 && best_d * 2 < strlen(best))
                return best;
        return NULL;
}

static void mark(struct loader *l, int idx, const config_setting_t *s)
{
        if (l->c->present[idx])
                return;
        l->c->present[idx] = true;
        l->c->origins[idx] = origin_of(l, s);
}

/* A key's error was recorded in l->errs: its group's own checks are
 * skipped, the walk goes on with the next key. */
#define REPORTED (-ECANCELED)
#define MAX_ERRORS 20

/* Record the error in l->err (R < 0 came with it) and go on, or return R
 * when there is nowhere to record it. */
static int record(struct loader *l, int r)
{
        if (r == REPORTED)
                return REPORTED;
        if (!l->err)
                return r;
        if (l->n_errs++ == 0)
                l->first_code = l->err->code ? l->err->code : EINVAL;
        /* past the cap only an override's: those are listed first */
        if (l->n_errs <= MAX_ERRORS || dc_startswith(l->err->msg, "--set: "))
                dc_strv_push(&l->errs, l->err->msg);
        return REPORTED;
}

/* Every recorded error in l->err, as every error list: in line order,
 * --set first, one a line, the rest counted (dc_errs_end). */
static int report(struct loader *l)
{
        struct dc_errs all = { 0 };
        struct dc_error one = { .code = l->first_code };
        for (size_t i = 0; i < l->errs.n; i++) {
                snprintf(one.msg, sizeof(one.msg), "%s", l->errs.v[i]);
                dc_errs_add(&all, &one);
        }
        all.more = (unsigned)(l->n_errs - l->errs.n);
        return dc_errs_end(&all, l->err);
}

/* Walk the members of group G. TPREFIX names it in the key table
 * ("volumes[]"), DPREFIX in messages ("volumes[2]"); both NULL at the top.
 * Returns REPORTED when a member had an error (recorded). */
static int walk_group(struct loader *l, config_setting_t *g, const char *tprefix, const char *dprefix, void *ctx)
{
        bool failed = false;
        for (int i = 0; i < config_setting_length(g); i++) {
                config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
                const char *name = config_setting_name(s);
                if (!name)
                        name = "";
                _cleanup_free_ char *tkey = tprefix ? dc_xasprintf("%s.%s", tprefix, name) : dc_xstrdup(name);
                _cleanup_free_ char *dkey = dprefix ? dc_xasprintf("%s.%s", dprefix, name) : dc_xstrdup(name);
                int idx = dc_key_index(tkey);
                int r;
                if (idx < 0 && l->err && l->n_errs >= MAX_ERRORS) {
                        l->n_errs++; /* only counted by now: no suggestion to look for */
                        failed = true;
                        continue;
                }
                if (idx < 0) {
                        const char *sug = suggest(tprefix, name);
                        r = sug ? err_at(l, s, dkey, "unknown key (did you mean \"%s\"?)", sug)
                                : err_at(l, s, dkey, "unknown key");
                } else {
                        handler_fn fn = find_handler(tkey);
                        if (!fn)
                                return dc_err(l->err, EINVAL, "internal error: no handler for key %s", tkey);
                        mark(l, idx, s);
                        r = check_type(l, s, dkey, dc_keys[idx].type);
                        if (r == 0)
                                r = fn(l, s, dkey, ctx);
                }
                if (r < 0) {
                        if ((r = record(l, r)) != REPORTED)
                                return r;
                        failed = true;
                }
        }
        return failed ? REPORTED : 0;
}

/* ---- handlers: top level ------------------------------------------------ */

static int h_group(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        return walk_group(l, s, key, key, ctx);
}

static int h_name(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        const char *v = str(s);
        if (!valid_name(v))
                return err_at(l, s, key,
                              "%s is not a valid name: 1-63 characters of a-z, 0-9, '_', '.' and '-', "
                              "starting with a letter or digit",
                              SHOW(v));
        set_str(&l->c->name, v);
        return 0;
}

static int h_hostname(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        const char *v = str(s);
        if (!valid_hostname(v))
                return err_at(l, s, key,
                              "%s is not a valid hostname: 1-64 characters of A-Z, a-z, 0-9, '.' and '-', "
                              "not starting or ending with '.' or '-'",
                              SHOW(v));
        set_str(&l->c->hostname, v);
        return 0;
}

static int h_namespaces(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        unsigned bits = 0;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                const char *v = str(e);
                unsigned bit = dc_ns_from_name(v);
                if (!bit)
                        return err_at(l, e, key,
                                      "%s is not a namespace (one of mount, uts, ipc, pid, net, user, cgroup, time)",
                                      SHOW(v));
                if (bits & bit)
                        return err_at(l, e, key, "%s is listed twice", SHOW(v));
                bits |= bit;
        }
        l->c->namespaces = bits;
        return 0;
}

/* ---- rootfs ------------------------------------------------------------- */

static int h_rootfs_src(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        char **field = strcmp(key, "rootfs.path") == 0      ? &l->c->rootfs.path
                       : strcmp(key, "rootfs.tarball") == 0 ? &l->c->rootfs.tarball
                                                            : &l->c->rootfs.image;
        return get_path(l, s, key, field);
}

static int h_rootfs_tag(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (!*str(s))
                return err_at(l, s, key, "the tag is empty");
        if (has_ctl(str(s)))
                return err_at(l, s, key, "%s contains a control character", SHOW(str(s)));
        set_str(&l->c->rootfs.tag, str(s));
        return 0;
}

static int h_rootfs_writable(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        const char *v = str(s);
        if (strcmp(v, "tmpfs") == 0)
                l->c->rootfs.writable = DC_WRITABLE_TMPFS;
        else if (strcmp(v, "direct") == 0)
                l->c->rootfs.writable = DC_WRITABLE_DIRECT;
        else if (strcmp(v, "none") == 0)
                l->c->rootfs.writable = DC_WRITABLE_NONE;
        else if (!*v)
                return err_at(l, s, key,
                              "expected \"tmpfs\", \"direct\", \"none\" or the directory of a persistent upper layer, "
                              "got an empty string");
        else {
                int r = get_path(l, s, key, &l->c->rootfs.writable_dir);
                if (r < 0)
                        return r;
                l->c->rootfs.writable = DC_WRITABLE_DIR;
        }
        return 0;
}

/* "auto" (-1) or a boolean (0, 1), as process.terminal and rootfs.idmap take. */
static int get_auto_bool(struct loader *l, const config_setting_t *s, const char *key, int *out)
{
        if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
                *out = config_setting_get_bool(s) ? 1 : 0;
                return 0;
        }
        if (config_setting_type(s) == CONFIG_TYPE_STRING && strcmp(str(s), "auto") == 0) {
                *out = -1;
                return 0;
        }
        return err_at(l, s, key, "expected \"auto\" or a boolean, got %s",
                      GOT(s));
}

static int h_rootfs_idmap(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        int v, r = get_auto_bool(l, s, key, &v);
        if (r == 0)
                l->c->rootfs.idmap = v < 0 ? DC_IDMAP_AUTO : v ? DC_IDMAP_YES : DC_IDMAP_NO;
        return r;
}

/* ---- process ------------------------------------------------------------ */

static void strv_from(struct dc_strv *sv, const config_setting_t *s)
{
        dc_strv_free(sv);
        for (int i = 0; i < config_setting_length(s); i++)
                dc_strv_push(sv, str(config_setting_get_elem(s, (unsigned)i)));
        if (!sv->v) /* empty, but still a NULL-terminated vector */
                sv->v = dc_xcalloc(1, sizeof(char *));
}

static int h_args(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (config_setting_length(s) == 0)
                return err_at(l, s, key, "must not be empty (give at least the program)");
        if (!*str(config_setting_get_elem(s, 0)))
                return err_at(l, s, key, "the program (the first element) is empty");
        strv_from(&l->c->process.args, s);
        l->c->process.args_set = true;
        return 0;
}

static int h_env(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                const char *v = str(e);
                const char *eq = strchr(v, '=');
                if (!eq)
                        return err_at(l, e, key, "%s is not NAME=value", SHOW(v));
                if (eq == v)
                        return err_at(l, e, key, "%s has an empty variable name", SHOW(v));
                size_t n = (size_t)(eq - v);
                for (int j = 0; j < i; j++) {
                        const char *w = str(config_setting_get_elem(s, (unsigned)j));
                        if (strncmp(v, w, n + 1) == 0) {
                                _cleanup_free_ char *name = dc_xstrndup(v, n);
                                return err_at(l, e, key, "%s is set twice", SHOW(name));
                        }
                }
        }
        strv_from(&l->c->process.env, s);
        l->c->process.env_set = true;
        return 0;
}

/* ---- sysctls ------------------------------------------------------------- */

/* Those a container's own namespaces hold, as Docker allows them: each
 * changes only the container. Anything else would be the host's. */
unsigned dc_sysctl_namespace(const char *name)
{
        if (!name || !*name || name[0] == '.' || name[0] == '/')
                return 0;
        bool slashes = strchr(name, '/') != NULL;
        char sep = slashes ? '/' : '.';
        /* components of [A-Za-z0-9_.-] (no dot in them with dots as the
         * separator), none empty, "." or ".." */
        for (const char *p = name; *p;) {
                const char *e = strchr(p, sep);
                size_t n = e ? (size_t)(e - p) : strlen(p);
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return 0;
                for (size_t i = 0; i < n; i++)
                        if (!isalnum((unsigned char)p[i]) && !strchr("_-.", p[i]))
                                return 0;
                if (!e)
                        break;
                p = e + 1;
                if (!*p)
                        return 0;
        }
        /* the prefixes, with the separator the name uses */
        char pre[32];
        snprintf(pre, sizeof(pre), "net%c", sep);
        if (dc_startswith(name, pre))
                return DC_NS_NET;
        snprintf(pre, sizeof(pre), "fs%cmqueue%c", sep, sep);
        if (dc_startswith(name, pre))
                return DC_NS_IPC;
        static const char *const ipc[] = { "msgmax", "msgmnb", "msgmni", "sem", "shmall", "shmmax", "shmmni",
                                           "shm_rmid_forced" };
        if (!dc_startswith(name, "kernel") || name[6] != sep)
                return 0;
        for (size_t i = 0; i < DC_ARRAY_SIZE(ipc); i++)
                if (strcmp(name + 7, ipc[i]) == 0)
                        return DC_NS_IPC;
        if (strcmp(name + 7, "domainname") == 0)
                return DC_NS_UTS;
        return 0;
}

char *dc_sysctl_path(const char *name)
{
        char *p = dc_xasprintf("/proc/sys/%s", name);
        if (!strchr(name, '/'))
                for (char *q = p + strlen("/proc/sys/"); *q; q++)
                        if (*q == '.')
                                *q = '/';
        return p;
}

static int h_sysctls(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        int n = config_setting_length(s);
        dc_strv_free(&l->c->sysctls);
        free(l->c->sysctl_origins);
        l->c->sysctl_origins = dc_xcalloc(n > 0 ? (size_t)n : 1, sizeof(*l->c->sysctl_origins));
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                const char *v = str(e);
                const char *eq = strchr(v, '=');
                if (!eq || eq == v || !eq[1])
                        return err_at(l, e, key, "%s is not NAME=VALUE, like \"net.core.somaxconn=1024\"", SHOW(v));
                if (has_ctl(eq + 1))
                        return err_at(l, e, key, "%s: the value contains a control character", SHOW(v));
                _cleanup_free_ char *name = dc_xstrndup(v, (size_t)(eq - v));
                if (strcmp(name, "kernel.hostname") == 0 || strcmp(name, "kernel/hostname") == 0)
                        return err_at(l, e, key, "%s: set the container's host name with hostname", name);
                if (!dc_sysctl_namespace(name))
                        return err_at(l, e, key,
                                      "%s is not a sysctl of the container's own namespaces (setting it would change "
                                      "the host): net.*, fs.mqueue.*, kernel.msgmax, kernel.msgmnb, kernel.msgmni, "
                                      "kernel.sem, kernel.shmall, kernel.shmmax, kernel.shmmni, "
                                      "kernel.shm_rmid_forced and kernel.domainname are",
                                      SHOW(name));
                _cleanup_free_ char *path = dc_sysctl_path(name);
                for (int j = 0; j < i; j++) {
                        const char *w = l->c->sysctls.v[j];
                        _cleanup_free_ char *other = dc_xstrndup(w, (size_t)(strchr(w, '=') - w));
                        _cleanup_free_ char *op = dc_sysctl_path(other);
                        if (strcmp(op, path) == 0)
                                return err_at(l, e, key, "%s is set twice", SHOW(name));
                }
                dc_strv_push(&l->c->sysctls, v);
                l->c->sysctl_origins[i] = origin_of(l, e);
        }
        return 0;
}

/* ---- devices ------------------------------------------------------------- */

/* What diyctl's own /dev holds, or mounts: not for a device of the config. */
static bool dev_is_ours(const char *p)
{
        static const char *const ours[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                                            "/dev/tty", "/dev/ptmx", "/dev/fd", "/dev/stdin", "/dev/stdout",
                                            "/dev/stderr", "/dev/pts", "/dev/shm" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(ours); i++) {
                size_t n = strlen(ours[i]);
                if (strncmp(p, ours[i], n) == 0 && (p[n] == 0 || p[n] == '/'))
                        return true;
        }
        return false;
}

/* devices: "HOST", "HOST:CONTAINER" or "HOST:CONTAINER:PERMS", as Docker's
 * --device; the container's path is in its own /dev (a tmpfs). */
static int h_devices(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        int n = config_setting_length(s);
        for (size_t i = 0; i < l->c->n_devices; i++) {
                free(l->c->devices[i].host);
                free(l->c->devices[i].container);
        }
        free(l->c->devices);
        l->c->devices = dc_xcalloc(n > 0 ? (size_t)n : 1, sizeof(*l->c->devices));
        l->c->n_devices = 0;
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                const char *v = str(e);
                if (has_ctl(v))
                        return err_at(l, e, key, "%s contains a control character", SHOW(v));
                _cleanup_free_ char *copy = dc_xstrdup(v);
                char *host = copy, *cont = NULL, *perms = NULL;
                if ((cont = strchr(copy, ':'))) {
                        *cont++ = 0;
                        if ((perms = strchr(cont, ':')))
                                *perms++ = 0;
                }
                if (host[0] != '/')
                        return err_at(l, e, key, "%s: the host's device must be an absolute path, like \"/dev/fuse\"",
                                      SHOW(v));
                if (cont && cont[0] != '/')
                        return err_at(l, e, key, "%s: the path in the container must be absolute", SHOW(v));
                _cleanup_free_ char *h = dc_path_normalize(host);
                _cleanup_free_ char *c = dc_path_normalize(cont ? cont : host);
                if (!dc_startswith(c, "/dev/") || strchr(c, ':'))
                        return err_at(l, e, key, "%s: the container's path must be in its /dev (a tmpfs of its own), "
                                      "like \"/dev/fuse\" or \"/dev/fuse:/dev/fuse0\"",
                                      SHOW(v));
                if (dev_is_ours(c))
                        return err_at(l, e, key, "%s: diyctl makes %s itself", SHOW(v), c);
                struct dc_device *d = &l->c->devices[i];
                static const char rwm[] = "rwm";
                const char *pp = perms ? perms : rwm;
                bool seen[3] = { false, false, false };
                for (const char *q = pp; *q; q++) {
                        const char *at = strchr(rwm, *q);
                        if (!at || seen[at - rwm])
                                return err_at(l, e, key, "%s: %s are not permissions: some of r, w and m, each once",
                                              SHOW(v), SHOW(pp));
                        seen[at - rwm] = true;
                }
                if (!*pp)
                        return err_at(l, e, key, "%s: empty permissions: some of r, w and m", SHOW(v));
                size_t k = 0;
                for (size_t b = 0; b < 3; b++)
                        if (seen[b])
                                d->perms[k++] = rwm[b];
                for (int j = 0; j < i; j++)
                        if (strcmp(l->c->devices[j].container, c) == 0)
                                return err_at(l, e, key, "%s is given twice", c);
                d->host = DC_TAKE(h);
                d->container = DC_TAKE(c);
                d->origin = origin_of(l, e);
                l->c->n_devices = (size_t)i + 1;
        }
        return 0;
}

static int h_cwd(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (has_ctl(str(s)))
                return err_at(l, s, key, "%s contains a control character", SHOW(str(s)));
        set_str(&l->c->process.cwd, str(s));
        return 0;
}

static int h_user(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (is_int(s)) {
                long long v = 0;
                int r = get_ranged(l, s, key, 0, (long long)UINT32_MAX - 1, &v);
                if (r < 0)
                        return r;
                free(l->c->process.user);
                l->c->process.user = dc_xasprintf("%lld", v);
                return 0;
        }
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return err_at(l, s, key, "expected a string like \"1000:1000\" or an integer uid, got %s",
                              GOT(s));
        const char *v = str(s);
        if (!dc_valid_user_spec(v))
                return err_at(l, s, key, "%s is not \"uid:gid\", \"uid\", \"name\" or \"name:group\"", SHOW(v));
        set_str(&l->c->process.user, v);
        return 0;
}

static int h_terminal(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        int v, r = get_auto_bool(l, s, key, &v);
        if (r == 0)
                l->c->process.terminal = v < 0 ? DC_TERM_AUTO : v ? DC_TERM_YES : DC_TERM_NO;
        return r;
}

static int h_init(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        (void)key;
        l->c->process.init = config_setting_get_bool(s);
        return 0;
}

bool dc_valid_stop_signal(int sig)
{
        return sig == SIGKILL || dc_signal_forwardable(sig);
}

static int h_stop_signal(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        int sig = -1;
        if (is_int(s)) {
                long long v = 0;
                int r = get_int(l, s, key, &v);
                if (r < 0)
                        return r;
                char num[24];
                snprintf(num, sizeof(num), "%lld", v);
                sig = v >= 1 && v <= 64 ? dc_signal_parse(num, true) : -1;
                if (sig < 0 || !dc_valid_stop_signal(sig))
                        return err_at(l, s, key, "%lld is not a signal a container can be stopped with", v);
        } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *v = str(s);
                sig = dc_signal_parse(v, false);
                if (sig < 0 && dc_signal_parse(v, true) > 0)
                        return err_at(l, s, key, "\"%s\": write a signal number without quotes", v);
                if (sig < 0 && dc_signal_parse_loose(v) > 0) {
                        char name[24];
                        return err_at(l, s, key, "%s: write signal names in upper case, like \"%s\"", SHOW(v),
                                      dc_signal_name(dc_signal_parse_loose(v), name));
                }
                if (sig < 0)
                        return err_at(l, s, key, "%s is not a signal name like \"SIGTERM\", \"SIGQUIT\" or "
                                      "\"SIGRTMIN+3\"", SHOW(v));
                if (!dc_valid_stop_signal(sig))
                        return err_at(l, s, key, "%s cannot stop a container (a fault, job-control or SIGCHLD "
                                      "signal)", SHOW(v));
        } else {
                return err_at(l, s, key, "expected a signal name like \"SIGQUIT\" or a number, got %s",
                              GOT(s));
        }
        l->c->process.stop_signal = sig;
        return 0;
}

/* ---- sizes ---------------------------------------------------------------- */

/* process.log_max_size: as host.conf's log_max_size (src/config/host.c). */
static int h_log_max_size(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        unsigned long long v;
        if (is_int(s)) {
                long long i = 0;
                int r = get_int(l, s, key, &i);
                if (r < 0)
                        return r;
                if (i < 0)
                        return err_at(l, s, key, "the size must not be negative, got %lld", i);
                v = (unsigned long long)i;
        } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                if (dc_parse_size(str(s), &v) < 0)
                        return err_at(l, s, key, "%s is not a size, like \"10M\" (or 0: never rotate)", SHOW(str(s)));
        } else {
                return err_at(l, s, key, "expected a size like \"10M\" or an integer byte count, got %s",
                              GOT(s));
        }
        if (v != 0 && v < DC_LOG_MAX_SIZE_MIN)
                return err_at(l, s, key, DC_LOG_MAX_SIZE_SMALL, v);
        l->c->process.log_max_size = v;
        l->c->process.log_max_size_set = true;
        return 0;
}

/* A size: a string like "64M" or an integer byte count; > 0. */
static int get_size(struct loader *l, const config_setting_t *s, const char *key, unsigned long long *out)
{
        if (is_int(s)) {
                long long v = 0;
                int r = get_int(l, s, key, &v);
                if (r < 0)
                        return r;
                if (v <= 0)
                        return err_at(l, s, key, "the size must be greater than 0, got %lld", v);
                *out = (unsigned long long)v;
                return 0;
        }
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return err_at(l, s, key, "expected a size like \"64M\" or an integer byte count, got %s",
                              GOT(s));
        unsigned long long v;
        if (dc_parse_size(str(s), &v) < 0)
                return err_at(l, s, key, "%s is not a size, like \"64M\" or \"1G\"", SHOW(str(s)));
        if (v == 0)
                return err_at(l, s, key, "the size must be greater than 0");
        *out = v;
        return 0;
}

/* process.rlimits.NAME: an integer (soft and hard), "SOFT:HARD" or
 * "unlimited" (either side), as Docker's --ulimit and LXC's prlimit. */
static int h_rlimit(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        int i = dc_rlimit_index(strrchr(key, '.') + 1);
        if (i < 0)
                return err_at(l, s, key, "unknown key");
        struct rlimit r;
        if (is_int(s)) {
                long long v = 0;
                int g = get_int(l, s, key, &v);
                if (g < 0)
                        return g;
                if (v < -1)
                        return err_at(l, s, key, "must be 0 or more, or -1 or \"unlimited\", got %lld", v);
                r.rlim_cur = r.rlim_max = v == -1 ? RLIM_INFINITY : (rlim_t)v; /* -1: Docker's unlimited */
        } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                if (dc_rlimit_parse(str(s), &r) < 0)
                        return err_at(l, s, key, "%s is not a limit: an integer, \"SOFT:HARD\" or \"unlimited\"",
                                      SHOW(str(s)));
        } else {
                return err_at(l, s, key, "expected an integer or a string like \"1024:4096\", got %s",
                              GOT(s));
        }
        if (r.rlim_cur > r.rlim_max) {
                char b[64];
                dc_rlimit_format(&r, b, sizeof(b));
                return err_at(l, s, key, "%s: the soft limit is above the hard one", b);
        }
        l->c->process.rlimits[i] = r;
        l->c->process.rlimit_set[i] = true;
        return 0;
}

/* ---- volumes ------------------------------------------------------------ */

struct vol_ctx {
        struct dc_volume *v;
        const config_setting_t *type_s, *source_s, *target_s, *size_s, *mode_s, *idmap_s;
};

static int h_vol_type(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct vol_ctx *vc = ctx;
        const char *v = str(s);
        if (strcmp(v, "bind") == 0)
                vc->v->type = DC_VOL_BIND;
        else if (strcmp(v, "tmpfs") == 0)
                vc->v->type = DC_VOL_TMPFS;
        else
                return err_at(l, s, key, "%s is not a volume type (\"bind\" or \"tmpfs\")", SHOW(v));
        vc->type_s = s;
        return 0;
}

static int h_vol_source(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct vol_ctx *vc = ctx;
        vc->source_s = s;
        vc->v->o_source = origin_of(l, s);
        return get_path(l, s, key, &vc->v->source);
}

static int h_vol_target(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct vol_ctx *vc = ctx;
        if (!*str(s))
                return err_at(l, s, key, "the path is empty");
        if (has_ctl(str(s)))
                return err_at(l, s, key, "%s contains a control character", SHOW(str(s)));
        vc->target_s = s;
        vc->v->o_target = origin_of(l, s);
        set_str(&vc->v->target, str(s));
        return 0;
}

static int h_vol_readonly(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)l;
        (void)key;
        struct vol_ctx *vc = ctx;
        vc->v->readonly = config_setting_get_bool(s);
        return 0;
}

static int h_vol_idmap(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)key;
        struct vol_ctx *vc = ctx;
        vc->idmap_s = s;
        vc->v->o_idmap = origin_of(l, s);
        vc->v->idmap = config_setting_get_bool(s);
        return 0;
}

static int h_vol_size(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct vol_ctx *vc = ctx;
        vc->size_s = s;
        return get_size(l, s, key, &vc->v->size);
}

/* An octal mode as a string, "1777" or "0755": libconfig has no octal
 * literals, and a decimal 755 would be a different mode. */
static int h_vol_mode(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct vol_ctx *vc = ctx;
        vc->mode_s = s;
        const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? str(s) : NULL;
        const char *d = v && v[0] == '0' && strlen(v) > 3 ? v + 1 : v;
        size_t n = d ? strlen(d) : 0;
        if (!v || n < 3 || n > 4 || strspn(d, "01234567") != n)
                return err_at(l, s, key, "expected an octal mode as a string, like \"1777\" or \"0700\", got %s",
                              GOT(s));
        vc->v->mode = (unsigned)strtoul(d, NULL, 8);
        if (!vc->v->mode)
                vc->v->mode = 010000; /* "0000": kept apart from "not set" (the plan masks it) */
        return 0;
}

static int h_volumes(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        struct dc_config *c = l->c;
        size_t n = (size_t)config_setting_length(s);
        c->volumes = dc_xcalloc(n, sizeof(*c->volumes));
        bool failed = false;
        for (size_t i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                struct dc_volume *v = &c->volumes[i];
                c->n_volumes = i + 1;
                v->origin = origin_of(l, e);
                v->o_source = v->o_target = v->origin;
                struct vol_ctx vc = { .v = v };
                _cleanup_free_ char *dk = dc_xasprintf("%s[%zu]", key, i);
                int r = walk_group(l, e, "volumes[]", dk, &vc);
                if (r == 0 && !vc.target_s)
                        r = err_at(l, e, NULL, "%s.target: is required", dk);
                if (r == 0 && v->type == DC_VOL_TMPFS && vc.source_s)
                        r = err_at(l, vc.source_s, NULL, "%s.source: not allowed for a tmpfs volume", dk);
                if (r == 0 && v->type == DC_VOL_BIND && !vc.source_s)
                        r = err_at(l, e, NULL, "%s.source: is required for a bind mount", dk);
                if (r == 0 && v->type == DC_VOL_TMPFS && v->idmap)
                        r = err_at(l, vc.idmap_s, NULL, "%s.idmap: only applies to bind volumes (a tmpfs belongs to "
                                   "the container already)", dk);
                if (r == 0 && v->type == DC_VOL_BIND && vc.size_s)
                        r = err_at(l, vc.size_s, NULL, "%s.size: only applies to tmpfs volumes", dk);
                if (r == 0 && v->type == DC_VOL_BIND && vc.mode_s)
                        r = err_at(l, vc.mode_s, NULL, "%s.mode: only applies to tmpfs volumes (a bind mount keeps "
                                   "the source's)", dk);
                if (r < 0 && (r = record(l, r)) != REPORTED)
                        return r;
                failed |= r < 0;
        }
        return failed ? REPORTED : 0;
}

/* ---- network ------------------------------------------------------------ */

static int h_net_mode(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        static const char *const modes[] = { "none", "host", "nat", "bridge" };
        static const enum dc_netmode vals[] = { DC_NET_NONE, DC_NET_HOST, DC_NET_NAT, DC_NET_BRIDGE };
        for (size_t i = 0; i < DC_ARRAY_SIZE(modes); i++)
                if (strcmp(str(s), modes[i]) == 0) {
                        l->c->network.mode = vals[i];
                        return 0;
                }
        return err_at(l, s, key, "%s is not a network mode (\"none\", \"host\", \"nat\" or \"bridge\")",
                      SHOW(str(s)));
}

static int get_ifname(struct loader *l, const config_setting_t *s, const char *key, char **field)
{
        const char *v = str(s);
        if (!dc_ifname_valid(v, strlen(v)))
                return err_at(l, s, key,
                              "%s is not a valid interface name (1-15 of A-Z, a-z, 0-9, '_', '.' and '-'; "
                              "not starting with '-'; not \".\" or \"..\")",
                              SHOW(v));
        set_str(field, v);
        return 0;
}

static int h_net_interface(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        return get_ifname(l, s, key, &l->c->network.interface);
}

static int h_net_bridge(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        return get_ifname(l, s, key, &l->c->network.bridge);
}

static int h_net_address(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (!valid_cidr(str(s), AF_INET))
                return err_at(l, s, key, "%s is not an IPv4 address with a prefix length, like 10.88.0.6/30",
                              SHOW(str(s)));
        set_str(&l->c->network.address, str(s));
        return 0;
}

static int h_net_gateway(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (!valid_addr(str(s), AF_INET))
                return err_at(l, s, key, "%s is not an IPv4 address, like 10.2.3.1", SHOW(str(s)));
        set_str(&l->c->network.gateway, str(s));
        return 0;
}

static int h_ipv6(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
                l->c->network.ipv6 = config_setting_get_bool(s);
                return 0;
        }
        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return err_at(l, s, key,
                              "expected a boolean or a group { address = \"fd88::2/64\"; gateway = \"fd88::1\"; }, "
                              "got %s",
                              GOT(s));
        int r = walk_group(l, s, key, key, NULL);
        if (r < 0)
                return r;
        if (!l->c->network.ipv6_address)
                return err_at(l, s, NULL, "%s.address: is required in the group form", key);
        l->c->network.ipv6 = true;
        return 0;
}

static int h_ipv6_address(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (!valid_cidr(str(s), AF_INET6))
                return err_at(l, s, key, "%s is not an IPv6 address with a prefix length, like fd88::2/64",
                              SHOW(str(s)));
        set_str(&l->c->network.ipv6_address, str(s));
        return 0;
}

static int h_ipv6_gateway(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (!valid_addr(str(s), AF_INET6))
                return err_at(l, s, key, "%s is not an IPv6 address, like fd88::1", SHOW(str(s)));
        set_str(&l->c->network.ipv6_gateway, str(s));
        return 0;
}

struct port_ctx {
        struct dc_port *p;
        bool host, container;
};

static int h_port_host(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct port_ctx *pc = ctx;
        long long v = 0;
        int r = get_ranged(l, s, key, 1, 65535, &v);
        if (r < 0)
                return r;
        pc->p->host = (unsigned)v;
        pc->host = true;
        return 0;
}

static int h_port_container(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct port_ctx *pc = ctx;
        long long v = 0;
        int r = get_ranged(l, s, key, 1, 65535, &v);
        if (r < 0)
                return r;
        pc->p->container = (unsigned)v;
        pc->container = true;
        return 0;
}

static int h_port_protocol(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct port_ctx *pc = ctx;
        if (strcmp(str(s), "tcp") == 0)
                pc->p->proto = DC_PROTO_TCP;
        else if (strcmp(str(s), "udp") == 0)
                pc->p->proto = DC_PROTO_UDP;
        else
                return err_at(l, s, key, "%s is not a protocol (\"tcp\" or \"udp\")", SHOW(str(s)));
        return 0;
}

static int h_ports(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        struct dc_config *c = l->c;
        size_t n = (size_t)config_setting_length(s);
        c->network.ports = dc_xcalloc(n, sizeof(*c->network.ports));
        bool failed = false;
        for (size_t i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                struct dc_port *p = &c->network.ports[i];
                c->network.n_ports = i + 1;
                p->origin = origin_of(l, e);
                struct port_ctx pc = { .p = p };
                _cleanup_free_ char *dk = dc_xasprintf("%s[%zu]", key, i);
                int r = walk_group(l, e, "network.ports[]", dk, &pc);
                if (r == 0 && !pc.host)
                        r = err_at(l, e, NULL, "%s.host: is required", dk);
                if (r == 0 && !pc.container)
                        p->container = p->host;
                for (size_t j = 0; r == 0 && j < i; j++) {
                        const struct dc_port *q = &c->network.ports[j];
                        if (q->host && q->host == p->host && q->proto == p->proto)
                                r = err_at(l, e, NULL, "%s.host: %u/%s is already forwarded by %s[%zu]", dk,
                                           p->host, p->proto == DC_PROTO_UDP ? "udp" : "tcp", key, j);
                }
                if (r < 0) {
                        p->host = 0; /* not compared with the next ones */
                        if ((r = record(l, r)) != REPORTED)
                                return r;
                        failed = true;
                }
        }
        return failed ? REPORTED : 0;
}

static int h_dns(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        struct dc_config *c = l->c;
        int type = config_setting_type(s);
        if (type == CONFIG_TYPE_STRING) {
                if (strcmp(str(s), "host") != 0)
                        return err_at(l, s, key, "expected \"host\" or an array of addresses, got %s", GOT(s));
                c->network.dns_host = true;
                dc_strv_free(&c->network.dns);
                return 0;
        }
        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return err_at(l, s, key, "expected \"host\" or an array of addresses, got %s", GOT(s));
        int r = check_type(l, s, key, DC_KT_STRINGS);
        if (r < 0)
                return r;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                if (!valid_addr(str(e), AF_INET) && !valid_addr(str(e), AF_INET6))
                        return err_at(l, e, key, "%s is not an IPv4 or IPv6 address", SHOW(str(e)));
        }
        strv_from(&c->network.dns, s);
        c->network.dns_host = false;
        return 0;
}

/* ---- time ----------------------------------------------------------------- */

static int h_boottime(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                if (strcmp(str(s), "reset") != 0)
                        return err_at(l, s, key, "expected \"reset\" or an integer number of seconds, got %s",
                                      GOT(s));
                l->c->time.boottime_reset = true;
                l->c->time.boottime = 0;
                return 0;
        }
        if (!is_int(s))
                return err_at(l, s, key, "expected \"reset\" or an integer number of seconds, got %s",
                              GOT(s));
        l->c->time.boottime_reset = false;
        return get_int(l, s, key, &l->c->time.boottime);
}

static int h_monotonic(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        return get_int(l, s, key, &l->c->time.monotonic);
}

/* ---- user ----------------------------------------------------------------- */

struct map_ctx {
        struct dc_idmap *m;
        bool inside, outside, count;
};

static int h_map_field(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        struct map_ctx *mc = ctx;
        const char *leaf = strrchr(key, '.') + 1;
        long long v = 0;
        int r = get_ranged(l, s, key, strcmp(leaf, "count") == 0 ? 1 : 0, UINT32_MAX, &v);
        if (r < 0)
                return r;
        if (strcmp(leaf, "inside") == 0) {
                mc->m->inside = (uint32_t)v;
                mc->inside = true;
        } else if (strcmp(leaf, "outside") == 0) {
                mc->m->outside = (uint32_t)v;
                mc->outside = true;
        } else {
                mc->m->count = (uint32_t)v;
                mc->count = true;
        }
        return 0;
}

static bool ranges_overlap(uint32_t a, uint32_t b, uint32_t n)
{
        /* [a, a+n) and [b, b+n') with n the count of the first; callers pass both orders */
        return a <= b && (uint64_t)b < (uint64_t)a + n;
}

static int h_map(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        struct dc_config *c = l->c;
        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                if (strcmp(str(s), "root") == 0)
                        c->user.map = DC_USERMAP_ROOT;
                else if (strcmp(str(s), "auto") == 0)
                        c->user.map = DC_USERMAP_AUTO;
                else
                        return err_at(l, s, key,
                                      "expected \"root\", \"auto\" or a list of { inside; outside; count; }, got %s",
                                      GOT(s));
                return 0;
        }
        if (config_setting_type(s) != CONFIG_TYPE_LIST && config_setting_type(s) != CONFIG_TYPE_ARRAY)
                return err_at(l, s, key, "expected \"root\", \"auto\" or a list of { inside; outside; count; }, got %s",
                              GOT(s));
        int r = check_type(l, s, key, DC_KT_LIST);
        if (r < 0)
                return r;
        size_t n = (size_t)config_setting_length(s);
        if (n == 0)
                return err_at(l, s, key, "the list of ranges is empty");
        c->user.maps = dc_xcalloc(n, sizeof(*c->user.maps));
        bool failed = false;
        for (size_t i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                struct dc_idmap *m = &c->user.maps[i];
                c->user.n_maps = i + 1;
                struct map_ctx mc = { .m = m };
                _cleanup_free_ char *dk = dc_xasprintf("%s[%zu]", key, i);
                r = walk_group(l, e, "user.map[]", dk, &mc);
                if (r == 0 && (!mc.inside || !mc.outside || !mc.count))
                        r = err_at(l, e, NULL, "%s.%s: is required", dk,
                                   !mc.inside ? "inside" : !mc.outside ? "outside" : "count");
                if (r == 0 && (uint64_t)m->inside + m->count - 1 > UINT32_MAX)
                        r = err_at(l, e, NULL, "%s: inside range %u+%u goes past 4294967295", dk, m->inside,
                                   m->count);
                if (r == 0 && (uint64_t)m->outside + m->count - 1 > UINT32_MAX)
                        r = err_at(l, e, NULL, "%s: outside range %u+%u goes past 4294967295", dk, m->outside,
                                   m->count);
                for (size_t j = 0; r == 0 && j < i; j++) {
                        const struct dc_idmap *q = &c->user.maps[j];
                        if (!q->count)
                                continue; /* an element with an error */
                        if (ranges_overlap(q->inside, m->inside, q->count) ||
                            ranges_overlap(m->inside, q->inside, m->count))
                                r = err_at(l, e, NULL, "%s: inside ids %u-%u overlap %s[%zu]", dk, m->inside,
                                           (unsigned)(m->inside + m->count - 1), key, j);
                        else if (ranges_overlap(q->outside, m->outside, q->count) ||
                                 ranges_overlap(m->outside, q->outside, m->count))
                                r = err_at(l, e, NULL, "%s: outside ids %u-%u overlap %s[%zu]", dk, m->outside,
                                           (unsigned)(m->outside + m->count - 1), key, j);
                }
                if (r < 0) {
                        m->count = 0; /* not compared with the next ones */
                        if ((r = record(l, r)) != REPORTED)
                                return r;
                        failed = true;
                }
        }
        if (failed)
                return REPORTED;
        c->user.map = DC_USERMAP_EXPLICIT;
        return 0;
}

/* ---- limits --------------------------------------------------------------- */

static int h_memory(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        return get_size(l, s, key, &l->c->limits.memory);
}

static int h_cpus(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        double v;
        if (is_int(s)) {
                long long i;
                int r = get_int(l, s, key, &i);
                if (r < 0)
                        return r;
                v = (double)i;
        } else {
                v = config_setting_get_float(s);
        }
        if (!(v > 0) || !isfinite(v))
                return err_at(l, s, key, "must be a number greater than 0, like 1.5, got %g", v);
        if (v < 0.01)
                return err_at(l, s, key, "%g is below 0.01: the kernel's smallest CPU quota is 1 ms in each 100 ms "
                              "period", v);
        l->c->limits.cpus = v;
        return 0;
}

static int h_pids(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        /* 4194304: PID_MAX_LIMIT, the most pids a (64-bit) Linux system has;
         * pids.max refuses more */
        return get_ranged(l, s, key, 1, 4194304, &l->c->limits.pids);
}

/* ---- security ------------------------------------------------------------- */

static int h_caps(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        bool add = strcmp(strrchr(key, '.') + 1, "add") == 0;
        struct dc_strv *field = add ? &l->c->security.cap_add : &l->c->security.cap_drop;
        struct dc_strv names = { 0 };
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                const char *v = str(e);
                int cap;
                char *canon = NULL;
                if (dc_cap_parse(v, &cap, &canon) < 0) {
                        dc_strv_free(&names);
                        return err_at(l, e, key,
                                      "%s is not a capability (a name like \"NET_ADMIN\" or \"CAP_NET_ADMIN\", "
                                      "or \"ALL\")",
                                      SHOW(v));
                }
                if (dc_strv_contains(&names, canon)) {
                        int r = err_at(l, e, key, "%s is listed twice", canon);
                        free(canon);
                        dc_strv_free(&names);
                        return r;
                }
                dc_strv_push_take(&names, canon);
        }
        dc_strv_free(field);
        *field = names;
        return 0;
}

static int h_seccomp(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        if (strcmp(str(s), "default") == 0)
                l->c->security.seccomp = DC_SECCOMP_DEFAULT;
        else if (strcmp(str(s), "unconfined") == 0)
                l->c->security.seccomp = DC_SECCOMP_UNCONFINED;
        else
                return err_at(l, s, key, "%s is not a seccomp profile (\"default\" or \"unconfined\")",
                              SHOW(str(s)));
        return 0;
}

static int h_nnp(struct loader *l, config_setting_t *s, const char *key, void *ctx)
{
        (void)ctx;
        (void)key;
        l->c->security.no_new_privileges = config_setting_get_bool(s);
        return 0;
}

/* ---- the handler table -------------------------------------------------- */

static const struct {
        const char *key;
        handler_fn fn;
} handlers[] = {
        { "name", h_name },
        { "hostname", h_hostname },
        { "rootfs", h_group },
        { "rootfs.path", h_rootfs_src },
        { "rootfs.tarball", h_rootfs_src },
        { "rootfs.image", h_rootfs_src },
        { "rootfs.tag", h_rootfs_tag },
        { "rootfs.writable", h_rootfs_writable },
        { "rootfs.idmap", h_rootfs_idmap },
        { "namespaces", h_namespaces },
        { "sysctls", h_sysctls },
        { "devices", h_devices },
        { "process", h_group },
        { "process.args", h_args },
        { "process.env", h_env },
        { "process.cwd", h_cwd },
        { "process.user", h_user },
        { "process.terminal", h_terminal },
        { "process.init", h_init },
        { "process.stop_signal", h_stop_signal },
        { "process.log_max_size", h_log_max_size },
        { "process.rlimits", h_group },
        { "process.rlimits.as", h_rlimit },
        { "process.rlimits.core", h_rlimit },
        { "process.rlimits.cpu", h_rlimit },
        { "process.rlimits.data", h_rlimit },
        { "process.rlimits.fsize", h_rlimit },
        { "process.rlimits.locks", h_rlimit },
        { "process.rlimits.memlock", h_rlimit },
        { "process.rlimits.msgqueue", h_rlimit },
        { "process.rlimits.nice", h_rlimit },
        { "process.rlimits.nofile", h_rlimit },
        { "process.rlimits.nproc", h_rlimit },
        { "process.rlimits.rss", h_rlimit },
        { "process.rlimits.rtprio", h_rlimit },
        { "process.rlimits.rttime", h_rlimit },
        { "process.rlimits.sigpending", h_rlimit },
        { "process.rlimits.stack", h_rlimit },
        { "volumes", h_volumes },
        { "volumes[].type", h_vol_type },
        { "volumes[].source", h_vol_source },
        { "volumes[].target", h_vol_target },
        { "volumes[].readonly", h_vol_readonly },
        { "volumes[].idmap", h_vol_idmap },
        { "volumes[].size", h_vol_size },
        { "volumes[].mode", h_vol_mode },
        { "network", h_group },
        { "network.mode", h_net_mode },
        { "network.interface", h_net_interface },
        { "network.address", h_net_address },
        { "network.bridge", h_net_bridge },
        { "network.gateway", h_net_gateway },
        { "network.ipv6", h_ipv6 },
        { "network.ipv6.address", h_ipv6_address },
        { "network.ipv6.gateway", h_ipv6_gateway },
        { "network.ports", h_ports },
        { "network.ports[].host", h_port_host },
        { "network.ports[].container", h_port_container },
        { "network.ports[].protocol", h_port_protocol },
        { "network.dns", h_dns },
        { "time", h_group },
        { "time.boottime", h_boottime },
        { "time.monotonic", h_monotonic },
        { "user", h_group },
        { "user.map", h_map },
        { "user.map[].inside", h_map_field },
        { "user.map[].outside", h_map_field },
        { "user.map[].count", h_map_field },
        { "limits", h_group },
        { "limits.memory", h_memory },
        { "limits.cpus", h_cpus },
        { "limits.pids", h_pids },
        { "security", h_group },
        { "security.capabilities", h_group },
        { "security.capabilities.add", h_caps },
        { "security.capabilities.drop", h_caps },
        { "security.seccomp", h_seccomp },
        { "security.no_new_privileges", h_nnp },
};

static handler_fn find_handler(const char *tkey)
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(handlers); i++)
                if (strcmp(handlers[i].key, tkey) == 0)
                        return handlers[i].fn;
        return NULL;
}

/* ---- overrides ------------------------------------------------------------ */

/* Deep-copy SRC as a member NAME (NULL for array/list elements) of PARENT,
 * marking every copied setting as coming from --set. */
static int copy_setting(struct loader *l, config_setting_t *parent, const char *name, const config_setting_t *src)
{
        int type = config_setting_type(src);
        config_setting_t *d = config_setting_add(parent, name, type);
        if (!d)
                return dc_err(l->err, EINVAL, "internal error: cannot copy an override value");
        config_setting_set_hook(d, &set_marker);
        switch (type) {
        case CONFIG_TYPE_INT: config_setting_set_int(d, config_setting_get_int(src)); break;
        case CONFIG_TYPE_INT64: config_setting_set_int64(d, config_setting_get_int64(src)); break;
        case CONFIG_TYPE_FLOAT: config_setting_set_float(d, config_setting_get_float(src)); break;
        case CONFIG_TYPE_BOOL: config_setting_set_bool(d, config_setting_get_bool(src)); break;
        case CONFIG_TYPE_STRING: config_setting_set_string(d, str(src)); break;
        case CONFIG_TYPE_GROUP:
        case CONFIG_TYPE_ARRAY:
        case CONFIG_TYPE_LIST:
                for (int i = 0; i < config_setting_length(src); i++) {
                        const config_setting_t *e = config_setting_get_elem(src, (unsigned)i);
                        int r = copy_setting(l, d, type == CONFIG_TYPE_GROUP ? config_setting_name(e) : NULL, e);
                        if (r < 0)
                                return r;
                }
                break;
        default:
                break;
        }
        return 0;
}

static const char *suggest_full(const char *key)
{
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t i = 0; i < dc_n_keys; i++) {
                if (strchr(dc_keys[i].name, '['))
                        continue;
                size_t d = edit_distance(key, dc_keys[i].name);
                if (d < best_d) {
                        best_d = d;
                        best = dc_keys[i].name;
                }
        }
        if (best && best_d <= 2 && best_d * 2 < strlen(best))
                return best;
        return NULL;
}

/* Graft one "KEY=VALUE" into the tree, replacing what was there. */
static int apply_set(struct loader *l, config_t *cfg, const char *set)
{
        const struct dc_origin so = { intern(l->c, "--set"), 0 };
        const char *eq = strchr(set, '=');
        if (!eq || eq == set)
                return dc_err_at(l->err, &so, NULL, "%s: expected KEY=VALUE", SHOW(set));
        _cleanup_free_ char *key = dc_xstrndup(set, (size_t)(eq - set));
        const char *value = eq + 1;
        int idx = dc_key_index(key);
        if (idx < 0) {
                const char *sug = suggest_full(key);
                if (sug)
                        return dc_err_at(l->err, &so, SHOW(key), "unknown key (did you mean \"%s\"?)", sug);
                return dc_err_at(l->err, &so, SHOW(key), "unknown key");
        }
        if (strchr(key, '['))
                return dc_err_at(l->err, &so, key, "cannot be set on its own; set the whole list");

        /* VALUE as a libconfig value, else as a plain string. */
        __attribute__((cleanup(config_destroy))) config_t vcfg;
        config_init(&vcfg);
        const config_setting_t *src = NULL;
        if (!strstr(value, "@include")) {
                _cleanup_free_ char *text = dc_xasprintf("v = %s;\n", value);
                struct scan_state st = { 0 };
                size_t before = l->n_bad;
                prescan(l, text, "--set", DC_MAX_INCLUDE_DEPTH, &st);
                free(st.stack);
                free(st.lines);
                if (!st.mis.file && config_read_string(&vcfg, text) == CONFIG_TRUE &&
                    config_setting_length(config_root_setting(&vcfg)) == 1) {
                        src = config_setting_get_elem(config_root_setting(&vcfg), 0);
                        if (l->n_bad > before)
                                return bad_int_error(l, &so, key, &l->bad[before]);
                }
                l->n_bad = before;
        }

        config_setting_t *parent = config_root_setting(cfg);
        _cleanup_free_ char *path = dc_xstrdup(key);
        char *comp = path;
        for (char *dot; (dot = strchr(comp, '.')); comp = dot + 1) {
                *dot = 0;
                config_setting_t *m = config_setting_get_member(parent, comp);
                if (m && !config_setting_is_group(m)) {
                        config_setting_remove(parent, comp);
                        m = NULL;
                }
                if (!m) {
                        m = config_setting_add(parent, comp, CONFIG_TYPE_GROUP);
                        if (!m)
                                return dc_err(l->err, EINVAL, "internal error: cannot add %s", comp);
                        config_setting_set_hook(m, &set_marker);
                }
                parent = m;
        }
        if (config_setting_get_member(parent, comp))
                config_setting_remove(parent, comp);
        if (src)
                return copy_setting(l, parent, comp, src);
        config_setting_t *d = config_setting_add(parent, comp, CONFIG_TYPE_STRING);
        if (!d)
                return dc_err(l->err, EINVAL, "internal error: cannot add %s", comp);
        config_setting_set_hook(d, &set_marker);
        config_setting_set_string(d, value);
        return 0;
}

/* ---- checks across keys of one group, and defaults --------------------- */

static int check_rootfs(struct loader *l)
{
        struct dc_config *c = l->c;
        int ki = dc_key_index("rootfs");
        const struct dc_origin *o = &c->origins[ki];
        const char *given[3];
        size_t n = 0;
        if (c->rootfs.path)
                given[n++] = "rootfs.path";
        if (c->rootfs.tarball)
                given[n++] = "rootfs.tarball";
        if (c->rootfs.image)
                given[n++] = "rootfs.image";
        if (n == 0)
                return dc_err_at(l->err, o, "rootfs", "one of rootfs.path, rootfs.tarball or rootfs.image is required");
        if (n > 1)
                return dc_err_at(l->err, o, "rootfs", "%s and %s are both given; use exactly one", given[0], given[1]);
        if (c->rootfs.tag && !c->rootfs.image)
                return dc_err_at(l->err, dc_config_origin(c, "rootfs.tag"), "rootfs.tag",
                                 "only applies to rootfs.image");
        if (c->rootfs.writable == DC_WRITABLE_DIRECT && !c->rootfs.path)
                return dc_err_at(l->err, dc_config_origin(c, "rootfs.writable"), "rootfs.writable",
                                 "\"direct\" needs rootfs.path (a tarball or image is never written to)");
        /* rootfs.idmap is about a directory rootfs: as root, an image's or a
         * tarball's cache is always idmapped for a user namespace */
        if (dc_config_present(c, "rootfs.idmap") && !c->rootfs.path)
                return dc_err_at(l->err, dc_config_origin(c, "rootfs.idmap"), "rootfs.idmap",
                                 "only for rootfs.path (as root, an image's or a tarball's layers are always "
                                 "idmapped for a user namespace)");
        return 0;
}

static int fill_defaults(struct loader *l)
{
        struct dc_config *c = l->c;
        if (!c->name) {
                const char *slash = strrchr(c->file, '/');
                const char *base = slash ? slash + 1 : c->file;
                size_t n = strlen(base);
                if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
                        n -= 5;
                _cleanup_free_ char *name = dc_xstrndup(base, n);
                if (!valid_name(name)) {
                        struct dc_origin o = { l->top, 0 };
                        return dc_err_at(l->err, &o, "name",
                                         "not set, and the file name gives %s, which is not a valid name "
                                         "(1-63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter "
                                         "or digit); set name = \"...\"",
                                         SHOW(name));
                }
                c->name = DC_TAKE(name);
        }
        if (!c->hostname)
                c->hostname = dc_xstrdup(c->name);
        if (!dc_config_present(c, "namespaces"))
                c->namespaces = DC_NS_DEFAULT;
        if (!c->network.interface)
                c->network.interface = dc_xstrdup("eth0");
        return 0;
}

/* ---- loading ------------------------------------------------------------------ */

/* The setting name at the start of LINE of the top TEXT, or of the included
 * file INC (as libconfig names it): where libconfig found a duplicate. */
/* Where line LINE (from 1) of TEXT starts, or NULL. */
static const char *line_start(const char *text, int line)
{
        for (int n = 1; n < line && text; n++) {
                text = strchr(text, '\n');
                if (text)
                        text++;
        }
        return text;
}

static char *duplicate_name(struct loader *l, const char *text, const char *inc, int line)
{
        _cleanup_free_ char *ftext = NULL;
        if (inc) {
                _cleanup_free_ char *path = dc_xasprintf("%s/%s", l->c->dir, inc);
                if (dc_read_file(path, DC_CONFIG_MAX_SIZE, &ftext) < 0)
                        return NULL;
                text = ftext;
        }
        text = line_start(text, line);
        if (!text)
                return NULL;
        text += strspn(text, " \t");
        size_t len = 0;
        if (isalpha((unsigned char)text[0]) || text[0] == '*')
                len = strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-*");
        /* Only a line that sets one thing tells which: with several on it,
         * the duplicate may be any of them. */
        int sets = 0;
        bool quoted = false;
        for (const char *p = text; *p && *p != '\n'; p++) {
                if (*p == '"' && (p == text || p[-1] != '\\'))
                        quoted = !quoted;
                else if (!quoted && (*p == '#' || (p[0] == '/' && (p[1] == '/' || p[1] == '*'))))
                        break;
                else if (!quoted && (*p == '=' || *p == ':'))
                        sets++;
        }
        return len && sets == 1 ? dc_xstrndup(text, len) : NULL;
}

/* Which of the names that LINE of the top TEXT sets is the one set twice:
 * each in turn is renamed (its first letter made '*', which no config key
 * has) and the text read again; the one whose renaming ends the complaint
 * at that line. NULL when none does (or the line is in an included file). */
static char *duplicate_by_trial(struct loader *l, const char *text, int line)
{
        const char *ls = line_start(text, line);
        if (!ls)
                return NULL;
        bool quoted = false;
        for (const char *p = ls; *p && *p != '\n'; p++) {
                if (*p == '"' && (p == ls || p[-1] != '\\')) {
                        quoted = !quoted;
                        continue;
                }
                if (quoted)
                        continue;
                if (*p == '#' || (p[0] == '/' && (p[1] == '/' || p[1] == '*')))
                        break;
                if (*p != '=' && *p != ':')
                        continue;
                const char *e = p;
                while (e > ls && (e[-1] == ' ' || e[-1] == '\t'))
                        e--;
                const char *b = e;
                while (b > ls && (isalnum((unsigned char)b[-1]) || b[-1] == '_' || b[-1] == '-' || b[-1] == '*'))
                        b--;
                if (b == e || !isalpha((unsigned char)*b))
                        continue;
                _cleanup_free_ char *copy = dc_xstrdup(text);
                copy[b - text] = '*';
                __attribute__((cleanup(config_destroy))) config_t cfg;
                config_init(&cfg);
                config_set_include_dir(&cfg, l->c->dir);
                bool gone = config_read_string(&cfg, copy) == CONFIG_TRUE || config_error_file(&cfg) ||
                            config_error_line(&cfg) != line || !config_error_text(&cfg) ||
                            strcmp(config_error_text(&cfg), "duplicate setting name") != 0;
                if (gone)
                        return dc_xstrndup(b, (size_t)(e - b));
        }
        return NULL;
}

static int load(struct loader *l, const char *text, const struct dc_config_opts *opts)
{
        struct dc_config *c = l->c;
        __attribute__((cleanup(config_destroy))) config_t cfg;
        config_init(&cfg);
        /* Includes resolve against the top file's directory, also nested ones
         * (libconfig 1.5 has a single include directory and no hook). */
        config_set_include_dir(&cfg, c->dir);

        /* libconfig 1.5 leaks when its parser fails on a string token. A
         * misplaced string in the top text is replaced by a stray character
         * and the text cut there: libconfig then fails at the same place (or
         * at an earlier error) without leaking. For one in an included
         * fragment, the @include leading to it is replaced instead; when
         * libconfig fails right there, the error is the fragment's. */
        struct scan_state st = { 0 };
        if (c->file && stat(c->file, &st.chain[0]) == 0)
                st.chain_n = 1;
        prescan(l, text, l->top, 0, &st);
        free(st.stack);
        free(st.lines);
        if (st.bad_inc_file) {
                struct dc_origin o = { st.bad_inc_file, st.bad_inc_line };
                return dc_err_at(l->err, &o, "@include", "%s", st.bad_inc);
        }
        const struct misplaced mis = st.mis;
        _cleanup_free_ char *cut = NULL;
        if (mis.file) {
                size_t off = mis.depth > 0 ? mis.top_offset : mis.offset;
                cut = dc_xstrndup(text, off + 1);
                cut[off] = '$';
                text = cut;
        }

        if (config_read_string(&cfg, text) != CONFIG_TRUE) {
                if (mis.file && mis.depth > 0 && !config_error_file(&cfg) &&
                    config_error_line(&cfg) == mis.top_line) {
                        struct dc_origin o = { mis.file, mis.line };
                        return dc_err_at(l->err, &o, NULL, "syntax error");
                }
                if (st.unclosed_file) {
                        /* libconfig reads an included file as if it stood in
                         * place of its @include: an unclosed bracket there is
                         * found only at the end of the top file. */
                        struct dc_origin o = { st.unclosed_file, st.unclosed_line };
                        return dc_err_at(l->err, &o, NULL, "syntax error: the '%c' opened here is not closed in this "
                                         "file (an @include'd file must close what it opens)", st.unclosed);
                }
                struct dc_origin o = { file_display(l, config_error_file(&cfg)), config_error_line(&cfg) };
                const char *t = config_error_text(&cfg);
                if (t && strcmp(t, "duplicate setting name") == 0) {
                        _cleanup_free_ char *dup = duplicate_name(l, text, config_error_file(&cfg),
                                                                  config_error_line(&cfg));
                        if (!dup && !config_error_file(&cfg))
                                dup = duplicate_by_trial(l, text, config_error_line(&cfg));
                        /* an @include'd file's settings count as the file's own */
                        bool includes = strstr(text, "@include") != NULL;
                        if (dup)
                                return dc_err_at(l->err, &o, dup, "set twice in the same group%s",
                                                 includes ? " (a setting may appear only once across a file and "
                                                            "the files it @includes; vary one with --set)"
                                                          : "");
                        if (includes)
                                return dc_err_at(l->err, &o, NULL, "a setting here is set twice in its group (a "
                                                 "setting may appear only once across a file and the files it "
                                                 "@includes; vary one with --set)");
                }
                return dc_err_at(l->err, &o, NULL, "%s", t ? t : "syntax error");
        }
        if (mis.file) {
                /* Not expected (the stray character is a syntax error), but if
                 * our scan and libconfig's ever disagree, the misplaced string
                 * is still an error. */
                struct dc_origin o = { mis.file, mis.line };
                return dc_err_at(l->err, &o, NULL, "syntax error");
        }

        /* A bad override is recorded like a bad key; the file's keys are
         * still checked. */
        bool failed = false;
        for (size_t i = 0; opts && i < opts->n_sets; i++) {
                int r = apply_set(l, &cfg, opts->sets[i]);
                if (r < 0 && (r = record(l, r)) != REPORTED)
                        return r;
                failed |= r < 0;
        }

        int r = walk_group(l, config_root_setting(&cfg), NULL, NULL, NULL);
        if (r == REPORTED || (r == 0 && failed))
                return report(l);
        if (r < 0)
                return r;
        r = check_rootfs(l);
        if (r < 0)
                return r;
        return fill_defaults(l);
}

int dc_config_load_string(const char *text, const char *file, const struct dc_config_opts *opts,
                          struct dc_config **out, struct dc_error *err)
{
        *out = NULL;
        if (!file || !*file)
                file = "<config>";
        _cleanup_config_ struct dc_config *c = dc_xcalloc(1, sizeof(*c));
        c->present = dc_xcalloc(dc_n_keys, sizeof(*c->present));
        /* One more than the table: the "not set" origin for unknown keys. */
        c->origins = dc_xcalloc(dc_n_keys + 1, sizeof(*c->origins));
        c->file = dc_xstrdup(file);
        c->network.dns_host = true;
        c->security.no_new_privileges = true;

        __attribute__((cleanup(loader_done))) struct loader l = { .c = c, .err = err };
        l.top = intern(c, file);
        for (size_t i = 0; i <= dc_n_keys; i++)
                c->origins[i] = (struct dc_origin){ l.top, 0 };
        l.dir_given = dir_of(file);
        l.cwd = getcwd(NULL, 0);
        /* Needed for a relative file name and for relative paths in --set. */
        if (!l.cwd && (l.dir_given[0] != '/' || (opts && opts->n_sets > 0)))
                return dc_err(err, errno, "%s: cannot determine the current directory: %s", file, strerror(errno));
        c->dir = dc_path_join(l.cwd ? l.cwd : "/", l.dir_given);

        int r = load(&l, text ? text : "", opts);
        if (r < 0)
                return r;
        *out = DC_TAKE(c);
        return 0;
}

int dc_config_load(const char *file, const struct dc_config_opts *opts, struct dc_config **out,
                   struct dc_error *err)
{
        *out = NULL;
        _cleanup_free_ char *text = NULL;
        struct dc_origin o = { file, 0 };
        int r = dc_read_file(file, DC_CONFIG_MAX_SIZE, &text);
        if (r == -EFBIG)
                return dc_err_at(err, &o, NULL, "cannot read: larger than %u bytes", DC_CONFIG_MAX_SIZE);
        if (r < 0) {
                dc_err_at(err, &o, NULL, "cannot read: %s", strerror(-r));
                if (err)
                        err->code = -r;
                return r;
        }
        if (strlen(text) != (size_t)r)
                return dc_err_at(err, &o, NULL, "contains a NUL byte; not a text file");
        return dc_config_load_string(text, file, opts, out, err);
}

void dc_config_free(struct dc_config *c)
{
        if (!c)
                return;
        free(c->file);
        free(c->dir);
        free(c->name);
        free(c->hostname);
        free(c->rootfs.path);
        free(c->rootfs.tarball);
        free(c->rootfs.image);
        free(c->rootfs.tag);
        free(c->rootfs.writable_dir);
        dc_strv_free(&c->process.args);
        dc_strv_free(&c->process.env);
        free(c->process.cwd);
        free(c->process.user);
        dc_strv_free(&c->sysctls);
        free(c->sysctl_origins);
        for (size_t i = 0; i < c->n_devices; i++) {
                free(c->devices[i].host);
                free(c->devices[i].container);
        }
        free(c->devices);
        for (size_t i = 0; i < c->n_volumes; i++) {
                free(c->volumes[i].source);
                free(c->volumes[i].target);
        }
        free(c->volumes);
        free(c->network.interface);
        free(c->network.address);
        free(c->network.bridge);
        free(c->network.gateway);
        free(c->network.ipv6_address);
        free(c->network.ipv6_gateway);
        free(c->network.ports);
        dc_strv_free(&c->network.dns);
        free(c->user.maps);
        dc_strv_free(&c->security.cap_add);
        dc_strv_free(&c->security.cap_drop);
        free(c->present);
        free(c->origins);
        dc_strv_free(&c->files);
        free(c);
}

const struct dc_origin *dc_config_origin(const struct dc_config *c, const char *key)
{
        int idx = dc_key_index(key);
        return &c->origins[idx >= 0 ? (size_t)idx : dc_n_keys];
}

bool dc_config_present(const struct dc_config *c, const char *key)
{
        int idx = dc_key_index(key);
        return idx >= 0 && c->present[idx];
}

/* ---- JSON ------------------------------------------------------------------ */

static void json_double(FILE *out, double v)
{
        char buf[64];
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
                snprintf(buf, sizeof(buf), "%.17g", v);
        fputs(buf, out);
}

static void json_strv(FILE *out, const struct dc_strv *sv)
{
        fputc('[', out);
        for (size_t i = 0; i < sv->n; i++) {
                if (i)
                        fputs(", ", out);
                dc_json_str(out, sv->v[i]);
        }
        fputc(']', out);
}

void dc_config_print_json(const struct dc_config *c, FILE *out)
{
        static const char *const writable[] = { NULL, "tmpfs", "direct", "none" };
        static const char *const modes[] = { "none", "host", "nat", "bridge" };

        fputs("{\n  \"name\": ", out);
        dc_json_str(out, c->name);
        fputs(",\n  \"hostname\": ", out);
        dc_json_str(out, c->hostname);

        fputs(",\n  \"rootfs\": {\n    \"path\": ", out);
        dc_json_str(out, c->rootfs.path);
        fputs(",\n    \"tarball\": ", out);
        dc_json_str(out, c->rootfs.tarball);
        fputs(",\n    \"image\": ", out);
        dc_json_str(out, c->rootfs.image);
        fputs(",\n    \"tag\": ", out);
        dc_json_str(out, c->rootfs.tag);
        fputs(",\n    \"writable\": ", out);
        dc_json_str(out, c->rootfs.writable == DC_WRITABLE_DIR ? c->rootfs.writable_dir
                         : (size_t)c->rootfs.writable < DC_ARRAY_SIZE(writable) ? writable[c->rootfs.writable]
                                                                                 : NULL);
        fprintf(out, ",\n    \"idmap\": %s",
                c->rootfs.idmap == DC_IDMAP_YES  ? "true"
                : c->rootfs.idmap == DC_IDMAP_NO ? "false"
                : c->rootfs.path                 ? "\"auto\""
                                                 : "null");
        fputs("\n  },\n  \"devices\": [", out);
        for (size_t i = 0; i < c->n_devices; i++) {
                const struct dc_device *d = &c->devices[i];
                _cleanup_free_ char *v = dc_xasprintf("%s:%s:%s", d->host, d->container, d->perms);
                fputs(i ? ", " : "", out);
                dc_json_str(out, v);
        }
        fputs("],\n  \"sysctls\": ", out);
        json_strv(out, &c->sysctls);
        fputs(",\n  \"namespaces\": [", out);
        bool first = true;
        for (unsigned bit = 1; bit <= DC_NS_TIME; bit <<= 1) {
                if (!(c->namespaces & bit))
                        continue;
                fputs(first ? "" : ", ", out);
                dc_json_str(out, dc_ns_name(bit));
                first = false;
        }

        fputs("],\n  \"process\": {\n    \"args\": ", out);
        if (c->process.args_set)
                json_strv(out, &c->process.args);
        else
                fputs("null", out);
        fputs(",\n    \"env\": ", out);
        if (c->process.env_set)
                json_strv(out, &c->process.env);
        else
                fputs("null", out);
        fputs(",\n    \"cwd\": ", out);
        dc_json_str(out, c->process.cwd);
        fputs(",\n    \"user\": ", out);
        dc_json_str(out, c->process.user);
        fprintf(out, ",\n    \"terminal\": %s",
                c->process.terminal == DC_TERM_YES ? "true" : c->process.terminal == DC_TERM_NO ? "false" : "\"auto\"");
        fprintf(out, ",\n    \"init\": %s", c->process.init ? "true" : "false");
        if (c->process.stop_signal) {
                char name[24];
                fprintf(out, ",\n    \"stop_signal\": \"%s\"", dc_signal_name(c->process.stop_signal, name));
        } else {
                fputs(",\n    \"stop_signal\": null", out);
        }
        if (c->process.log_max_size_set)
                fprintf(out, ",\n    \"log_max_size\": %llu", c->process.log_max_size);
        else
                fputs(",\n    \"log_max_size\": null", out);
        fputs(",\n    \"rlimits\": {", out);
        for (size_t i = 0; i < DC_RLIMIT_N; i++) {
                const struct rlimit *r = &c->process.rlimits[i];
                fprintf(out, "%s\"%s\": ", i ? ", " : " ", dc_rlimit_names[i]);
                if (!c->process.rlimit_set[i]) {
                        fputs("null", out);
                } else if (r->rlim_cur == r->rlim_max && r->rlim_cur != RLIM_INFINITY) {
                        fprintf(out, "%llu", (unsigned long long)r->rlim_cur);
                } else {
                        char b[64];
                        dc_rlimit_format(r, b, sizeof(b));
                        fprintf(out, "\"%s\"", b);
                }
        }
        fputs(" }", out);
        fputs("\n  },\n  \"volumes\": [", out);
        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct dc_volume *v = &c->volumes[i];
                fprintf(out, "%s\n    { \"type\": \"%s\", \"source\": ", i ? "," : "",
                        v->type == DC_VOL_TMPFS ? "tmpfs" : "bind");
                dc_json_str(out, v->source);
                fputs(", \"target\": ", out);
                dc_json_str(out, v->target);
                fprintf(out, ", \"readonly\": %s, \"idmap\": %s, \"size\": ", v->readonly ? "true" : "false",
                        v->idmap ? "true" : "false");
                if (v->size)
                        fprintf(out, "%llu", v->size);
                else
                        fputs("null", out);
                if (v->type == DC_VOL_TMPFS)
                        fprintf(out, ", \"mode\": \"%04o\" }", (v->mode ? v->mode : DC_TMPFS_MODE) & 07777);
                else
                        fputs(", \"mode\": null }", out);
        }
        fputs(c->n_volumes ? "\n  ],\n" : "],\n", out);

        fputs("  \"network\": {\n    \"mode\": ", out);
        dc_json_str(out, (size_t)c->network.mode < DC_ARRAY_SIZE(modes) ? modes[c->network.mode] : NULL);
        fputs(",\n    \"interface\": ", out);
        dc_json_str(out, c->network.interface);
        fputs(",\n    \"address\": ", out);
        dc_json_str(out, c->network.address);
        fputs(",\n    \"bridge\": ", out);
        dc_json_str(out, c->network.bridge);
        fputs(",\n    \"gateway\": ", out);
        dc_json_str(out, c->network.gateway);
        fputs(",\n    \"ipv6\": ", out);
        if (c->network.ipv6_address || c->network.ipv6_gateway) {
                fputs("{ \"address\": ", out);
                dc_json_str(out, c->network.ipv6_address);
                fputs(", \"gateway\": ", out);
                dc_json_str(out, c->network.ipv6_gateway);
                fputs(" }", out);
        } else {
                fputs(c->network.ipv6 ? "true" : "false", out);
        }
        fputs(",\n    \"ports\": [", out);
        for (size_t i = 0; i < c->network.n_ports; i++) {
                const struct dc_port *p = &c->network.ports[i];
                fprintf(out, "%s{ \"host\": %u, \"container\": %u, \"protocol\": \"%s\" }", i ? ", " : "", p->host,
                        p->container, p->proto == DC_PROTO_UDP ? "udp" : "tcp");
        }
        fputs("],\n    \"dns\": ", out);
        if (c->network.dns_host)
                fputs("\"host\"", out);
        else
                json_strv(out, &c->network.dns);

        fputs("\n  },\n  \"time\": {\n    \"boottime\": ", out);
        if (c->time.boottime_reset)
                fputs("\"reset\"", out);
        else
                fprintf(out, "%lld", c->time.boottime);
        fprintf(out, ",\n    \"monotonic\": %lld\n  },\n  \"user\": {\n    \"map\": ", c->time.monotonic);
        switch (c->user.map) {
        case DC_USERMAP_ROOT: fputs("\"root\"", out); break;
        case DC_USERMAP_AUTO: fputs("\"auto\"", out); break;
        case DC_USERMAP_EXPLICIT:
                fputc('[', out);
                for (size_t i = 0; i < c->user.n_maps; i++)
                        fprintf(out, "%s{ \"inside\": %u, \"outside\": %u, \"count\": %u }", i ? ", " : "",
                                c->user.maps[i].inside, c->user.maps[i].outside, c->user.maps[i].count);
                fputc(']', out);
                break;
        case DC_USERMAP_UNSET:
        default: fputs("null", out); break;
        }

        fputs("\n  },\n  \"limits\": {\n    \"memory\": ", out);
        if (c->limits.memory)
                fprintf(out, "%llu", c->limits.memory);
        else
                fputs("null", out);
        fputs(",\n    \"cpus\": ", out);
        if (c->limits.cpus > 0)
                json_double(out, c->limits.cpus);
        else
                fputs("null", out);
        fputs(",\n    \"pids\": ", out);
        if (c->limits.pids)
                fprintf(out, "%lld", c->limits.pids);
        else
                fputs("null", out);
        fputs("\n  },\n  \"security\": {\n    \"capabilities\": { \"add\": ", out);
        json_strv(out, &c->security.cap_add);
        fputs(", \"drop\": ", out);
        json_strv(out, &c->security.cap_drop);
        fprintf(out, " },\n    \"seccomp\": \"%s\",\n    \"no_new_privileges\": %s\n  }\n}\n",
                c->security.seccomp == DC_SECCOMP_UNCONFINED ? "unconfined" : "default",
                c->security.no_new_privileges ? "true" : "false");
}
