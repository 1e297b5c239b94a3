/* dc-udpecho PORT: answer every UDP datagram on PORT (IPv4 and IPv6) with
 * "pong <the datagram>". For the network tests (busybox has no UDP server).
 * Static, like dc-probe, so it runs in the busybox rootfs. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: dc-udpecho PORT\n");
                return 2;
        }
        int fd = socket(AF_INET6, SOCK_DGRAM, 0);
        if (fd < 0) {
                perror("socket");
                return 1;
        }
        int off = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
        struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((unsigned short)atoi(argv[1])),
                                  .sin6_addr = IN6ADDR_ANY_INIT };
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                perror("bind");
                return 1;
        }
        for (;;) {
                char buf[1024], out[1100];
                struct sockaddr_storage from;
                socklen_t fl = sizeof(from);
                ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
                if (n < 0)
                        continue;
                buf[n] = 0;
                int m = snprintf(out, sizeof(out), "pong %s", buf);
                sendto(fd, out, (size_t)m, 0, (struct sockaddr *)&from, fl);
        }
}
