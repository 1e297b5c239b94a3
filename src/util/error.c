#include "diyctl/error.h"

#include <stdlib.h>

#include <errno.h>
#include <stdio.h>
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
        e->v[e->n++] = dc_xstrdup(one->msg);
}

/* An error's place: the length of its file's name and its line, from a
 * leading "FILE:LINE: " (line 0 when it has none, as "--set: ..."). */
static void place_of(const char *msg, size_t *file_len, long *line)
{
        for (const char *p = msg; *p && *p != '\n'; p++) {
                if (*p != ':' || p[1] < '0' || p[1] > '9')
                        continue;
                const char *q = p + 1;
                long v = 0;
                while (*q >= '0' && *q <= '9' && v < 100000000)
                        v = v * 10 + (*q++ - '0');
                if (q[0] == ':' && q[1] == ' ') {
                        *file_len = (size_t)(p - msg);
                        *line = v;
                        return;
                }
        }
        const char *colon = strstr(msg, ": ");
        *file_len = colon ? (size_t)(colon - msg) : 0;
        *line = 0;
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
                v[i].file = files;
                for (unsigned j = 0; j < i; j++)
                        if (flen[j] == flen[i] && memcmp(v[j].msg, v[i].msg, flen[i]) == 0) {
                                v[i].file = v[j].file;
                                break;
                        }
                if (v[i].file == files)
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
        if (shown < e->n)
                snprintf(err->msg + o, sizeof(err->msg) - o, "\n... and %u more error%s", e->n - shown,
                         e->n - shown > 1 ? "s" : "");
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
