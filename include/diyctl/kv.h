/* Ordered key=value lists: the arguments of a plan step and the payload of a
 * journal record share this one representation, so what `diyctl plan` shows,
 * what the executor runs and what teardown reads are the same data. */
#pragma once
#include <stddef.h>

struct dc_kv {
        char *key;
        char *val;
};

struct dc_kvs {
        struct dc_kv *v;
        size_t n;
};

/* Append (keys may repeat; get returns the first). Copies both strings. */
void dc_kvs_add(struct dc_kvs *kvs, const char *key, const char *val);
void dc_kvs_addf(struct dc_kvs *kvs, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Replace the first value of key, or append. */
void dc_kvs_set(struct dc_kvs *kvs, const char *key, const char *val);
const char *dc_kvs_get(const struct dc_kvs *kvs, const char *key);
/* Integer value of key; -EINVAL when missing or malformed. */
int dc_kvs_get_ll(const struct dc_kvs *kvs, const char *key, long long *out);
void dc_kvs_copy(struct dc_kvs *dst, const struct dc_kvs *src);
void dc_kvs_free(struct dc_kvs *kvs);
