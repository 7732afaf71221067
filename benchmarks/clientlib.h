/*
 * clientlib.h: what the benchmark load generators (echoclient.c,
 * tlsclient.c) share: the clock, their own CPU time, the server's CPU time
 * read from /proc/PID/stat and raising the open-file limit.  Static
 * functions, included by each client (one translation unit each).
 */
#ifndef LOOM_BENCH_CLIENTLIB_H
#define LOOM_BENCH_CLIENTLIB_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#endif
