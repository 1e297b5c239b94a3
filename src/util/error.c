#include "diyctl/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diyctl/util.h"

int dc_err(struct dc_error *err, int code, const char *fmt, ...)
{
        if (code < 0)
                code = -code;
        if (code == 0)
                code = EINVAL;
        if (err) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
                va_end(ap);
                err->code = code;
        }
        return -code;
}

int dc_err_at(struct dc_error *err, const struct dc_origin *o, const char *key, const char *fmt, ...)
{
        if (!err)
                return -EINVAL;
        char prefix[512];
        const char *file = o && o->file ? o->file : "<config>";
        if (o && o->line > 0)
                snprintf(prefix, sizeof(prefix), "%s:%d: ", file, o->line);
        else
                snprintf(prefix, sizeof(prefix), "%s: ", file);
        char body[1400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof(body), fmt, ap);
        va_end(ap);
        snprintf(err->msg, sizeof(err->msg), "%s%.100s%s%s", prefix, key ? key : "", key ? ": " : "", body);
        err->code = EINVAL;
        return -EINVAL;
}

void dc_errs_add(struct dc_errs *e, const struct dc_error *one)
{
        if (!e->n)
                e->code = one->code ? one->code : EINVAL;
        e->v = dc_xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
        char *m = dc_xstrdup(one->msg);
        for (char *p = m; (p = strchr(p, '\n'));)
                *p = ' '; /* one error a line: the list is split at newlines */
        e->v[e->n++] = m;
}

/* An error's place, from its leading "FILE:LINE: " or "FILE: ": the length
 * of FILE, and LINE (0 when it has none, as "--set: KEY: ..."). Only the
 * text before the first ": " is looked at: a message may hold "x.conf:3: "
 * of another file further on. */
static void place_of(const char *msg, size_t *file_len, long *line)
{
        const char *end = strstr(msg, ": ");
        size_t n = end ? (size_t)(end - msg) : 0;
        size_t d = n;
        while (d > 0 && msg[d - 1] >= '0' && msg[d - 1] <= '9')
                d--;
        *line = 0;
        *file_len = n;
        if (d < n && d > 1 && msg[d - 1] == ':' && n - d <= 9) {
                long v = 0;
                for (size_t k = d; k < n; k++)
                        v = v * 10 + (msg[k] - '0');
                *file_len = d - 1;
                *line = v;
        }
}

struct ranked {
        const char *msg;
        unsigned file, order;
        long line;
};

static int ranked_cmp(const void *a, const void *b)
{
        const struct ranked *x = a, *y = b;
        if (x->file != y->file)
                return x->file < y->file ? -1 : 1;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order; /* stable */
}

int dc_errs_end(struct dc_errs *e, struct dc_error *err)
{
        if (!e->n)
                return 0;
        struct ranked *v = dc_xmalloc(e->n * sizeof(*v));
        size_t *flen = dc_xmalloc(e->n * sizeof(*flen));
        unsigned files = 0;
        for (unsigned i = 0; i < e->n; i++) {
                v[i].msg = e->v[i];
                v[i].order = i;
                place_of(v[i].msg, &flen[i], &v[i].line);
                /* --set overrides apply to every file: theirs come first */
                bool set = flen[i] == 5 && strncmp(v[i].msg, "--set", 5) == 0;
                v[i].file = set ? 0 : files + 1;
                for (unsigned j = 0; j < i && !set; j++)
                        if (flen[j] == flen[i] && memcmp(v[j].msg, v[i].msg, flen[i]) == 0) {
                                v[i].file = v[j].file;
                                break;
                        }
                if (v[i].file == files + 1)
                        files++;
        }
        qsort(v, e->n, sizeof(*v), ranked_cmp);
        /* as many as fit, with room for the count of the rest; the first is
         * shown whatever its length, cut if need be */
        size_t o = 0, room = sizeof(err->msg) - 40;
        unsigned shown = 0;
        for (; shown < e->n; shown++) {
                size_t sep = shown ? 1 : 0, len = strlen(v[shown].msg);
                if (shown && o + sep + len >= room)
                        break;
                if (len >= room - o - sep)
                        len = room - o - sep - 1;
                memcpy(err->msg + o, "\n", sep);
                memcpy(err->msg + o + sep, v[shown].msg, len);
                o += sep + len;
        }
        err->msg[o] = 0;
        unsigned rest = e->n - shown + e->more;
        if (rest)
                snprintf(err->msg + o, sizeof(err->msg) - o, "\nand %u more error%s", rest, rest > 1 ? "s" : "");
        err->code = e->code;
        for (unsigned i = 0; i < e->n; i++)
                free(e->v[i]);
        free(e->v);
        free(v);
        free(flen);
        int code = e->code;
        *e = (struct dc_errs){ 0 };
        return -code;
}

int dc_err_wrap(struct dc_error *err, const char *fmt, ...)
{
        if (!err)
                return -EINVAL;
        char ctx[512], old[1500];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx, sizeof(ctx), fmt, ap);
        va_end(ap);
        snprintf(old, sizeof(old), "%.1490s", err->msg);
        snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old);
        if (err->code == 0)
                err->code = EINVAL;
        return -err->code;
}

void dc_err_clear(struct dc_error *err)
{
        err->code = 0;
        err->msg[0] = 0;
}
