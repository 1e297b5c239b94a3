#include <stdio.h>

#include "cmd.h"
#include "diyctl/util.h"


int dc_cmd_plan(int argc, char **argv)
{
        struct dc_strv sets = { 0 };
        bool json = false;
        int first = dc_parse_common(argc, argv, "plan", &sets, &json, NULL);
        if (first < 0)
                return 2;
        if (first != argc - 1) {
                dc_usage_error("plan", "expected exactly one config file");
                dc_strv_free(&sets);
                return 2;
        }
        struct dc_error err = { 0 };
        _cleanup_config_ struct dc_config *c = NULL;
        _cleanup_plan_ struct dc_plan *p = NULL;
        int r = dc_load_plan(argv[first], (const char *const *)sets.v, sets.n, DC_LOAD_CONTENTS, &c, &p, &err);
        dc_strv_free(&sets);
        if (r < 0) {
                dc_print_error(&err);
                return 1;
        }
        if (json)
                dc_plan_print_json(p, stdout);
        else
                dc_plan_print(p, stdout);
        return 0;
}
