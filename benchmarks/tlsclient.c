/*
 * tlsclient: the TLS load generator for benchmarks/bench_tls.py, the TLS
 * sibling of echoclient.c (one epoll loop, non-blocking OpenSSL connections,
 * TLS 1.3 only, OpenSSL's default ciphersuites and groups, no certificate
 * verification: the client's own cost is not what is measured).
 *
 * Modes (-m):
 *   handshake  keep -k K connections in flight; each connects, completes a
 *              full handshake (no session is ever offered for resumption),
 *              sends -s S bytes and reads their echo (so the server has
 *              surely finished its side of the handshake and sent its
 *              session tickets), sends close_notify and closes; a new one
 *              replaces it.  count = handshakes.
 *   pingpong   open -c N connections and complete every handshake first;
 *              then each sends S bytes, waits for the whole echo, sends
 *              again.  count = round trips.
 *   bulk       one connection: write S-byte blocks (64 KiB) with SSL_write,
 *              at most -k blocks not yet echoed back, and read the echo.
 *              count = bytes echoed back.
 *
 * Each runs -w seconds of warm-up, then -d seconds measured.  With -P PID the
 * server's utime+stime (from /proc/PID/stat) is read at the start and the
 * end of the measured interval.
 *
 * Output: one line of key=value pairs on stdout, starting with "result"
 * (with the negotiated cipher and group).  Exit status 0 on success, 1 on a
 * usage or setup error, or when a connection fails outside handshake mode.
 *
 *   cc -O2 -std=c99 -o tlsclient tlsclient.c -lssl -lcrypto
 *   tlsclient -m handshake -p 8443 -k 4 -s 1 -w 0.5 -d 2.5 -P 1234
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "clientlib.h"

#define MAX_EVENTS 1024
#define READ_SIZE 65536

enum { CONNECTING, HANDSHAKING, OPEN };

typedef struct {
    int fd;
    SSL *ssl;
    int state;
    int active;  /* may send: set once every connection of the point is open */
    size_t sent; /* bytes written: of the current message, or in all (bulk) */
    size_t got;  /* bytes of their echo read */
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
} opt = {"pingpong", 0, 1, 64, 0.5, 2.5, 0, 4};

static int bulk, handshakeMode;
static char *message;
static char readBuffer[READ_SIZE];
static struct sockaddr_in target;
static int epfd;
static SSL_CTX *context;
static long errors, handshakes;
static char cipher[64] = "none", group[64] = "none";

static void watch(Conn *c, int index, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)index};
    int op = c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (c->events == events)
        return;
    if (epoll_ctl(epfd, op, c->fd, &ev) != 0) {
        perror("tlsclient: epoll_ctl");
        exit(1);
    }
    c->events = events;
}

/* Start a non-blocking connect with a fresh SSL object; -1 if it failed at once. */
static int openConn(Conn *c, int index)
{
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("tlsclient: socket");
        exit(1);
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = CONNECTING;
    c->sent = c->got = 0;
    c->events = 0;
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) != 0 &&
        errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->ssl = SSL_new(context);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_set_connect_state(c->ssl);
    watch(c, index, EPOLLOUT);
    return 0;
}

/* Send close_notify if the connection is open (not waiting for the reply), free, close. */
static void closeConn(Conn *c)
{
    if (c->ssl) {
        if (c->state == OPEN)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->events = 0;
    ERR_clear_error();
}

/* The epoll interest an SSL call's WANT_* result asks for, or 0 on an error. */
static unsigned wanted(SSL *ssl, int result)
{
    switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ: return EPOLLIN;
    case SSL_ERROR_WANT_WRITE: return EPOLLOUT;
    default: return 0;
    }
}

static void noteSession(SSL *ssl)
{
    if (strcmp(cipher, "none") != 0)
        return;
    snprintf(cipher, sizeof cipher, "%s", SSL_get_cipher_name(ssl));
    const char *name = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
    snprintf(group, sizeof group, "%s", name ? name : "unknown");
}

/* Write what the mode allows now; return the extra epoll interest, or -1. */
static int pushData(Conn *c)
{
    size_t window = (size_t)opt.inflight * opt.size;
    while (c->active) {
        size_t offset = bulk ? c->sent % opt.size : c->sent;
        if (bulk ? c->sent - c->got >= window : c->sent >= opt.size)
            return 0;
        int n = SSL_write(c->ssl, message + offset, (int)(opt.size - offset));
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        unsigned want = wanted(c->ssl, n);
        return want ? (int)want : -1;
    }
    return 0;
}

/*
 * Read everything readable, then write what the mode allows.  Return the
 * units completed (messages echoed; bytes in bulk mode), or -1 on an error
 * or a close by the server.
 */
static long exchange(Conn *c, int index)
{
    long done = 0;
    unsigned want = EPOLLIN;
    for (;;) {
        int n = SSL_read(c->ssl, readBuffer, sizeof readBuffer);
        if (n <= 0) {
            unsigned more = wanted(c->ssl, n);
            if (!more)
                return -1;
            want |= more;
            break;
        }
        c->got += (size_t)n;
        if (c->got > c->sent)
            return -1; /* more echoed than sent */
        if (bulk) {
            done += n;
        } else if (c->got == opt.size) {
            done++;
            c->sent = c->got = 0;
            if (handshakeMode)
                return done; /* the caller closes it */
        }
    }
    int more = pushData(c);
    if (more < 0)
        return -1;
    watch(c, index, want | (unsigned)more);
    return done;
}

/* Drive one connection on an epoll event; return units completed or -1. */
static long advance(Conn *c, int index, unsigned events)
{
    if (c->state == CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return 0;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            errno = err;
            return -1;
        }
        c->state = HANDSHAKING;
    }
    if (c->state == HANDSHAKING) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            unsigned want = wanted(c->ssl, r);
            if (!want)
                return -1;
            watch(c, index, want);
            return 0;
        }
        c->state = OPEN;
        handshakes++;
        noteSession(c->ssl);
    }
    return exchange(c, index);
}

static void fail(const char *what, int index)
{
    fprintf(stderr, "tlsclient: connection %d failed %s: %s\n", index, what, strerror(errno));
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* Replace a finished or failed connection with a new one (handshake mode). */
static void restart(Conn *c, int index)
{
    closeConn(c);
    while (openConn(c, index) != 0) {
        if (++errors > 1000)
            fail("to connect", index);
    }
    c->active = 1;
}

static long step(Conn *c, int index, unsigned events)
{
    long done = advance(c, index, events);
    if (done < 0) {
        if (!handshakeMode)
            fail("", index);
        errors++;
        restart(c, index);
        return 0;
    }
    if (handshakeMode && done > 0)
        restart(c, index);
    return done;
}

/* Open count connections and complete their handshakes (bounded); nothing is sent. */
static void openAll(Conn *conns, int count)
{
    struct epoll_event events[MAX_EVENTS];
    double deadline = now() + 30;
    int pending = count;
    for (int i = 0; i < count; i++) {
        if (openConn(&conns[i], i) != 0)
            fail("to connect", i);
    }
    while (pending > 0) {
        if (now() > deadline) {
            fprintf(stderr, "tlsclient: %d of %d handshakes still pending\n", pending, count);
            exit(1);
        }
        int n = epoll_wait(epfd, events, MAX_EVENTS, 100);
        for (int i = 0; i < n; i++) {
            int index = (int)events[i].data.u32;
            int wasOpen = conns[index].state == OPEN;
            if (advance(&conns[index], index, events[i].events) < 0)
                fail("during set-up", index);
            pending -= !wasOpen && conns[index].state == OPEN;
        }
    }
}

/* Run the event loop for the warm-up and the measured interval; print the result. */
static void runMeasured(Conn *conns)
{
    struct epoll_event events[MAX_EVENTS];
    long count = 0, startCount = 0;
    double start = now(), measureFrom = start + opt.warmup, end = measureFrom + opt.duration;
    double cpu0 = 0, server0 = 0, user0 = 0, t0 = 0;
    int measuring = 0;
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, 10);
        if (n < 0 && errno != EINTR) {
            perror("tlsclient: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            int index = (int)events[i].data.u32;
            count += step(&conns[index], index, events[i].events);
        }
        double t = now();
        if (!measuring && t >= measureFrom) {
            measuring = 1;
            t0 = t;
            startCount = count;
            cpu0 = ownCpu();
            server0 = serverCpu(opt.serverPid, &user0);
        } else if (measuring && t >= end) {
            double user1, server1 = serverCpu(opt.serverPid, &user1), cpu1 = ownCpu();
            printf("result mode=%s conns=%d size=%zu count=%ld elapsed=%.6f client_cpu=%.6f "
                   "server_cpu=%.6f server_user=%.6f errors=%ld handshakes=%ld cipher=%s "
                   "group=%s\n",
                   opt.mode, handshakeMode ? opt.inflight : opt.conns, opt.size,
                   count - startCount, t - t0, cpu1 - cpu0, server0 < 0 ? -1 : server1 - server0,
                   server0 < 0 ? -1 : user1 - user0, errors, handshakes, cipher, group);
            fflush(stdout);
            return;
        }
        if (errors > 1000) {
            fprintf(stderr, "tlsclient: too many errors (%ld)\n", errors);
            exit(1);
        }
    }
}

static void setUpContext(void)
{
    context = SSL_CTX_new(TLS_client_method());
    if (!context || !SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION)) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tlsclient -p PORT [-m handshake|pingpong|bulk] [-c CONNS] [-s SIZE]\n"
            "                 [-w WARMUP_S] [-d DURATION_S] [-k INFLIGHT] [-P SERVER_PID]\n");
    exit(1);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "m:p:c:s:w:d:k:P:")) != -1) {
        switch (ch) {
        case 'm': opt.mode = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 's': opt.size = (size_t)atol(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'k': opt.inflight = atoi(optarg); break;
        case 'P': opt.serverPid = atoi(optarg); break;
        default: usage();
        }
    }
    handshakeMode = strcmp(opt.mode, "handshake") == 0;
    bulk = strcmp(opt.mode, "bulk") == 0;
    if (!handshakeMode && !bulk && strcmp(opt.mode, "pingpong") != 0)
        usage();
    if (bulk)
        opt.conns = 1;
    if (opt.port <= 0 || opt.conns <= 0 || opt.size == 0 || opt.size > INT32_MAX ||
        opt.inflight <= 0)
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
    setUpContext();
    int count = handshakeMode ? opt.inflight : opt.conns;
    Conn *conns = calloc((size_t)count, sizeof *conns);
    if (handshakeMode) {
        for (int i = 0; i < count; i++) {
            conns[i].fd = -1;
            restart(&conns[i], i);
        }
    } else {
        openAll(conns, count);
        for (int i = 0; i < count; i++) {
            conns[i].active = 1;
            if (exchange(&conns[i], i) < 0)
                fail("on its first write", i);
        }
    }
    runMeasured(conns);
    return 0;
}
