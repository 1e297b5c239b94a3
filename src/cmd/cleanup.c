#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/exec.h"
#include "diyctl/state.h"
#include "diyctl/util.h"

static int cleanup_one(const char *root, const char *name)
{
        if (!dc_name_valid(name)) {
                fprintf(stderr, "diyctl: %s is not a valid container name\n", name);
                return 1;
        }
        _cleanup_free_ char *dir = dc_xasprintf("%s/%s", root, name);
        struct stat st;
        if (stat(dir, &st) < 0) {
                /* Nothing to do is success: ExecStopPost=diyctl cleanup runs after clean stops too.
                 * A launcher killed after it made the state root, before its
                 * container's directory (and journal), leaves the root alone:
                 * removed when empty, as a teardown does. */
                dc_state_root_prune(root);
                if (dc_verbose)
                        fprintf(stderr, "diyctl: %s: nothing to clean up\n", name);
                return 0;
        }
        struct dc_error err = { 0 };
        if (dc_teardown(dir, &err) < 0) {
                dc_print_error(&err);
                return 1;
        }
        if (err.msg[0])
                fprintf(stderr, "diyctl: %s\n", err.msg);
        if (dc_verbose)
                fprintf(stderr, "diyctl: %s torn down\n", name);
        return 0;
}

int dc_cmd_cleanup(int argc, char **argv)
{
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root)
                return 1;
        bool all = false;
        int first = 1;
        if (argc > 1 && strcmp(argv[1], "--all") == 0) {
                all = true;
                first = 2;
        }
        if (!all && argc < 2) {
                dc_usage_error("cleanup", "name a container, or --all");
                return 2;
        }
        int bad = 0;
        if (all) {
                DIR *d = opendir(root);
                if (!d)
                        return 0;
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.' || !dc_name_valid(de->d_name))
                                continue;
                        _cleanup_free_ char *dir = dc_xasprintf("%s/%s", root, de->d_name);
                        /* nothing that is not a container's state (a
                         * state_dir shared with other software) */
                        if (!dc_statedir_is_ours(dir, de->d_name))
                                continue;
                        int fd = -1;
                        struct dc_error err = { 0 };
                        /* skip the ones whose launcher is alive */
                        if (dc_statedir_lock(dir, &fd, &err) < 0)
                                continue;
                        close(fd);
                        bad |= cleanup_one(root, de->d_name);
                }
                closedir(d);
        }
        for (int i = first; i < argc; i++)
                bad |= cleanup_one(root, argv[i]);
        return bad ? 1 : 0;
}
