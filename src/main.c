/* diyctl: argument parsing and dispatch to src/cmd/. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "diyctl/security.h"
#include "dc-build-config.h"

bool dc_verbose;
char **dc_main_argv;

static const struct dc_cmd commands[] = {
        { "check", dc_cmd_check, "check [--json] [--host] [--separate] [--set KEY=VALUE]... FILE...",
          "validate configs, and what several cannot share on one host (--separate: each alone; --host: also /etc/diyctl/host.conf)" },
        { "plan", dc_cmd_plan, "plan [--json] [--set KEY=VALUE]... FILE", "print the steps start would run" },
        { "start", dc_cmd_start, "start [-d] [-v] [--set KEY=VALUE]... FILE",
          "run a container: in the foreground (exit code is the container's), or detached with -d" },
        { "stop", dc_cmd_stop, "stop [-t SECONDS] NAME...", "its stop signal (SIGTERM), SIGKILL after the timeout (10 s), then teardown" },
        { "kill", dc_cmd_kill, "kill [-s SIGNAL] NAME...",
          "send a signal to a container's process (default SIGKILL)" },
        { "list", dc_cmd_list, "list [--json]", "containers with state, pid, uptime" },
        { "status", dc_cmd_status, "status [--json] NAME", "one container's state" },
        { "top", dc_cmd_top, "top [--json] NAME", "the processes of a running container, as the host sees them" },
        { "exec", dc_cmd_exec, "exec [-u USER] [-e KEY=VAL]... [-w DIR] [-t|-T] NAME CMD...",
          "run a command inside a running container" },
        { "logs", dc_cmd_logs, "logs [-f] [-n LINES] NAME", "output of a detached container (-n: its last lines)" },
        { "cleanup", dc_cmd_cleanup, "cleanup NAME... | --all", "tear down containers whose launcher is gone" },
        { "journal", dc_cmd_journal, "journal [--json] NAME", "the host changes recorded for a container" },
        { "image", dc_cmd_image, "image list [--json] | image prune [-n] [ID...]",
          "the cache of unpacked images and tarballs: show it, remove entries no running container uses" },
        { "config", dc_cmd_config, "config [--json] [--set KEY=VALUE]... FILE",
          "the resolved config: includes expanded, overrides applied, defaults filled" },
        { "keys", dc_cmd_keys, "keys [--json]", "every config key with its type, default and meaning" },
};

static const struct dc_cmd *find(const char *name)
{
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static void usage(FILE *out)
{
        fprintf(out, "usage: diyctl [-v] COMMAND [ARGS]\n\ncommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(out, "  %-60s %s\n", commands[i].usage, commands[i].summary);
        fprintf(out, "\ndiyctl help COMMAND, diyctl COMMAND --help: a command's usage\n");
}

void dc_cmd_help(const char *name)
{
        const struct dc_cmd *c = find(name);
        printf("usage: diyctl %s\n%s\n", c->usage, c->summary);
}

bool dc_wants_help(int argc, char **argv, const char *name)
{
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0)
                        break;
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        dc_cmd_help(name);
                        return true;
                }
        }
        return false;
}

/* One "diyctl: " line for each line of the message (a config's errors
 * come one a line). */
void dc_print_error(const struct dc_error *err)
{
        const char *m = err->msg[0] ? err->msg : "unknown error";
        for (;;) {
                size_t n = strcspn(m, "\n");
                fprintf(stderr, "diyctl: %.*s\n", (int)n, m);
                if (!m[n])
                        break;
                m += n + 1;
        }
}

void dc_usage_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "diyctl %s: ", cmd);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        const struct dc_cmd *c = find(cmd);
        fprintf(stderr, "\nusage: diyctl %s\n", c ? c->usage : cmd);
}

int main(int argc, char **argv)
{
        dc_cmdline_remember(argc, argv);
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
                        dc_verbose = true;
                } else if (strcmp(argv[i], "--version") == 0) {
                        printf("diyctl %s\n", DIYCTL_VERSION);
                        return 0;
                } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        usage(stdout);
                        return 0;
                } else {
                        fprintf(stderr, "diyctl: unknown option %s\n", argv[i]);
                        usage(stderr);
                        return 2;
                }
        }
        if (i >= argc) {
                usage(stderr);
                return 2;
        }
        if (strcmp(argv[i], "help") == 0) {
                if (i + 1 < argc) {
                        const struct dc_cmd *c = find(argv[i + 1]);
                        if (!c) {
                                fprintf(stderr, "diyctl: no command %s\n", argv[i + 1]);
                                return 2;
                        }
                        dc_cmd_help(c->name);
                        return 0;
                }
                usage(stdout);
                return 0;
        }
        const struct dc_cmd *c = find(argv[i]);
        if (!c) {
                fprintf(stderr, "diyctl: no command %s\n", argv[i]);
                usage(stderr);
                return 2;
        }
        /* exec reads its own options: after NAME, "--help" is the command's */
        if (c->run != dc_cmd_exec && dc_wants_help(argc - i, argv + i, c->name))
                return 0;
        /* diyctl exec puts a process of ours into the container: it runs from
         * a sealed in-memory copy of this binary, so no process a container
         * can see is the host's diyctl (CVE-2019-5736; README, "Security").
         * start decides once it knows the plan (start.c). */
        dc_main_argv = argv;
        if (c->run == dc_cmd_exec) {
                struct dc_error err = { 0 };
                if (dc_reexec_sealed(argv, &err) < 0) {
                        dc_print_error(&err);
                        return 125;
                }
        }
        return c->run(argc - i, argv + i);
}
