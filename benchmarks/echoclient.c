/*
 * echoclient: a small epoll load generator for the echo benchmark.
 *
 * Modes (-m):
 *   pingpong  open -c N connections to 127.0.0.1:PORT; each sends -s S
 *             bytes, waits for the whole echo, sends again.  Runs -w
 *             seconds of warm-up, then -d seconds measured.
 *   churn     keep -k K connections in flight; each connects, sends S
 *             bytes, reads the echo and closes; a new one replaces it.
 *   idle      open -c N connections (at most -k at a time in setup), each
 *             exchanging one byte so the server has surely accepted it, print
 *             "ready ..." and hold them until stdin reaches end of file.
 *
 * With -P PID the server's utime+stime (from /proc/PID/stat) is read at the
 * start and the end of the measured interval, so the server's CPU time covers
 * exactly the interval the round trips were counted in (its utime alone is
 * reported too: the user-space share, i.e. the interpreter's, of that time).
 * The server's children count too (loomd --workers: the master and its workers).
 *
 * Output: one line of key=value pairs on stdout, starting with "result".
 * Exit status 0 on success, 1 on a usage or setup error.
 *
 *   cc -O2 -std=c99 -o echoclient echoclient.c
 *   echoclient -m pingpong -p 8000 -c 100 -s 64 -w 0.5 -d 2.5 -P 1234
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clientlib.h"

#define MAX_EVENTS 1024
#define READ_SIZE 65536

typedef struct {
    int fd;
    int connecting; /* connect() not yet known to have succeeded */
    size_t sent;    /* bytes of the current message written */
    size_t got;     /* bytes of its echo read */
    unsigned events;
} Conn;

static struct {
    const char *mode;
    int port;
    int conns;
    size_t size;
    double warmup;
    double duration;
    int serverPid;
    int inflight;
    int reset; /* churn: close with SO_LINGER 0 (RST) instead of FIN */
} opt = {"pingpong", 0, 1, 64, 0.5, 2.5, 0, 100, 0};

static char *message;
static char readBuffer[READ_SIZE];
static struct sockaddr_in target;
static int epfd;
static long errors;

static void watch(Conn *c, int index, unsigned events)
{
    watchFd("echoclient", epfd, c->fd, &c->events, index, events);
}

/* Start a non-blocking connect; the connection is watched for writability. */
static int openConn(Conn *c, int index)
{
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("echoclient: socket");
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.reset) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    c->connecting = 1;
    c->sent = c->got = 0;
    c->events = 0;
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) != 0 &&
        errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    watch(c, index, EPOLLOUT);
    return 0;
}

static void closeConn(Conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->events = 0;
}

/* Write what is left of the message; watch for writability if it did not all go. */
static int pushMessage(Conn *c, int index, size_t size)
{
    while (c->sent < size) {
        ssize_t n = write(c->fd, message + c->sent, size - c->sent);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            return -1;
        }
    }
    watch(c, index, EPOLLIN | (c->sent < size ? EPOLLOUT : 0));
    return 0;
}

/* Finish a connect that epoll reported; return 0 if it succeeded. */
static int finishConnect(Conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        errno = err;
        return -1;
    }
    c->connecting = 0;
    return 0;
}

/*
 * Handle events on a connection exchanging messages of size bytes.  Return 1
 * when the whole echo has arrived, 0 if still waiting, -1 on error.
 */
static int service(Conn *c, int index, unsigned events, size_t size)
{
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return 0;
        if (finishConnect(c) != 0)
            return -1;
    }
    if (events & EPOLLIN) {
        ssize_t n = read(c->fd, readBuffer, sizeof readBuffer);
        if (n == 0)
            return -1;
        if (n < 0)
            return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        c->got += (size_t)n;
        if (c->got > c->sent)
            return -1; /* more echoed than sent */
        if (c->got == size)
            return 1;
    }
    if (c->sent < size && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        return pushMessage(c, index, size);
    return 0;
}

static Conn *conns;
static int (*currentStep)(Conn *, int, unsigned);

static long stepConn(int index, unsigned events)
{
    return currentStep(&conns[index], index, events);
}

/* Run the measured loop (clientlib.h) with step for each event; print the result line. */
static void measure(const char *mode, int (*step)(Conn *, int, unsigned))
{
    currentStep = step;
    Measured m = runMeasured("echoclient", epfd, opt.warmup, opt.duration, opt.serverPid,
                             stepConn, &errors);
    printf("result mode=%s conns=%d size=%zu count=%ld elapsed=%.6f client_cpu=%.6f "
           "server_cpu=%.6f server_user=%.6f errors=%ld\n",
           mode, strcmp(mode, "churn") == 0 ? opt.inflight : opt.conns, opt.size, m.count,
           m.elapsed, m.clientCpu, m.serverCpu, m.serverUser, errors);
    fflush(stdout);
}

/* -- ping-pong ------------------------------------------------------------- */

static int pingStep(Conn *c, int index, unsigned events)
{
    int r = service(c, index, events, opt.size);
    if (r < 0) {
        fprintf(stderr, "echoclient: connection %d failed: %s\n", index, strerror(errno));
        exit(1);
    }
    if (r == 1) {
        c->sent = c->got = 0;
        if (pushMessage(c, index, opt.size) != 0) {
            perror("echoclient: write");
            exit(1);
        }
    }
    return r == 1;
}

/* Open every connection and wait until all are connected (bounded). */
static void connectAll(Conn *all, int count)
{
    struct epoll_event events[MAX_EVENTS];
    int pending = count;
    double deadline = now() + 30;
    for (int i = 0; i < count; i++) {
        if (openConn(&all[i], i) != 0) {
            perror("echoclient: connect");
            exit(1);
        }
    }
    while (pending > 0) {
        if (now() > deadline) {
            fprintf(stderr, "echoclient: %d of %d connections still pending\n", pending, count);
            exit(1);
        }
        int n = epoll_wait(epfd, events, MAX_EVENTS, 100);
        for (int i = 0; i < n; i++) {
            Conn *c = &all[events[i].data.u32];
            if (!c->connecting)
                continue;
            if (finishConnect(c) != 0) {
                perror("echoclient: connect");
                exit(1);
            }
            pending--;
        }
    }
}

static void runPingPong(void)
{
    conns = calloc((size_t)opt.conns, sizeof *conns);
    connectAll(conns, opt.conns);
    for (int i = 0; i < opt.conns; i++) {
        if (pushMessage(&conns[i], i, opt.size) != 0) {
            perror("echoclient: write");
            exit(1);
        }
    }
    measure("pingpong", pingStep);
}

/* -- churn ------------------------------------------------------------------ */

static void restart(Conn *c, int index)
{
    closeConn(c);
    while (openConn(c, index) != 0) {
        errors++;
        if (errors > 1000) {
            perror("echoclient: connect");
            exit(1);
        }
    }
}

static int churnStep(Conn *c, int index, unsigned events)
{
    int r = service(c, index, events, opt.size);
    if (r != 0) {
        if (r < 0)
            errors++;
        restart(c, index);
    }
    return r == 1;
}

static void runChurn(void)
{
    conns = calloc((size_t)opt.inflight, sizeof *conns);
    for (int i = 0; i < opt.inflight; i++) {
        conns[i].fd = -1;
        restart(&conns[i], i);
    }
    measure("churn", churnStep);
}

/* -- idle ------------------------------------------------------------------- */

static void runIdle(void)
{
    struct epoll_event events[MAX_EVENTS];
    conns = calloc((size_t)opt.conns, sizeof *conns);
    int opened = 0, done = 0, active = 0;
    double start = now(), deadline = start + 120;
    opt.size = 1;
    while (done < opt.conns) {
        while (active < opt.inflight && opened < opt.conns) {
            if (openConn(&conns[opened], opened) != 0) {
                perror("echoclient: connect");
                exit(1);
            }
            opened++;
            active++;
        }
        if (now() > deadline) {
            fprintf(stderr, "echoclient: only %d of %d idle connections set up\n", done,
                    opt.conns);
            exit(1);
        }
        int n = epoll_wait(epfd, events, MAX_EVENTS, 100);
        for (int i = 0; i < n; i++) {
            int index = (int)events[i].data.u32;
            Conn *c = &conns[index];
            int r = service(c, index, events[i].events, 1);
            if (r < 0) {
                fprintf(stderr, "echoclient: idle connection %d failed: %s\n", index,
                        strerror(errno));
                exit(1);
            }
            if (r == 1) {
                /* Stop watching it: it now sits idle. */
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                c->events = 0;
                active--;
                done++;
            }
        }
    }
    printf("ready mode=idle conns=%d elapsed=%.6f\n", done, now() - start);
    fflush(stdout);
    while (read(0, readBuffer, sizeof readBuffer) > 0 || errno == EINTR)
        ;
    for (int i = 0; i < opt.conns; i++)
        closeConn(&conns[i]);
    printf("result mode=idle conns=%d errors=%ld\n", opt.conns, errors);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: echoclient -p PORT [-m pingpong|churn|idle] [-c CONNS] [-s SIZE]\n"
            "                  [-w WARMUP_S] [-d DURATION_S] [-k INFLIGHT] [-P SERVER_PID] [-r]\n");
    exit(1);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "m:p:c:s:w:d:k:P:r")) != -1) {
        switch (ch) {
        case 'm': opt.mode = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 's': opt.size = (size_t)atol(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'k': opt.inflight = atoi(optarg); break;
        case 'P': opt.serverPid = atoi(optarg); break;
        case 'r': opt.reset = 1; break;
        default: usage();
        }
    }
    if (opt.port <= 0 || opt.conns <= 0 || opt.size == 0 || opt.inflight <= 0)
        usage();
    signal(SIGPIPE, SIG_IGN);
    raiseFileLimit((opt.conns > opt.inflight ? opt.conns : opt.inflight) + 64L);
    message = malloc(opt.size);
    for (size_t i = 0; i < opt.size; i++)
        message[i] = (char)('a' + i % 26);
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)opt.port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (strcmp(opt.mode, "pingpong") == 0)
        runPingPong();
    else if (strcmp(opt.mode, "churn") == 0)
        runChurn();
    else if (strcmp(opt.mode, "idle") == 0)
        runIdle();
    else
        usage();
    return 0;
}
