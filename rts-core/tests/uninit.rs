//! Calls before `hs_init`: this file's process never initialises the RTS.

use rts_core::ffi::{rts_lock, rts_mkInt};

#[test]
fn rts_lock_before_hs_init_reports_and_returns_null() {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    rts_core::set_exit_hook(Some(|e| SEEN.lock().unwrap().push(e.message.clone())));
    // SAFETY: exercising misuse; the RTS reports instead of dereferencing anything.
    let cap = unsafe { rts_lock() };
    assert!(cap.is_null());
    // SAFETY: as above; the null capability is checked, not used.
    unsafe { rts_mkInt(cap, 1) };
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        "rts_lock: RTS is not initialised; call hs_init() first"
    );
    assert!(
        seen[1].starts_with("rts_mkInt: no call-in is in progress"),
        "{}",
        seen[1]
    );
}
