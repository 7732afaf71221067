/*
 * echoserver: a plain C epoll echo server, the floor for the echo benchmark.
 *
 * Listens on 127.0.0.1 (port from argv[1], 0 for an ephemeral one), prints
 * "port=N" on stdout once listening, and echoes every byte back.  Level
 * triggered; a connection whose echo could not all be written stops reading
 * until its pending bytes drain.  Closes a connection on end of file or error.
 * Runs until killed.
 *
 *   cc -O2 -std=c99 -o echoserver echoserver.c && ./echoserver 0
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE 65536

typedef struct {
    int fd;
    char *pending; /* bytes read but not yet written back */
    size_t pendingLen;
} Conn;

static int epfd;
static char buffer[BUFFER_SIZE];

static void setEvents(Conn *c, int op, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(epfd, op, c->fd, &ev);
}

static void dropConn(Conn *c)
{
    close(c->fd);
    free(c->pending);
    free(c);
}

static void acceptAll(int listener)
{
    int one = 1;
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE: try again on the next wake-up */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Conn *c = calloc(1, sizeof *c);
        c->fd = fd;
        setEvents(c, EPOLL_CTL_ADD, EPOLLIN);
    }
}

/* Write pending bytes; return -1 on error. */
static int flushPending(Conn *c)
{
    size_t done = 0;
    while (done < c->pendingLen) {
        ssize_t n = write(c->fd, c->pending + done, c->pendingLen - done);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    memmove(c->pending, c->pending + done, c->pendingLen - done);
    c->pendingLen -= done;
    if (c->pendingLen == 0)
        setEvents(c, EPOLL_CTL_MOD, EPOLLIN);
    return 0;
}

static int echo(Conn *c)
{
    ssize_t n = read(c->fd, buffer, sizeof buffer);
    if (n == 0 || (n < 0 && errno != EAGAIN))
        return -1;
    if (n < 0)
        return 0;
    ssize_t w = write(c->fd, buffer, (size_t)n);
    if (w < 0 && errno != EAGAIN)
        return -1;
    if (w < 0)
        w = 0;
    if (w < n) {
        c->pending = malloc((size_t)(n - w));
        memcpy(c->pending, buffer + w, (size_t)(n - w));
        c->pendingLen = (size_t)(n - w);
        setEvents(c, EPOLL_CTL_MOD, EPOLLOUT);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof addr;
    int one = 1;
    struct epoll_event events[1024];
    Conn listenerConn;
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 0));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, 1024) != 0) {
        perror("echoserver: listen");
        return 1;
    }
    getsockname(listener, (struct sockaddr *)&addr, &len);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    listenerConn.fd = listener;
    setEvents(&listenerConn, EPOLL_CTL_ADD, EPOLLIN);
    printf("port=%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(epfd, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            Conn *c = events[i].data.ptr;
            if (c == &listenerConn) {
                acceptAll(listener);
                continue;
            }
            int failed = c->pendingLen ? flushPending(c) : echo(c);
            if (failed)
                dropConn(c);
        }
    }
}
