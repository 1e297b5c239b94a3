/* Steps are a table: each kind is one small module with the same interface.
 * Host steps change the host and are journaled; child steps run inside the
 * new namespaces and vanish with them. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "diyctl/error.h"
#include "diyctl/kv.h"

struct dc_exec_ctx;
struct dc_step;

enum dc_side {
        DC_SIDE_HOST,  /* the launcher, journaled, undone at teardown */
        DC_SIDE_SPAWN, /* the launcher creates the container's first process */
        DC_SIDE_PARENT, /* the launcher, after spawn, on the container only (uid maps): not a host change */
        DC_SIDE_CHILD, /* inside the container before exec; nothing to undo */
};

struct dc_step_ops {
        const char *kind;
        enum dc_side side;
        int (*apply)(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err);
        /* Host steps: undo from the journal entry's fields alone; idempotent
         * (already gone is success). NULL for child steps. */
        int (*undo)(const struct dc_kvs *rec, struct dc_error *err);
        /* One line (no newline) for `diyctl plan`. */
        void (*describe)(const struct dc_step *s, FILE *out);
};

struct dc_step {
        const struct dc_step_ops *ops;
        struct dc_kvs args;
};

const struct dc_step_ops *dc_step_find(const char *kind);
extern const struct dc_step_ops *const dc_step_table[];
