#pragma once
#include <stdbool.h>

#include "diyctl/config.h"
#include "diyctl/error.h"
#include "diyctl/plan.h"
#include "diyctl/util.h"

struct dc_cmd {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *usage;
        const char *summary;
};

int dc_cmd_check(int argc, char **argv);
int dc_cmd_plan(int argc, char **argv);
int dc_cmd_start(int argc, char **argv);
int dc_cmd_cleanup(int argc, char **argv);
int dc_cmd_journal(int argc, char **argv);
int dc_cmd_stop(int argc, char **argv);
int dc_cmd_kill(int argc, char **argv);
int dc_cmd_list(int argc, char **argv);
int dc_cmd_status(int argc, char **argv);
int dc_cmd_top(int argc, char **argv);
int dc_cmd_exec(int argc, char **argv);
int dc_cmd_logs(int argc, char **argv);
int dc_cmd_image(int argc, char **argv);
int dc_cmd_config(int argc, char **argv);
int dc_cmd_keys(int argc, char **argv);

extern bool dc_verbose;
/* main's argv, for re-executing ourselves (security.h: dc_reexec_sealed). */
extern char **dc_main_argv;

/* Print "diyctl: MESSAGE" on stderr. */
void dc_print_error(const struct dc_error *err);
void dc_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Load FILE with overrides and build its plan. */
/* dc_load_plan's flags: a detached start; check and plan also look into a
 * directory rootfs for what start would miss (the program, process.cwd...). */
#define DC_LOAD_DETACHED 1u
#define DC_LOAD_CONTENTS 2u
int dc_load_plan(const char *file, const char *const *sets, size_t n_sets, unsigned flags,
                 struct dc_config **config, struct dc_plan **plan, struct dc_error *err);
/* Options shared by check, plan and start; returns the index of the first
 * operand or -1 after printing a usage error. detach may be NULL (no -d). */
int dc_parse_common(int argc, char **argv, const char *cmd, struct dc_strv *sets, bool *json, bool *detach);
/* Remove every FLAG (before "--") from argv, wherever it is; true if there was one. */
bool dc_take_flag(int *argc, char **argv, const char *flag);
/* Options before operands, as CONFIG.md writes "stop NAME [-t SECONDS]":
 * moves every option (and the value after each one in VALUED, a NULL-ended
 * list) ahead of the operands, keeping the order of each; after "--" all is
 * operands (the "--" itself is dropped). argv[0] stays. Returns the new argc. */
int dc_options_first(int argc, char **argv, const char *const *valued);
/* dc_state_root_of for our uid, or NULL after printing why. */
char *dc_cmd_state_root(void);
/* The one container a command names (argv[1], its options taken out): 0
 * with *ST, else the exit code (2: a usage error, 1: none of that name)
 * after saying why. */
struct dc_state;
int dc_cmd_state_of(const char *cmd, int argc, char **argv, struct dc_state *st);
/* Print a subcommand's usage and summary on stdout. */
void dc_cmd_help(const char *name);
/* --help for a subcommand: prints usage, returns true when argv asks for it. */
bool dc_wants_help(int argc, char **argv, const char *name);
