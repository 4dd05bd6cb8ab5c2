//! A thread's Task leaves the registry when the thread exits (the TLS destructor frees it).
//! Alone in its own test binary: with other tests running in the same process, a new Task
//! could be allocated at the freed address and look like the old one still registered.

use std::ptr::NonNull;

use rts_core::scaffolding::{Task, get_my_task, registry};

#[test]
fn thread_exit_frees_the_task() {
    let before = registry().live();
    let addr = std::thread::spawn(|| {
        let t = get_my_task().expect("a Task for this thread");
        assert!(registry().contains(t), "a new Task is registered");
        t.as_ptr() as usize
    })
    .join()
    .expect("the thread ran");
    let t = NonNull::new(addr as *mut Task).expect("non-null Task address");
    assert!(
        !registry().contains(t),
        "the TLS destructor unregistered the task"
    );
    assert_eq!(
        registry().live(),
        before,
        "the live count is back where it was"
    );
}
