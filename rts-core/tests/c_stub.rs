//! The compiled C stub (`stub/c_function.c`) called from Rust threads: `x + 1` from 1, 2 and 8
//! threads over 2 capabilities, for both policy sets. Its object code is checked in
//! `c_stub_order.rs`; GHC's own generated stub in `c_stub_ghc_generated.rs`.

mod common;

use common::start;
use rts_core::PolicySet;

#[test]
fn compiled_stub_returns_x_plus_one_from_1_2_and_8_threads() {
    let f = rts_core::stub::c_function();
    for p in [PolicySet::DEFAULT, PolicySet::GHC] {
        let _rts = start(2, p);
        for threads in [1i64, 2, 8] {
            let hs: Vec<_> = (0..threads)
                .map(|t| {
                    std::thread::spawn(move || {
                        (0..5_000).all(|i| {
                            // SAFETY: the stub may be called from any thread once the RTS runs.
                            unsafe { f(t << 32 | i) == (t << 32 | i) + 1 }
                        })
                    })
                })
                .collect();
            assert!(
                hs.into_iter().all(|h| h.join().unwrap()),
                "{threads} threads, policy {p}"
            );
        }
    }
}
