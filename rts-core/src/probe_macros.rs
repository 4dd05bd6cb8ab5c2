//! The phase boundaries of the call path (feature `probes`; Note [contiguous spans] in
//! probes.rs): `probe_start!()` is the first boundary of a call (rts_lock's entry),
//! `probe_mark!(Phase)` a later boundary, recording `[last boundary, now)` as the phase that
//! just ended, and `probed!(Phase, expr)` is `expr` followed by a boundary ending `Phase`.
//! Without the feature all three expand to nothing (or to `expr`), so a build without `probes`
//! carries no trace of them.

#[cfg(feature = "probes")]
macro_rules! probe_start {
    () => {
        $crate::probes::call_begins()
    };
}
#[cfg(feature = "probes")]
macro_rules! probe_mark {
    ($phase:ident) => {
        $crate::probes::boundary($crate::probes::Phase::$phase)
    };
}
#[cfg(feature = "probes")]
macro_rules! probed {
    ($phase:ident, $e:expr) => {{
        let r = $e;
        $crate::probes::boundary($crate::probes::Phase::$phase);
        r
    }};
}
#[cfg(not(feature = "probes"))]
macro_rules! probed {
    ($phase:ident, $e:expr) => {
        $e
    };
}
#[cfg(not(feature = "probes"))]
macro_rules! probe_start {
    () => {};
}
#[cfg(not(feature = "probes"))]
macro_rules! probe_mark {
    ($phase:ident) => {};
}
pub(crate) use {probe_mark, probe_start, probed};
