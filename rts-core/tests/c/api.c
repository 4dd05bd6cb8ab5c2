/* A C program that uses rts-core only through include/ and librts_core.a, the way a C host of a
 * GHC-compiled library does. Run by tests/c_stub_c_api.rs; the mode is argv[1]:
 *   surface  every function and datum the headers declare, referenced and (where safe) called:
 *            the compiled c_function stub from 2 pthreads, both call forms (rts_evalIO and
 *            rts_inCall), nested call-ins through rtscore_safe_ccall to depth 64,
 *            rtscore_allocate, setNumCapabilities, rts_setInCallCapability,
 *            rts_pinThreadToNumaNode, hs_thread_done, the floor function. Prints "ok".
 *   throw    the body calls rtscore_throw: status Killed, GHC's message, exitFn, exit code 1.
 *   heap     the body asks for more heap than a nursery holds: HeapExhausted, exit code 251.
 * RTS options come after the mode: +RTS -N2 -A64k -RTS. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "Rts.h"
#include "RtsCoreExport.h"

HsInt c_function(HsInt x);          /* stub/c_function.c, in librts_core.a */
HsInt rtscore_floor_empty(HsInt x); /* stub/floor.c, in librts_core.a */

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "api.c:%d: check failed: %s\n", __LINE__, #cond);          \
            exit(3);                                                                   \
        }                                                                              \
    } while (0)

/* The call sequence of GHC's generated stub for any closure, in the 9.2+ form or the 9.0 form. */
static HsInt call_closure(StgClosure *closure, HsInt x, int use_eval_io, char *site)
{
    Capability *cap = rts_lock();
    HaskellObj ret = NULL;
    HaskellObj p = rts_apply(cap, (HaskellObj)runIO_closure,
                             rts_apply(cap, closure, rts_mkInt(cap, x)));
    if (use_eval_io)
        rts_evalIO(&cap, p, &ret);
    else
        rts_inCall(&cap, p, &ret);
    rts_checkSchedStatus(site, cap);
    HsInt r = rts_getInt(ret);
    rts_unlock(cap);
    return r;
}

/* nest n = if n <= 0 then return 0 else (+ 1) <$> safe_ccall nest_c_function (n - 1) */
static HsInt nest_impl(HsInt n);
RTSCORE_DEFINE_IO_INT_FUN(api_nest_closure, nest_impl);
static HsInt nest_c_function(HsInt n) { return call_closure(&api_nest_closure, n, 0, "nest"); }
static HsInt nest_impl(HsInt n)
{
    return n <= 0 ? 0 : rtscore_safe_ccall(nest_c_function, n - 1) + 1;
}

/* alloc x = allocate 4 words, write and read them back, return x * 2 */
static HsInt alloc_impl(HsInt x)
{
    HsInt *p = rtscore_allocate(4);
    if (p == NULL)
        return -1;
    for (int i = 0; i < 4; i++)
        p[i] = x;
    return p[0] + p[3];
}
RTSCORE_DEFINE_IO_INT_FUN(api_alloc_closure, alloc_impl);

static HsInt throw_impl(HsInt x)
{
    (void)x;
    rtscore_throw("boom from C");
    return 0;
}
RTSCORE_DEFINE_IO_INT_FUN(api_throw_closure, throw_impl);

static HsInt hog_impl(HsInt x)
{
    return rtscore_allocate((HsInt)1 << 40) == NULL ? x : -1;
}
RTSCORE_DEFINE_IO_INT_FUN(api_hog_closure, hog_impl);

static void on_exit_fn(int code)
{
    fprintf(stderr, "exitFn(%d)\n", code);
}

static void *worker(void *arg)
{
    HsInt base = (HsInt)(intptr_t)arg, wrong = 0;
    for (HsInt i = -100; i < 5000; i++)
        wrong += c_function(base + i) != base + i + 1;
    wrong += call_closure(&api_alloc_closure, 21, 1, "alloc") != 42;
    hs_thread_done(); /* frees this thread's Task now */
    return (void *)(intptr_t)wrong;
}

static void surface(void)
{
    /* Data the headers declare: their addresses link. */
    CHECK(exitFn == NULL); /* GHC: no override by default */
    CHECK(runIO_closure == &base_GHCziTopHandler_runIO_closure);
    CHECK(&rtscore_fun_io_int_info != NULL);
    CHECK(api_nest_closure.header.info == &rtscore_fun_io_int_info);
    CHECK(api_nest_closure.payload[0] == (StgClosure *)(StgWord)nest_impl);
    CHECK(NoStatus == 0 && Success == 1 && Killed == 2 && Interrupted == 3 && HeapExhausted == 4);

    CHECK(rtscore_floor_empty(7) == 7);
    CHECK(c_function(41) == 42);
    CHECK(call_closure(&api_alloc_closure, 5, 0, "alloc") == 10);
    CHECK(call_closure(&api_alloc_closure, 5, 1, "alloc") == 10);
    CHECK(nest_c_function(64) == 64);

    pthread_t t[2];
    long wrong = 0;
    for (intptr_t i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(i << 32)) == 0);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        wrong += (long)(intptr_t)r;
    }
    CHECK(wrong == 0);

    setNumCapabilities(3);
    CHECK(c_function(1) == 2);
    setNumCapabilities(2);
    CHECK(c_function(2) == 3);
    rts_setInCallCapability(1, 0);
    CHECK(c_function(3) == 4);
    rts_pinThreadToNumaNode(0);
    CHECK(c_function(4) == 5);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s surface|throw|heap [+RTS ... -RTS]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "surface") != 0)
        exitFn = on_exit_fn; /* GHC reads it at exit; set before the RTS starts */
    hs_init(&argc, &argv);
    if (strcmp(mode, "surface") == 0) {
        surface();
    } else if (strcmp(mode, "throw") == 0) {
        call_closure(&api_throw_closure, 1, 0, "throw_c_function");
        fprintf(stderr, "not reached: the killed call returned\n");
        return 4;
    } else if (strcmp(mode, "heap") == 0) {
        call_closure(&api_hog_closure, 1, 0, "hog_c_function");
        fprintf(stderr, "not reached: the heap-exhausted call returned\n");
        return 4;
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    hs_exit();
    printf("ok\n");
    return 0;
}
