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
 *              count = bytes echoed back.  Once the first block has come
 *              back decrypted (with the server's session tickets before it),
 *              the client goes raw (see "Bulk without the client's limit").
 *
 * Each runs -w seconds of warm-up, then -d seconds measured.  With -P PID the
 * server's utime+stime (from /proc/PID/stat) is read at the start and the
 * end of the measured interval.
 *
 * Bulk without the client's limit.  An echo costs the client what it costs
 * the server: it encrypts and decrypts every byte too, and through a socket
 * BIO OpenSSL makes three system calls per 16 KiB record (read the header,
 * read the body, write).  So a plain client is as busy as an efficient
 * server (1.2 to 1.4 ms of CPU per MB, as much as Loom's server), and MB/s
 * measures the client.  In raw mode it costs 0.8 to 0.9 ms/MB, so that
 * the server, not the client, is the busier side:
 *   - the echo is read in 256 KiB reads and not decrypted: the record
 *     headers are parsed, and each record counts its length less the 17
 *     bytes TLS 1.3 adds (the AEAD tag, the inner content type; none of the
 *     servers pads).  A header that is not TLS 1.3 application data, or more
 *     echoed than sent, fails the run;
 *   - blocks are still encrypted by SSL_write, into a BIO pair instead of
 *     the socket, and what it holds goes out in large writes, with no copy.
 * The server's work is unchanged: it decrypts and encrypts every byte.
 *
 * Output: one line of key=value pairs on stdout, starting with "result"
 * (with the negotiated cipher and group, and raw=1 once bulk went raw).
 * Exit status 0 on success, 1 on a usage or setup error, or when a
 * connection fails outside handshake mode.
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
#define RAW_READ_SIZE 262144 /* one read() of the echo in raw bulk mode */
#define PAIR_SIZE 262144     /* ciphertext the BIO pair holds before SSL_write waits */
#define RECORD_OVERHEAD 17   /* TLS 1.3: 16-byte AEAD tag and the inner content type */

enum { CONNECTING, HANDSHAKING, OPEN };

typedef struct {
    int fd;
    SSL *ssl;
    int state;
    int active;  /* may send: set once every connection of the point is open */
    size_t sent; /* bytes written: of the current message, or in all (bulk) */
    size_t got;  /* bytes of their echo read */
    unsigned events;
    int raw;         /* bulk, past the first block: see "Bulk without..." */
    BIO *pair;       /* raw: our end of the pair SSL_write writes to */
    int blocked;     /* raw: the socket took less than the pair held */
    unsigned char header[5];
    size_t headerHave, bodyLeft, recordPlain; /* raw: the record being read */
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
static unsigned char rawBuffer[RAW_READ_SIZE];
static Conn *conns;
static struct sockaddr_in target;
static int epfd;
static SSL_CTX *context;
static long errors, handshakes;
static char cipher[64] = "none", group[64] = "none";

static void watch(Conn *c, int index, unsigned events)
{
    watchFd("tlsclient", epfd, c->fd, &c->events, index, events);
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
    if (c->pair) {
        BIO_free(c->pair);
        c->pair = NULL;
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

/* -- raw bulk mode (see "Bulk without the client's limit") ----------------- */

/*
 * Count the cleartext of the records data completes, into c->got; -1 on a
 * header that is not TLS 1.3 application data.
 */
static long countRecords(Conn *c, const unsigned char *data, size_t size)
{
    long plain = 0;
    size_t at = 0;
    while (at < size) {
        if (c->bodyLeft) {
            size_t take = size - at < c->bodyLeft ? size - at : c->bodyLeft;
            c->bodyLeft -= take;
            at += take;
            if (!c->bodyLeft)
                plain += (long)c->recordPlain;
            continue;
        }
        c->header[c->headerHave++] = data[at++];
        if (c->headerHave < 5)
            continue;
        c->headerHave = 0;
        size_t length = (size_t)c->header[3] << 8 | c->header[4];
        if (c->header[0] != 23 || c->header[1] != 3 || c->header[2] != 3 ||
            length <= RECORD_OVERHEAD || length > 16384 + 256)
            return -1;
        c->bodyLeft = length;
        c->recordPlain = length - RECORD_OVERHEAD;
    }
    c->got += (size_t)plain;
    return plain;
}

/* Write what the BIO pair holds to the socket, straight from the pair's buffer. */
static int flushPair(Conn *c)
{
    char *data;
    int available;
    c->blocked = 0;
    while ((available = BIO_nread0(c->pair, &data)) > 0) {
        ssize_t n = write(c->fd, data, (size_t)available);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -1;
        if (n > 0)
            BIO_nread(c->pair, &data, (int)n);
        if (n < available) {
            c->blocked = 1;
            return 0;
        }
    }
    return 0;
}

/* Encrypt blocks while the window allows and send them; return the extra epoll interest, or -1. */
static int pushRaw(Conn *c)
{
    size_t window = (size_t)opt.inflight * opt.size;
    for (;;) {
        if (flushPair(c) < 0)
            return -1;
        if (c->blocked)
            return EPOLLOUT;
        if (c->sent - c->got >= window)
            return 0;
        size_t offset = c->sent % opt.size;
        int n = SSL_write(c->ssl, message + offset, (int)(opt.size - offset));
        if (n > 0)
            c->sent += (size_t)n;
        else if (SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_WRITE)
            return -1; /* (WANT_WRITE: the pair is full, flushPair empties it) */
    }
}

/* Read and count the echo, then write what the window allows; units as exchange(). */
static long exchangeRaw(Conn *c, int index)
{
    long done = 0;
    for (;;) {
        ssize_t n = read(c->fd, rawBuffer, sizeof rawBuffer);
        if (n == 0)
            return -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return -1;
        long plain = countRecords(c, rawBuffer, (size_t)n);
        if (plain < 0 || c->got > c->sent)
            return -1;
        done += plain;
        if ((size_t)n < sizeof rawBuffer)
            break; /* most likely drained: no read just to hear EAGAIN */
    }
    int more = pushRaw(c);
    if (more < 0)
        return -1;
    watch(c, index, EPOLLIN | (unsigned)more);
    return done;
}

/*
 * Go raw: SSL_write now writes into a BIO pair.  Only between records read:
 * the last SSL_read returned a whole record and nothing is left in OpenSSL's
 * buffers.  A record that an SSL_write left half sent is finished, on its
 * next call, into the pair, whose contents go to the socket next: the
 * stream stays in order (with a large window the socket is always full
 * when the echo is read, so waiting for no write to wait never went raw).
 */
static int goRaw(Conn *c)
{
    BIO *sslEnd;
    if (SSL_has_pending(c->ssl))
        return 0;
    if (!BIO_new_bio_pair(&sslEnd, PAIR_SIZE, &c->pair, 0)) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_set0_wbio(c->ssl, sslEnd); /* the socket BIO stays, for reading, unused */
    c->raw = 1;
    return 1;
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
            if (c->got >= opt.size && goRaw(c)) {
                long more = exchangeRaw(c, index);
                return more < 0 ? -1 : done + more;
            }
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
    if (c->raw)
        return exchangeRaw(c, index);
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

static long step(int index, unsigned events)
{
    Conn *c = &conns[index];
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
static void openAll(int count)
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

/* Run the measured loop (clientlib.h); print the result line. */
static void measure(void)
{
    Measured m = runMeasured("tlsclient", epfd, opt.warmup, opt.duration, opt.serverPid, step,
                             &errors);
    printf("result mode=%s conns=%d size=%zu count=%ld elapsed=%.6f client_cpu=%.6f "
           "server_cpu=%.6f server_user=%.6f errors=%ld handshakes=%ld cipher=%s group=%s "
           "raw=%d\n",
           opt.mode, handshakeMode ? opt.inflight : opt.conns, opt.size, m.count, m.elapsed,
           m.clientCpu, m.serverCpu, m.serverUser, errors, handshakes, cipher, group,
           bulk && conns[0].raw);
    fflush(stdout);
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
    conns = calloc((size_t)count, sizeof *conns);
    if (handshakeMode) {
        for (int i = 0; i < count; i++) {
            conns[i].fd = -1;
            restart(&conns[i], i);
        }
    } else {
        openAll(count);
        for (int i = 0; i < count; i++) {
            conns[i].active = 1;
            if (exchange(&conns[i], i) < 0)
                fail("on its first write", i);
        }
    }
    measure();
    return 0;
}
