/* API spans of the real GHC call-in: linked only into the *wrapped* baseline library
 * (libcallin_ghc_wrapped.so), with `-Wl,--wrap=<fn>` for every C API function GHC's stub calls,
 * so the stub's `call rts_lock` lands in `__wrap_rts_lock` here, which calls GHC's own function
 * through `__real_rts_lock`. The plain baseline library is built without this file.
 *
 * Note [contiguous API spans]
 * ---------------------------
 * The same convention as rts-core's probes (Note [contiguous spans] in rts_core::probes): the
 * first boundary of a call is the entry of rts_lock; every wrapper reads the clock once when its
 * function returns and records [last, now) as that function's span, then makes `now` the last
 * boundary. So a call's spans are contiguous from rts_lock's entry to rts_unlock's exit, the C
 * stub's code between two calls is counted in the call that follows it, and a call costs one
 * clock read per boundary (9: rts_lock's entry and the exit of each of the 8 calls).
 *
 * Recording: callin_spans_start() allocates and pre-faults one buffer per thread slot before a
 * run; a thread claims a slot on its first recorded boundary (one atomic increment per thread
 * per run, never per call); each boundary then stores one span (no allocation, no lock); a full
 * buffer counts the span as dropped. Threads that find recording off pay one relaxed load and a
 * branch per boundary and read no clock. The harness reads the buffers after the run
 * (callin_spans_stop, callin_spans_thread) and owns the meaning of each function index through
 * callin_spans_function_name (it maps names to its phase groups: no list shared by position).
 *
 * Clock: rdtsc on x86_64, else CLOCK_MONOTONIC nanoseconds: the clock of rts_core::probes::now,
 * calibrated by the harness the same way. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "Rts.h"

#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t spans_now(void) { return __rdtsc(); }
#else
static inline uint64_t spans_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* The C API functions GHC's stub calls, by index; the index is what a span stores. */
enum {
    FN_LOCK,
    FN_MK_INT,
    FN_APPLY,
    FN_EVAL_IO,
    FN_CHECK_SCHED_STATUS,
    FN_GET_INT,
    FN_UNLOCK,
    FN_COUNT
};

static const char *const function_names[FN_COUNT] = {
    [FN_LOCK] = "rts_lock",
    [FN_MK_INT] = "rts_mkInt",
    [FN_APPLY] = "rts_apply",
    [FN_EVAL_IO] = "rts_evalIO",
    [FN_CHECK_SCHED_STATUS] = "rts_checkSchedStatus",
    [FN_GET_INT] = "rts_getInt",
    [FN_UNLOCK] = "rts_unlock",
};

/* One call of one C API function: [start, end) in clock ticks. Same layout as the harness's
 * #[repr(C)] mirror (src/profile/real_ghc/spans.rs). */
typedef struct {
    uint64_t start;
    uint64_t end;
    uint32_t function;
    uint32_t pad;
} CallinSpan;

typedef struct {
    CallinSpan *buf;
    size_t len;
    uint64_t dropped;
    int64_t tid;
} Slot;

/* Written by the harness only while no thread calls in (before and after a driver run). */
static Slot *slots;
static size_t n_slots;
static size_t slot_capacity;
/* 0 = off. Written by the harness between runs (release), read on every boundary. */
static atomic_uint recording_generation;
static atomic_size_t next_slot;
static atomic_uint_fast64_t threads_without_slot;

typedef struct {
    unsigned generation; /* the run this thread's slot belongs to; 0 = none */
    Slot *slot;
    uint64_t last;
} ThreadRec;

/* initial-exec: one %fs-relative access (the library's TLS block is small enough for the
 * static TLS surplus glibc keeps for dlopen'ed libraries). */
static __thread ThreadRec rec __attribute__((tls_model("initial-exec")));

/* This thread's slot for the current run, claiming one if needed; NULL when not recording. */
static inline Slot *current_slot(void) {
    /* ORDERING: Acquire pairs with the Release store in callin_spans_start, so the slots and
     * their buffers written before it are visible here. */
    unsigned gen = atomic_load_explicit(&recording_generation, memory_order_acquire);
    if (__builtin_expect(gen == 0, 1)) return NULL;
    /* Generations are never reused within a process (until 2^32 runs), so a slot claimed in
     * an earlier run is never taken for this one. */
    if (rec.generation != gen) {
        size_t i = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed);
        rec.generation = gen;
        if (i < n_slots) {
            rec.slot = &slots[i];
            rec.slot->tid = (int64_t)syscall(SYS_gettid);
        } else {
            rec.slot = NULL;
            atomic_fetch_add_explicit(&threads_without_slot, 1, memory_order_relaxed);
        }
    }
    return rec.slot;
}

static inline void call_begins(void) {
    if (current_slot()) rec.last = spans_now();
}

static inline void boundary(uint32_t function) {
    Slot *s = current_slot();
    if (!s) return;
    uint64_t end = spans_now();
    if (s->len < slot_capacity) {
        CallinSpan *sp = &s->buf[s->len++];
        sp->start = rec.last;
        sp->end = end;
        sp->function = function;
        sp->pad = 0;
    } else {
        s->dropped++;
    }
    rec.last = end;
}

/* ---- the wrappers (the linker turns the stub's calls into calls of these) ---------------- */

Capability *__real_rts_lock(void);
HaskellObj __real_rts_mkInt(Capability *, HsInt);
HaskellObj __real_rts_apply(Capability *, HaskellObj, HaskellObj);
void __real_rts_evalIO(Capability **, HaskellObj, HaskellObj *);
void __real_rts_checkSchedStatus(char *, Capability *);
HsInt __real_rts_getInt(HaskellObj);
void __real_rts_unlock(Capability *);

Capability *__wrap_rts_lock(void) {
    call_begins();
    Capability *cap = __real_rts_lock();
    boundary(FN_LOCK);
    return cap;
}

HaskellObj __wrap_rts_mkInt(Capability *cap, HsInt i) {
    HaskellObj r = __real_rts_mkInt(cap, i);
    boundary(FN_MK_INT);
    return r;
}

HaskellObj __wrap_rts_apply(Capability *cap, HaskellObj f, HaskellObj arg) {
    HaskellObj r = __real_rts_apply(cap, f, arg);
    boundary(FN_APPLY);
    return r;
}

void __wrap_rts_evalIO(Capability **cap, HaskellObj p, HaskellObj *ret) {
    __real_rts_evalIO(cap, p, ret);
    boundary(FN_EVAL_IO);
}

void __wrap_rts_checkSchedStatus(char *site, Capability *cap) {
    __real_rts_checkSchedStatus(site, cap);
    boundary(FN_CHECK_SCHED_STATUS);
}

HsInt __wrap_rts_getInt(HaskellObj p) {
    HsInt r = __real_rts_getInt(p);
    boundary(FN_GET_INT);
    return r;
}

void __wrap_rts_unlock(Capability *cap) {
    __real_rts_unlock(cap);
    boundary(FN_UNLOCK);
}

/* ---- the harness's side ---------------------------------------------------------------- */

/* Number of function indices a span can hold. */
uint32_t callin_spans_function_count(void) { return FN_COUNT; }

/* The C API function of index `i`, NULL past the end. */
const char *callin_spans_function_name(uint32_t i) { return i < FN_COUNT ? function_names[i] : NULL; }

/* sizeof(CallinSpan), so the harness can check its mirror. */
size_t callin_spans_span_size(void) { return sizeof(CallinSpan); }

static void free_slots(void) {
    for (size_t i = 0; i < n_slots; i++) free(slots[i].buf);
    free(slots);
    slots = NULL;
    n_slots = 0;
}

/* Start recording: `threads` slots of `capacity` spans each, pre-faulted. Any previous run's
 * spans are discarded. Returns 0, or -1 when memory is short (nothing recorded then). Must not
 * be called while a thread calls in. */
int callin_spans_start(size_t threads, size_t capacity) {
    static unsigned generation;
    atomic_store_explicit(&recording_generation, 0, memory_order_relaxed);
    free_slots();
    slots = calloc(threads ? threads : 1, sizeof(Slot));
    if (!slots) return -1;
    for (size_t i = 0; i < threads; i++) {
        slots[i].buf = malloc((capacity ? capacity : 1) * sizeof(CallinSpan));
        if (!slots[i].buf) {
            n_slots = i;
            free_slots();
            return -1;
        }
        /* Touch every page so a boundary never page-faults. */
        memset(slots[i].buf, 0, (capacity ? capacity : 1) * sizeof(CallinSpan));
        n_slots = i + 1;
    }
    slot_capacity = capacity;
    atomic_store_explicit(&next_slot, 0, memory_order_relaxed);
    atomic_store_explicit(&threads_without_slot, 0, memory_order_relaxed);
    if (++generation == 0) generation = 1;
    /* ORDERING: Release pairs with the Acquire load in current_slot (see there). */
    atomic_store_explicit(&recording_generation, generation, memory_order_release);
    return 0;
}

/* Stop recording; returns the number of slots threads claimed (at most `threads` of start). */
size_t callin_spans_stop(void) {
    atomic_store_explicit(&recording_generation, 0, memory_order_release);
    size_t claimed = atomic_load_explicit(&next_slot, memory_order_relaxed);
    return claimed < n_slots ? claimed : n_slots;
}

/* Threads that wanted to record but found every slot taken (their spans are lost). */
uint64_t callin_spans_threads_without_slot(void) {
    return atomic_load_explicit(&threads_without_slot, memory_order_relaxed);
}

/* Slot `i` after callin_spans_stop: its spans (valid until the next start), count, dropped
 * spans and the thread id that claimed it. Returns -1 past the claimed slots. */
int callin_spans_thread(size_t i, const CallinSpan **spans, size_t *len, uint64_t *dropped,
                        int64_t *tid) {
    size_t claimed = atomic_load_explicit(&next_slot, memory_order_relaxed);
    if (i >= n_slots || i >= claimed) return -1;
    *spans = slots[i].buf;
    *len = slots[i].len;
    *dropped = slots[i].dropped;
    *tid = slots[i].tid;
    return 0;
}

/* Time `n` consecutive boundaries on the calling thread (the wrappers' own operation, into a
 * pre-faulted buffer) and return the ticks, including the two clock reads around the loop: the
 * cost of one boundary, which every span carries, for the harness to take off. Starts and stops
 * a recording of its own (any previous spans are discarded); returns 0 when memory is short.
 * Must not be called while a thread calls in. */
uint64_t callin_spans_time_boundaries(size_t n) {
    if (callin_spans_start(1, n) != 0) return 0;
    uint64_t t0 = spans_now();
    call_begins();
    for (size_t i = 0; i < n; i++) boundary(FN_APPLY);
    uint64_t t1 = spans_now();
    callin_spans_stop();
    return t1 - t0;
}

/* The layout of GHC's RTSStats that the harness reads (getRTSStats, run with +RTS -T): checked
 * here, against the installed header, so a different GHC fails to build instead of misreading. */
_Static_assert(offsetof(RTSStats, gcs) == 0, "RTSStats.gcs moved");
_Static_assert(offsetof(RTSStats, major_gcs) == 4, "RTSStats.major_gcs moved");
_Static_assert(offsetof(RTSStats, allocated_bytes) == 8, "RTSStats.allocated_bytes moved");
size_t callin_spans_rtsstats_size(void) { return sizeof(RTSStats); }
