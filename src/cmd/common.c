#include <stdio.h>
#include <unistd.h>

#include "cmd.h"

int dc_load_plan(const char *file, const char *const *sets, size_t n_sets, bool detached,
                 struct dc_config **config, struct dc_plan **plan, struct dc_error *err)
{
        struct dc_config_opts co = { .sets = sets, .n_sets = n_sets };
        int r = dc_config_load(file, &co, config, err);
        if (r < 0)
                return r;
        struct dc_plan_opts po = {
                .stdin_tty = !detached && isatty(STDIN_FILENO),
                .uid = getuid(),
                .gid = getgid(),
                .cgroups = geteuid() == 0,
        };
        r = dc_plan_build(*config, &po, plan, err);
        if (r < 0) {
                dc_config_free(*config);
                *config = NULL;
        }
        return r;
}
