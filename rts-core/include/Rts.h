/* Rts.h: everything a GHC-generated foreign-export stub includes, for rts-core. */
#ifndef RTSCORE_RTS_H
#define RTSCORE_RTS_H

#include "HsFFI.h"
#include "Stg.h"
#include "RtsAPI.h"
#include "rts/ForeignExports.h"

#endif /* RTSCORE_RTS_H */
