/* bench/unpack: diyctl's extractor alone, for bench/image.sh.
 *   unpack [--layer] ARCHIVE DIR      unpack ARCHIVE (any compression) into DIR (created)
 * Built by bench/image.sh against build/libdiyctl-core.a. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/image.h"

int main(int argc, char **argv)
{
        int i = 1;
        bool layer = false;
        if (i < argc && strcmp(argv[i], "--layer") == 0) {
                layer = true;
                i++;
        }
        if (argc - i != 2) {
                fprintf(stderr, "usage: unpack [--layer] ARCHIVE DIR\n");
                return 2;
        }
        mkdir(argv[i + 1], 0755);
        int dfd = open(argv[i + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                perror(argv[i + 1]);
                return 1;
        }
        struct dc_extract_source src = { .archive = argv[i] };
        struct dc_extract_opts o = { .layer = layer, .owners = geteuid() == 0 };
        struct dc_extract_stats st;
        struct dc_error err = { 0 };
        int r = dc_extract(&src, dfd, &o, &st, NULL, &err);
        if (r < 0)
                fprintf(stderr, "unpack: %s\n", err.msg);
        dc_extract_stats_free(&st);
        close(dfd);
        return r < 0;
}
