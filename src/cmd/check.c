#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "diyctl/host.h"
#include "diyctl/util.h"

int dc_parse_common(int argc, char **argv, const char *cmd, struct dc_strv *sets, bool *json, bool *detach)
{
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'j' },
                { "set", required_argument, NULL, 's' },
                { "verbose", no_argument, NULL, 'v' },
                { "detach", no_argument, NULL, 'd' },
                { NULL, 0, NULL, 0 },
        };
        optind = 1;
        int c;
        while ((c = getopt_long(argc, argv, "vds:", longopts, NULL)) != -1) {
                switch (c) {
                case 'j':
                        if (!json) {
                                dc_usage_error(cmd, "--json is not an option of %s", cmd);
                                return -1;
                        }
                        *json = true;
                        break;
                case 's':
                        if (!strchr(optarg, '=') || optarg[0] == '=') {
                                dc_usage_error(cmd, "--set takes KEY=VALUE, not %s", optarg);
                                return -1;
                        }
                        dc_strv_push(sets, optarg);
                        break;
                case 'v':
                        dc_verbose = true;
                        break;
                case 'd':
                        if (!detach) {
                                dc_usage_error(cmd, "-d is not an option of %s", cmd);
                                return -1;
                        }
                        *detach = true;
                        break;
                default:
                        dc_usage_error(cmd, "bad option");
                        return -1;
                }
        }
        return optind;
}

/* {"file": FILE, "ok": ..., "error": the first error, "errors": every one}:
 * ERRORS has one a line. */
static void json_result(const char *file, const char *errors)
{
        fputs("{\"file\":", stdout);
        dc_json_str(stdout, file);
        fprintf(stdout, ",\"ok\":%s,\"error\":", errors ? "false" : "true");
        _cleanup_free_ char *first = errors ? dc_xstrndup(errors, strcspn(errors, "\n")) : NULL;
        dc_json_str(stdout, first);
        fputs(",\"errors\":[", stdout);
        for (const char *m = errors; m;) {
                size_t n = strcspn(m, "\n");
                _cleanup_free_ char *line = dc_xstrndup(m, n);
                if (m != errors)
                        fputc(',', stdout);
                dc_json_str(stdout, line);
                m = m[n] ? m + n + 1 : NULL;
        }
        fputs("]}", stdout);
}

int dc_cmd_check(int argc, char **argv)
{
        struct dc_strv sets = { 0 };
        bool json = false;
        /* --host: also validate the host config (DIYCTL_HOST_CONF, else
         * /etc/diyctl/host.conf), reported like a config file. */
        bool host = false;
        /* --separate: each file alone, as configs of different hosts (no
         * comparison between them) */
        bool separate = false;
        int n = 0;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0) {
                        while (i < argc)
                                argv[n++] = argv[i++];
                        break;
                }
                if (i > 0 && strcmp(argv[i], "--host") == 0)
                        host = true;
                else if (i > 0 && strcmp(argv[i], "--separate") == 0)
                        separate = true;
                else
                        argv[n++] = argv[i];
        }
        argc = n;
        int first = dc_parse_common(argc, argv, "check", &sets, &json, NULL);
        if (first < 0)
                return 2;
        if (first >= argc && !host) {
                dc_usage_error("check", "no config file given");
                dc_strv_free(&sets);
                return 2;
        }
        int bad = 0;
        bool host_bad = false;
        if (json)
                fputs("[", stdout);
        if (host) {
                struct dc_error err = { 0 };
                _cleanup_host_conf_ struct dc_host_conf *h = NULL;
                int r = dc_host_conf_load(NULL, &h, &err);
                const char *path = getenv("DIYCTL_HOST_CONF") ? getenv("DIYCTL_HOST_CONF") : DC_HOST_CONF_PATH;
                if (r < 0) {
                        bad++;
                        host_bad = true;
                }
                if (json) {
                        json_result(path, r < 0 ? err.msg : NULL);
                } else if (r < 0) {
                        dc_print_error(&err);
                } else if (h->file) {
                        printf("%s: ok (host config: firewall %s, NAT pools %s and %s, state dir %s)\n", h->file,
                               dc_firewall_name(h->firewall), h->nat_pool4, h->nat_pool6,
                               h->state_dir ? h->state_dir : "/run/diyctl");
                } else {
                        printf("%s: not present; the defaults apply (firewall %s, NAT pools %s and %s, state dir "
                               "/run/diyctl)\n",
                               path, dc_firewall_name(h->firewall), h->nat_pool4, h->nat_pool6);
                }
        }
        /* the valid configs so far: each file is also checked against them
         * for what two containers cannot share on one host */
        struct dc_config **fleet = NULL;
        size_t n_fleet = 0;
        for (int i = first; i < argc; i++) {
                struct dc_error err = { 0 };
                _cleanup_config_ struct dc_config *c = NULL;
                _cleanup_plan_ struct dc_plan *p = NULL;
                int r = host_bad ? dc_err(&err, EINVAL, "%s: not checked: the host config has errors (above)", argv[i])
                                 : dc_load_plan(argv[i], (const char *const *)sets.v, sets.n, DC_LOAD_CONTENTS, &c, &p, &err);
                if (r == 0) {
                        if (!separate)
                                r = dc_fleet_check((const struct dc_config *const *)fleet, n_fleet, c, &err);
                        /* a file given twice (a glob may) is one config of the fleet */
                        bool again = false;
                        for (size_t k = 0; k < n_fleet && !again; k++)
                                again = dc_same_file(fleet[k]->file, c->file);
                        if (!again) {
                                fleet = dc_xrealloc(fleet, (n_fleet + 1) * sizeof(*fleet));
                                fleet[n_fleet++] = DC_TAKE(c);
                        }
                }
                if (r < 0)
                        bad++;
                if (json) {
                        fputs(i > first || host ? "," : "", stdout);
                        json_result(argv[i], r < 0 ? err.msg : NULL);
                } else if (r < 0) {
                        dc_print_error(&err);
                } else {
                        printf("%s: ok (%s)\n", argv[i], c ? c->name : fleet[n_fleet - 1]->name);
                }
        }
        for (size_t k = 0; k < n_fleet; k++)
                dc_config_free(fleet[k]);
        free(fleet);
        if (json)
                fputs("]\n", stdout);
        dc_strv_free(&sets);
        return bad ? 1 : 0;
}
