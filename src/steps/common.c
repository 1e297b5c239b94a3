#include <errno.h>

#include "diyctl/exec.h"
#include "steps.h"

int dc_step_intent(struct dc_exec_ctx *ctx, const struct dc_step *s, const struct dc_kvs *extra,
                   unsigned *seq, struct dc_error *err)
{
        struct dc_kvs kv = { 0 };
        dc_kvs_copy(&kv, &s->args);
        if (extra)
                dc_kvs_copy(&kv, extra);
        int r = dc_journal_intent(ctx->journal, s->ops->kind, &kv, seq, err);
        dc_kvs_free(&kv);
        return r;
}

int dc_step_done(struct dc_exec_ctx *ctx, const struct dc_step *s, unsigned seq,
                 const struct dc_kvs *result, struct dc_error *err)
{
        static const struct dc_kvs none = { 0 };
        return dc_journal_done(ctx->journal, seq, s->ops->kind, result ? result : &none, err);
}
