/* A C host calling c_function from THREADS pinned pthreads, released together by a barrier.
 * The same source links with either RTS:
 *   rts-core: cc -O2 -I rts-core/include callin_driver.c target/release/librts_core.a -lpthread ...
 *             (c_function is the compiled stub in librts_core.a)
 *   GHC:      ghc -O2 -threaded -rtsopts -no-hs-main ghc/Fun.hs ghc/Export.hs callin_driver.c
 * Usage: callin_driver THREADS CALLS [+RTS ... -RTS]
 * Prints one line: threads=T calls=N wrong=W ns_per_call=X, where X is the wall time from the
 * barrier's release until the last thread finished, divided by all threads' calls (aggregate,
 * as criterion's callin bench reports it). Every result is checked; exit 1 if any is wrong. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "HsFFI.h"

HsInt c_function(HsInt x);

static pthread_barrier_t start_line;
static long calls_per_thread;

static void pin_to_cpu(long t)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)(t % (n > 0 ? n : 1)), &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
}

static void *caller(void *arg)
{
    long t = (long)(intptr_t)arg, wrong = 0;
    pin_to_cpu(t);
    wrong += c_function(1000) != 1001; /* warm-up: the first call creates this thread's Task */
    pthread_barrier_wait(&start_line);
    HsInt base = (HsInt)t << 40;
    for (long i = 0; i < calls_per_thread; i++)
        wrong += c_function(base + i) != base + i + 1;
    return (void *)(intptr_t)wrong;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long parse_positive(const char *what, const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "callin_driver: %s must be a positive integer, got '%s'\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s THREADS CALLS [+RTS ... -RTS]\n", argv[0]);
        return 2;
    }
    long threads = parse_positive("THREADS", argv[1]);
    long calls = parse_positive("CALLS", argv[2]);
    calls_per_thread = (calls + threads - 1) / threads;
    hs_init(&argc, &argv);

    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, caller, (void *)(intptr_t)t) != 0) {
            fprintf(stderr, "callin_driver: pthread_create failed\n");
            return 2;
        }
    pthread_barrier_wait(&start_line);
    double t0 = now_ns();
    long wrong = 0;
    for (long t = 0; t < threads; t++) {
        void *r;
        pthread_join(tid[t], &r);
        wrong += (long)(intptr_t)r;
    }
    double elapsed = now_ns() - t0;
    hs_exit();
    long total = calls_per_thread * threads;
    printf("threads=%ld calls=%ld wrong=%ld ns_per_call=%.1f\n", threads, total, wrong,
           elapsed / (double)total);
    free(tid);
    return wrong != 0;
}
