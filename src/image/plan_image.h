/* The planner's view of rootfs.tarball and rootfs.image (plan_image.c): the
 * image-unpack steps, the overlay's lower directories, and the process
 * defaults from the image config. Reads the archive (small members only) and
 * the cache's digest memo; changes nothing. */
#pragma once
#include <stdbool.h>

#include "diyctl/config.h"
#include "diyctl/error.h"
#include "diyctl/kv.h"
#include "diyctl/plan.h"
#include "diyctl/util.h"

struct dc_plan_image {
        bool active;               /* rootfs.tarball or rootfs.image */
        struct dc_kvs *steps;      /* args of each image-unpack step, in order */
        size_t n_steps;
        struct dc_strv lowers;     /* overlay lower directories, top first */
        struct dc_strv args;       /* Entrypoint + Cmd, empty when none */
        struct dc_strv env;        /* the image's Env */
        char *cwd, *user;          /* WorkingDir, User; NULL when none */
        char *stop_signal;         /* StopSignal as written; NULL when none */
        char *origin;              /* "ARCHIVE: image config" for messages */
};

int dc_plan_image_load(const struct dc_config *c, const struct dc_plan_opts *opts, const char *state_dir,
                       struct dc_plan_image *out, struct dc_error *err);
void dc_plan_image_free(struct dc_plan_image *pi);
static inline void dc_plan_image_freep(struct dc_plan_image *pi)
{
        dc_plan_image_free(pi);
}
#define _cleanup_plan_image_ __attribute__((cleanup(dc_plan_image_freep)))

/* The exec step's "env" args: the image's Env overridden, name by name, by
 * process.env (which comes after, in its own order, when new). */
void dc_plan_image_env(const struct dc_plan_image *pi, const struct dc_strv *cfg_env, struct dc_kvs *args);
