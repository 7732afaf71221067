/*
 * clientlib.h: what the benchmark load generators (echoclient.c,
 * tlsclient.c) share: the clock, their own CPU time, the server's CPU time
 * read from /proc/PID/stat, raising the open-file limit, and the measured
 * epoll loop (runMeasured: warm-up, then an interval whose units and CPU
 * times are reported).  Static functions, included by each client (one
 * translation unit each).
 */
#ifndef LOOM_BENCH_CLIENTLIB_H
#define LOOM_BENCH_CLIENTLIB_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double ownCpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Process pid's utime+stime in seconds, or -1 if unknown; its utime in *user. */
static double serverCpu(int pid, double *user)
{
    char path[64], buf[1024];
    *user = -1;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After ")": field 3 (state) ... field 14 utime, field 15 stime. */
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &utime,
               &stime) != 2)
        return -1;
    double tick = (double)sysconf(_SC_CLK_TCK);
    *user = (double)utime / tick;
    return (double)(utime + stime) / tick;
}

/*
 * serverCpu of pid plus that of each of its children (a master's pre-forked
 * workers: loomd --workers), from /proc/PID/task/PID/children; -1 if unknown.
 */
static double serverTreeCpu(int pid, double *user)
{
    double total = serverCpu(pid, user);
    if (total < 0)
        return -1;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return total;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (char *word = strtok(buf, " \n"); word; word = strtok(NULL, " \n")) {
        double childUser;
        double child = serverCpu(atoi(word), &childUser);
        if (child >= 0) {
            total += child;
            *user += childUser;
        }
    }
    return total;
}

static void raiseFileLimit(long wanted)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur >= wanted)
        return;
    rl.rlim_cur = wanted;
    if ((long)rl.rlim_max < wanted)
        rl.rlim_max = wanted; /* allowed for root only */
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "cannot raise RLIMIT_NOFILE to %ld: %s\n", wanted, strerror(errno));
        exit(1);
    }
}

/*
 * Watch fd on epfd for events (data: index), remembering them in *current;
 * nothing is done when they are already the ones watched.  Exits on an
 * epoll_ctl error (name prefixes the message).
 */
static void watchFd(const char *name, int epfd, int fd, unsigned *current, int index,
                    unsigned events)
{
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)index};
    int op = *current ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (*current == events)
        return;
    if (epoll_ctl(epfd, op, fd, &ev) != 0) {
        fprintf(stderr, "%s: epoll_ctl: %s\n", name, strerror(errno));
        exit(1);
    }
    *current = events;
}

/* What runMeasured saw over the measured interval (the server's CPU: -1 if unknown). */
typedef struct {
    long count;
    double elapsed, clientCpu, serverCpu, serverUser;
} Measured;

/*
 * Run the epoll loop on epfd for warmup seconds, then for duration seconds
 * measured.  step(index, events) handles one event (index: the event's
 * data.u32) and returns the units it completed.  The server's utime+stime
 * (pid serverPid and its children: serverTreeCpu) and our own are read at
 * both ends of the measured interval, so they cover exactly the units
 * counted.  Exits when *errors
 * passes 1000 (name prefixes the message).
 */
static Measured runMeasured(const char *name, int epfd, double warmup, double duration,
                            int serverPid, long (*step)(int, unsigned), const long *errors)
{
    struct epoll_event events[1024];
    long count = 0, startCount = 0;
    double start = now(), measureFrom = start + warmup, end = measureFrom + duration;
    double cpu0 = 0, server0 = 0, user0 = 0, t0 = 0;
    int measuring = 0;
    for (;;) {
        int n = epoll_wait(epfd, events, 1024, 10);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "%s: epoll_wait: %s\n", name, strerror(errno));
            exit(1);
        }
        for (int i = 0; i < n; i++)
            count += step((int)events[i].data.u32, events[i].events);
        double t = now();
        if (!measuring && t >= measureFrom) {
            measuring = 1;
            t0 = t;
            startCount = count;
            cpu0 = ownCpu();
            server0 = serverTreeCpu(serverPid, &user0);
        } else if (measuring && t >= end) {
            double user1, server1 = serverTreeCpu(serverPid, &user1);
            Measured m = {count - startCount, t - t0, ownCpu() - cpu0,
                          server0 < 0 ? -1 : server1 - server0, server0 < 0 ? -1 : user1 - user0};
            return m;
        }
        if (*errors > 1000) {
            fprintf(stderr, "%s: too many errors (%ld), last: %s\n", name, *errors,
                    strerror(errno));
            exit(1);
        }
    }
}

#endif
