#ifndef _GNU_SOURCE
#endif
#include "diyctl/kv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diyctl/util.h"

void dc_kvs_add(struct dc_kvs *kvs, const char *key, const char *val)
{
        kvs->v = dc_xrealloc(kvs->v, (kvs->n + 1) * sizeof(*kvs->v));
        kvs->v[kvs->n].key = dc_xstrdup(key);
        kvs->v[kvs->n].val = dc_xstrdup(val ? val : "");
        kvs->n++;
}

void dc_kvs_addf(struct dc_kvs *kvs, const char *key, const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        dc_kvs_add(kvs, key, s);
        free(s);
}

void dc_kvs_set(struct dc_kvs *kvs, const char *key, const char *val)
{
        for (size_t i = 0; i < kvs->n; i++)
                if (strcmp(kvs->v[i].key, key) == 0) {
                        free(kvs->v[i].val);
                        kvs->v[i].val = dc_xstrdup(val ? val : "");
                        return;
                }
        dc_kvs_add(kvs, key, val);
}

const char *dc_kvs_get(const struct dc_kvs *kvs, const char *key)
{
        for (size_t i = 0; i < kvs->n; i++)
                if (strcmp(kvs->v[i].key, key) == 0)
                        return kvs->v[i].val;
        return NULL;
}

int dc_kvs_get_ll(const struct dc_kvs *kvs, const char *key, long long *out)
{
        const char *v = dc_kvs_get(kvs, key);
        /* strtoll would skip leading white space */
        if (!v || !*v || (*v != '-' && (*v < '0' || *v > '9')))
                return -EINVAL;
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *out = x;
        return 0;
}

void dc_kvs_copy(struct dc_kvs *dst, const struct dc_kvs *src)
{
        for (size_t i = 0; i < src->n; i++)
                dc_kvs_add(dst, src->v[i].key, src->v[i].val);
}

void dc_kvs_free(struct dc_kvs *kvs)
{
        for (size_t i = 0; i < kvs->n; i++) {
                free(kvs->v[i].key);
                free(kvs->v[i].val);
        }
        free(kvs->v);
        kvs->v = NULL;
        kvs->n = 0;
}
