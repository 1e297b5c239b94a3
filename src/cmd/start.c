#include <stdio.h>

#include "cmd.h"
#include "diyctl/exec.h"
#include "diyctl/util.h"

int dc_parse_common(int argc, char **argv, const char *cmd, struct dc_strv *sets, bool *json);

int dc_cmd_start(int argc, char **argv)
{
        struct dc_strv sets = { 0 };
        int first = dc_parse_common(argc, argv, "start", &sets, NULL);
        if (first < 0)
                return 2;
        if (first != argc - 1) {
                dc_usage_error("start", "expected exactly one config file");
                dc_strv_free(&sets);
                return 2;
        }
        struct dc_error err = { 0 };
        _cleanup_config_ struct dc_config *c = NULL;
        _cleanup_plan_ struct dc_plan *p = NULL;
        int r = dc_load_plan(argv[first], (const char *const *)sets.v, sets.n, &c, &p, &err);
        dc_strv_free(&sets);
        if (r < 0) {
                dc_print_error(&err);
                return 125;
        }
        struct dc_exec_opts eo = { .verbose = dc_verbose, .notify_fd = -1 };
        int code = 125;
        r = dc_execute(p, &eo, &code, &err);
        if (r < 0) {
                dc_print_error(&err);
                return code ? code : 125;
        }
        return code;
}
