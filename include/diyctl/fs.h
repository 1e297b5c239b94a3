/* Paths inside a rootfs are resolved without ever leaving it: openat2 with
 * RESOLVE_IN_ROOT, so absolute symlinks and ".." stay inside. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "diyctl/error.h"

enum dc_create { DC_CREATE_NONE, DC_CREATE_DIR, DC_CREATE_FILE };

/* Open PATH (absolute or relative, interpreted inside root_fd) as an O_PATH
 * fd, creating missing parent directories and, when asked, the final
 * component (a file it creates comes back open for writing instead, which
 * serves as well for mounting on). Returns the fd or a negative errno with
 * err filled. */
int dc_open_in_root(int root_fd, const char *path, enum dc_create create, struct dc_error *err);
/* The directory PATH inside root_fd, created with its parents when missing,
 * opened O_RDONLY|O_DIRECTORY (for the *at calls). */
int dc_open_dir_in_root(int root_fd, const char *path, struct dc_error *err);

/* As dc_open_in_root, but links are followed also to where nothing is
 * yet, and what is missing there is made, only in a directory on one of
 * the file systems DEVS (the tmpfs mounts diyctl made for the container:
 * its own memory, never the rootfs or a volume). For a link in the rootfs
 * into /run, such as systemd-resolved's /etc/resolv.conf. */
int dc_make_in_tmpfs(int root_fd, const char *path, enum dc_create create, const dev_t *devs, size_t n,
                     struct dc_error *err);

/* openat2(2) with FLAGS (O_CLOEXEC added) and RESOLVE, asked again while
 * the kernel answers EAGAIN (a rename or mount raced with a ".."): the fd
 * or -errno. */
int dc_openat2(int dirfd, const char *path, int flags, unsigned long long resolve);
/* The host's absolute PATH opened with FLAGS (O_CLOEXEC added) without
 * following any link on the way (openat2 RESOLVE_NO_SYMLINKS): fd or
 * -errno (-ELOOP for a link). For a source handed over idmapped, whose path
 * a container may be able to change. */
int dc_open_no_links(const char *path, int flags);
/* PATH's real path when a link is on its way there (malloc'd), else NULL
 * (also when it cannot be resolved). */
char *dc_path_through_link(const char *path);

/* "/proc/self/fd/N" for mounting by fd. */
struct dc_fdpath {
        char s[32];
};
struct dc_fdpath dc_fdpath(int fd);

/* Lexically normalise an absolute path: collapse //, ., and .. (never above /). */
char *dc_path_normalize(const char *path);
/* dir + "/" + rel (rel may be absolute: then rel alone), normalised. */
char *dc_path_join(const char *dir, const char *rel);
