#include "diyctl/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
        if (!e->n++)
                e->code = one->code ? one->code : EINVAL;
        size_t used = strlen(e->text), need = strlen(one->msg) + (used ? 1 : 0);
        /* room kept for the line that says how many more; the first error
         * is kept whatever its length, cut if need be */
        if (used + need + 40 >= sizeof(e->text)) {
                if (used == 0)
                        snprintf(e->text, sizeof(e->text) - 40, "%s", one->msg);
                else
                        e->dropped++;
                return;
        }
        snprintf(e->text + used, sizeof(e->text) - used, "%s%s", used ? "\n" : "", one->msg);
}

int dc_errs_end(struct dc_errs *e, struct dc_error *err)
{
        if (!e->n)
                return 0;
        size_t used = strlen(e->text);
        if (e->dropped)
                snprintf(e->text + used, sizeof(e->text) - used, "\n... and %u more error%s", e->dropped,
                         e->dropped > 1 ? "s" : "");
        err->code = e->code;
        snprintf(err->msg, sizeof(err->msg), "%s", e->text);
        return -e->code;
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
