/* sd_notify protocol (src/exec/notify.c) against real listener sockets, and
 * the cgroup placement rules (src/steps/cgroup_place.c) and the v2 controller
 * rule of the limits (src/steps/limits.c) that need no cgroupfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "diyctl/image.h"
#include "diyctl/notify.h"
#include "diyctl/util.h"
#include "steps/cgroup_place.h"
#include "steps/steps.h"
#include "tap.h"

/* A listener like systemd's: SOCK_DGRAM with SO_PASSCRED. */
static int listener(const char *spec)
{
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t len;
        if (spec[0] == '@') {
                memcpy(sa.sun_path + 1, spec + 1, strlen(spec) - 1);
                len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(spec));
        } else {
                strcpy(sa.sun_path, spec);
                len = sizeof(sa);
        }
        if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
                perror("bind");
                close(fd);
                return -1;
        }
        return fd;
}

/* One datagram (non-blocking; "" when none) and the sender's pid. */
static char *receive(int fd, pid_t *pid)
{
        static char buf[4096];
        char cbuf[CMSG_SPACE(sizeof(struct ucred))];
        struct iovec iov = { buf, sizeof(buf) - 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
        buf[n > 0 ? n : 0] = 0;
        *pid = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n > 0 && c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                        struct ucred uc;
                        memcpy(&uc, CMSG_DATA(c), sizeof(uc));
                        *pid = uc.pid;
                }
        return buf;
}

static void test_notify(void)
{
        char dir[] = "/tmp/dc-notify-XXXXXX";
        bool made = mkdtemp(dir) != NULL;
        CHECK(made, "temp dir");
        _cleanup_free_ char *path = dc_xasprintf("%s/notify", dir);
        int fd = listener(path);
        CHECK(fd >= 0, "listener on a path");
        pid_t pid;

        unsetenv("NOTIFY_SOCKET");
        int r1 = dc_notify("READY=1\n");
        CHECK(r1 == 0, "no NOTIFY_SOCKET: nothing sent, no error");
        int r2 = dc_notify_to("", "READY=1\n");
        CHECK(r2 == 0, "empty NOTIFY_SOCKET: nothing sent");

        int r3 = dc_notify_to(path, "X=1\n");
        CHECK(r3 == 1, "sent to a path socket");
        const char *m4 = receive(fd, &pid);
        CHECK_STREQ(m4, "X=1\n", "the datagram arrives as sent");
        CHECK(pid == getpid(), "the kernel attached our pid (%d)", (int)pid);

        setenv("NOTIFY_SOCKET", path, 1);
        int r5 = dc_notify_ready(4242, "running web\n(pid 7)");
        CHECK(r5 == 1, "READY sent via $NOTIFY_SOCKET");
        const char *m6 = receive(fd, &pid);
        CHECK_STREQ(m6, "READY=1\nMAINPID=4242\nSTATUS=running web (pid 7)\n",
                    "READY=1, MAINPID and a one-line STATUS in one datagram");

        int r7 = dc_notify_stopping("stopping");
        CHECK(r7 == 1, "STOPPING sent");
        const char *m8 = receive(fd, &pid);
        CHECK_STREQ(m8, "STOPPING=1\nSTATUS=stopping\n", "STOPPING=1 with STATUS");
        int r9 = dc_notify_stopping("tearing down");
        CHECK(r9 == 1, "second stopping call");
        const char *m10 = receive(fd, &pid);
        CHECK_STREQ(m10, "STATUS=tearing down\n", "STOPPING=1 only once, then STATUS only");

        int r11 = dc_notify_failed("web.conf:3: name: bad", 22);
        CHECK(r11 == 1, "failure sent");
        const char *m12 = receive(fd, &pid);
        CHECK_STREQ(m12, "STATUS=web.conf:3: name: bad\nERRNO=22\n", "STATUS and ERRNO on failure");

        char abs_name[64];
        snprintf(abs_name, sizeof(abs_name), "@dc-notify-test-%d", (int)getpid());
        int afd = listener(abs_name);
        CHECK(afd >= 0, "listener on an abstract socket");
        setenv("NOTIFY_SOCKET", abs_name, 1);
        int r13 = dc_notify("READY=1\n");
        CHECK(r13 == 1, "sent to an abstract socket");
        const char *m14 = receive(afd, &pid);
        CHECK_STREQ(m14, "READY=1\n", "the abstract socket got it");
        const char *m15 = receive(fd, &pid);
        CHECK_STREQ(m15, "", "and the path socket did not");

        int r16 = dc_notify_to("relative/sock", "A=1\n");
        CHECK(r16 == -EINVAL, "a relative path is refused");
        int r17 = dc_notify_to("@", "A=1\n");
        CHECK(r17 == -EINVAL, "an empty abstract name is refused");
        int r18 = dc_notify_to("vsock:2:1234", "A=1\n");
        CHECK(r18 == -EAFNOSUPPORT, "vsock addresses are not supported");
        char longp[200];
        memset(longp, 'a', sizeof(longp) - 1);
        longp[0] = '/';
        longp[sizeof(longp) - 1] = 0;
        int r19 = dc_notify_to(longp, "A=1\n");
        CHECK(r19 == -ENAMETOOLONG, "a path longer than sun_path is refused");
        _cleanup_free_ char *gone = dc_xasprintf("%s/nobody", dir);
        int r20 = dc_notify_to(gone, "A=1\n");
        CHECK(r20 == -ENOENT, "no listener: -ENOENT");

        unsetenv("NOTIFY_SOCKET");
        close(afd);
        close(fd);
        unlink(path);
        rmdir(dir);
}

static void test_place(void)
{
        char h[] = "/tmp/dc-cgplace-XXXXXX";
        bool made = mkdtemp(h) != NULL;
        CHECK(made, "fake hierarchy dir");
        struct dc_error err = { 0 };
        struct dc_cgroup_place pl;
        struct dc_kvs args = { 0 };

        dc_kvs_add(&args, "group", "diyctl/web");
        int r21 = dc_cgroup_place(h, &args, &pl, &err);
        CHECK(r21 == 0, "default placement (%s)", err.msg);
        _cleanup_free_ char *want = dc_xasprintf("%s/diyctl/web", h);
        CHECK_STREQ(pl.dir, want, "default: HIERARCHY/diyctl/NAME");
        _cleanup_free_ char *wp = dc_xasprintf("%s/diyctl", h);
        CHECK(pl.mkparents.n == 1 && strcmp(pl.mkparents.v[0], wp) == 0, "the missing diyctl parent is created");
        CHECK(pl.unit == NULL && pl.supervisor == NULL, "no supervisor leaf outside a delegated cgroup");
        dc_cgroup_place_free(&pl);

        mkdir(wp, 0755);
        int r22 = dc_cgroup_place(h, &args, &pl, &err);
        CHECK(r22 == 0 && pl.mkparents.n == 1,
              "our own diyctl parent is always recorded, so the last container to leave removes it");
        dc_cgroup_place_free(&pl);
        rmdir(wp);
        dc_kvs_free(&args);

        dc_kvs_add(&args, "group", "web");
        dc_kvs_add(&args, "under", "/machine.slice/fleet");
        int r23 = dc_cgroup_place(h, &args, &pl, &err);
        CHECK(r23 == 0, "explicit parent (%s)", err.msg);
        free(want);
        want = dc_xasprintf("%s/machine.slice/fleet/web", h);
        CHECK_STREQ(pl.dir, want, "explicit parent: HIERARCHY/PARENT/NAME");
        CHECK(pl.mkparents.n == 2, "both missing parents, shallowest first (%zu)", pl.mkparents.n);
        if (pl.mkparents.n == 2) {
                free(wp);
                wp = dc_xasprintf("%s/machine.slice", h);
                CHECK_STREQ(pl.mkparents.v[0], wp, "first the shallowest");
        }
        dc_cgroup_place_free(&pl);
        dc_kvs_free(&args);

        dc_kvs_add(&args, "group", "web");
        dc_kvs_add(&args, "under", "/a/../b");
        int r24 = dc_cgroup_place(h, &args, &pl, &err);
        CHECK(r24 < 0, "a parent with .. is refused");
        dc_cgroup_place_free(&pl);
        dc_kvs_free(&args);

        static const struct {
                const char *env;
                bool unprivileged;
                int ret;
                const char *want; /* the parent, or how the error starts */
                const char *what;
        } parents[] = {
                { "none", false, 0, NULL, "DIYCTL_CGROUP_PARENT=none: the roots" },
                { "self", false, 0, "self", "DIYCTL_CGROUP_PARENT=self" },
                { "/machine.slice//x/", false, 0, "/machine.slice/x", "a path is normalised" },
                { "relative", false, -EINVAL, "DIYCTL_CGROUP_PARENT=relative", "a relative path is refused" },
                { "/x/../y", false, -EINVAL, "DIYCTL_CGROUP_PARENT=/x/../y", "a path with .. is refused" },
                /* Unprivileged: only the launcher's own delegated cgroup, or none. */
                { "self", true, 0, "self", "unprivileged, DIYCTL_CGROUP_PARENT=self" },
                { "none", true, 0, NULL, "unprivileged, DIYCTL_CGROUP_PARENT=none: no cgroup" },
                { "/machine.slice", true, -EPERM, "DIYCTL_CGROUP_PARENT=/machine.slice: unprivileged",
                  "unprivileged, a cgroup path is refused" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(parents); i++) {
                setenv("DIYCTL_CGROUP_PARENT", parents[i].env, 1);
                char *p = NULL;
                struct dc_error e = { 0 };
                int r = dc_cgroup_parent(parents[i].unprivileged, &p, &e);
                bool good = r == parents[i].ret &&
                            (r < 0 ? !p && strstr(e.msg, parents[i].want) == e.msg : dc_streq(p, parents[i].want));
                CHECK(good, "%s (%s)", parents[i].what, r < 0 ? e.msg : p ? p : "NULL");
                free(p);
        }
        unsetenv("DIYCTL_CGROUP_PARENT");

        /* A launcher at the hierarchy's root has nothing delegated: refused unprivileged. */
        dc_kvs_add(&args, "group", "web");
        dc_kvs_add(&args, "under", "self");
        int r33 = dc_cgroup_place(h, &args, &pl, &err);
        if (r33 == 0 && !pl.unit) {
                int r34 = dc_cgroup_check_delegated(h, &pl, &args, &err);
                CHECK(r34 < 0 && strstr(err.msg, "at the root of"), "unprivileged at the root: refused (%s)",
                      err.msg);
        } else {
                CHECK(r33 == 0, "self placement (%s)", err.msg);
        }
        dc_cgroup_place_free(&pl);
        dc_kvs_free(&args);

        /* A delegated unit (a plain directory stands in for cgroupfs). */
        _cleanup_free_ char *unit = dc_xasprintf("%s/user.slice/x.scope", h);
        _cleanup_free_ char *ctl = dc_xasprintf("%s/cgroup.controllers", unit);
        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", unit);
        dc_mkdir_p(unit, 0755);
        FILE *f = fopen(ctl, "w");
        if (f) {
                fputs("cpu memory\n", f);
                fclose(f);
        }
        f = fopen(procs, "w");
        if (f)
                fclose(f);
        struct dc_cgroup_place dpl = { .unit = unit };
        dc_kvs_add(&args, "memory", "1048576");
        dc_kvs_add(&args, "cpus", "0.5");
        dc_err_clear(&err);
        int r35 = dc_cgroup_check_delegated(h, &dpl, &args, &err);
        CHECK(r35 == 0, "limits whose controllers are delegated (%s)", err.msg);
        dc_kvs_add(&args, "pids", "10");
        dc_kvs_add(&args, "pids-origin", "/srv/ct/t.conf:4: limits.pids");
        int r36 = dc_cgroup_check_delegated(h, &dpl, &args, &err);
        CHECK(r36 < 0 && strstr(err.msg, "/srv/ct/t.conf:4: limits.pids: the pids controller is not delegated to "
                                         "/user.slice/x.scope (") == err.msg &&
                      strstr(err.msg, "lists cpu memory)"),
              "a limit without its controller: named at its key, with the cgroup (%s)", err.msg);
        dc_kvs_free(&args);
        unlink(ctl);
        unlink(procs);
        rmdir(unit);
        _cleanup_free_ char *slice = dc_xasprintf("%s/user.slice", h);
        rmdir(slice);
        rmdir(h);
}

static void test_missing_controller(void)
{
        struct dc_kvs a = { 0 };
        CHECK(dc_cgroup_missing_controller("", &a) == NULL, "no limits: nothing missing");
        dc_kvs_add(&a, "cpus", "1");
        CHECK(dc_streq(dc_cgroup_missing_controller("cpuset cpu io memory pids\n", &a), NULL),
              "cpu among others (not confused with cpuset)");
        CHECK(dc_streq(dc_cgroup_missing_controller("cpuset io memory pids\n", &a), "cpus"),
              "cpuset is not cpu: limits.cpus has no controller");
        dc_kvs_add(&a, "memory", "1");
        CHECK(dc_streq(dc_cgroup_missing_controller("cpu\n", &a), "memory"), "memory missing");
        CHECK(dc_streq(dc_cgroup_missing_controller("\n", &a), "memory"), "an empty list: the first limit, in "
                                                                          "memory, cpus, pids order");
        dc_kvs_free(&a);
}

/* A cgroup v2 directory as regular files: DIR/cgroup.controllers and, for
 * the parent, cgroup.subtree_control. */
static void put_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

static void fake_v2(const char *dir, const char *controllers)
{
        mkdir(dir, 0755);
        _cleanup_free_ char *c = dc_xasprintf("%s/cgroup.controllers", dir);
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", dir);
        put_file(c, controllers);
        put_file(sc, "");
}

/* On cgroup v2 the limits enable a controller only in a parent diyctl made
 * itself; someone else's parent is left as it is and the error says what to
 * change (src/steps/limits.c). */
static void test_limits_enable(void)
{
        char h[] = "/tmp/dc-cglim-XXXXXX";
        bool made = mkdtemp(h) != NULL;
        CHECK(made, "fake hierarchy dir");
        _cleanup_free_ char *parent = dc_xasprintf("%s/machine.slice", h);
        _cleanup_free_ char *dir = dc_xasprintf("%s/web", parent);
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", parent);
        fake_v2(parent, "cpu memory pids\n");
        fake_v2(dir, "");
        struct dc_kvs a = { 0 };
        dc_kvs_add(&a, "memory", "64M");
        dc_kvs_add(&a, "memory-origin", "web.conf:7: limits.memory");
        struct dc_error err = { 0 };
        unsigned applied = 0;

        int r = dc_cgroup_limits(dir, &a, false, &applied, &err);
        _cleanup_free_ char *after = NULL;
        dc_read_file(sc, 4096, &after);
        CHECK(r == -ENOTSUP && applied == 0, "someone else's parent without memory enabled: refused (%d)", r);
        CHECK_STREQ(after, "", "and its cgroup.subtree_control is not written");
        CHECK(strstr(err.msg, "web.conf:7: limits.memory: the memory controller is not enabled for the children of ") &&
              strstr(err.msg, "echo +memory > ") && strstr(err.msg, "/machine.slice/cgroup.subtree_control"),
              "the error names the limit, the controller and the file (%s)", err.msg);

        memset(&err, 0, sizeof(err));
        applied = 0;
        r = dc_cgroup_limits(dir, &a, true, &applied, &err);
        free(after);
        after = NULL;
        dc_read_file(sc, 4096, &after);
        CHECK(r == 0, "our own parent (%s)", err.msg);
        CHECK_STREQ(after, "+memory", "our own parent gets the controller enabled");

        /* a controller the parent does not offer: no error here, the check
         * after every hierarchy (v1 may have it) reports it */
        put_file(sc, "");
        struct dc_kvs b = { 0 };
        dc_kvs_add(&b, "cpus", "0.5");
        _cleanup_free_ char *c = dc_xasprintf("%s/cgroup.controllers", parent);
        put_file(c, "memory\n");
        memset(&err, 0, sizeof(err));
        applied = 0;
        r = dc_cgroup_limits(dir, &b, false, &applied, &err);
        free(after);
        after = NULL;
        dc_read_file(sc, 4096, &after);
        CHECK(r == 0 && applied == 0, "a controller not offered: left to dc_cgroup_limits_check (%d)", r);
        CHECK_STREQ(after, "", "nothing written");
        dc_kvs_free(&a);
        dc_kvs_free(&b);
        const char *files[] = { "web/cgroup.controllers", "web/cgroup.subtree_control", "web",
                                "cgroup.controllers", "cgroup.subtree_control", "" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(files); i++) {
                _cleanup_free_ char *f = dc_xasprintf("%s/%s", parent, files[i]);
                int gone = remove(f);
                CHECK(gone == 0, "clean-up: %s removed", f);
        }
        rmdir(h);
}

/* The controller is kept from the parent by a cgroup further up: the error
 * names that one, whether the parent is ours or not. */
static void test_limits_enable_ancestor(void)
{
        char h[] = "/tmp/dc-cglim2-XXXXXX";
        bool made = mkdtemp(h) != NULL;
        CHECK(made, "fake hierarchy dir");
        _cleanup_free_ char *root = dc_xasprintf("%s/root", h);
        _cleanup_free_ char *parent = dc_xasprintf("%s/diyctl", root);
        _cleanup_free_ char *dir = dc_xasprintf("%s/web", parent);
        fake_v2(root, "cpu memory pids\n");
        fake_v2(parent, "cpu pids\n"); /* the root does not enable memory for its children */
        fake_v2(dir, "");
        /* our parent's subtree_control cannot be written (as the kernel refuses
         * a controller its parent does not offer it) */
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", parent);
        remove(sc);
        mkdir(sc, 0755);
        struct dc_kvs a = { 0 };
        dc_kvs_add(&a, "memory", "64M");
        for (int ours = 1; ours >= 0; ours--) {
                struct dc_error err = { 0 };
                unsigned applied = 0;
                int r = dc_cgroup_limits(dir, &a, ours, &applied, &err);
                _cleanup_free_ char *want = dc_xasprintf("limits.memory: the memory controller is not enabled for the "
                                                         "children of %s, ", root);
                CHECK(r == -ENOTSUP && strstr(err.msg, want) == err.msg &&
                              strstr(err.msg, "/root/cgroup.subtree_control)"),
                      "%s parent, memory kept from it by the root: the error names the root (%s)",
                      ours ? "our own" : "someone else's", err.msg);
        }
        dc_kvs_free(&a);
        dc_rm_rf_at(AT_FDCWD, h);
}

int main(void)
{
        test_notify();
        test_place();
        test_missing_controller();
        test_limits_enable();
        test_limits_enable_ancestor();
        return tap_done();
}
