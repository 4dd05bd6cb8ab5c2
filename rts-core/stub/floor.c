/* The floor: an empty C function (returns its argument), called through a pointer by benches. */
#include "HsFFI.h"

__attribute__((noinline)) HsInt rtscore_floor_empty(HsInt x)
{
    __asm__ volatile("" ::: "memory");
    return x;
}
