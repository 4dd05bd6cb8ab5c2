//! Nursery exhaustion: what `rts_lock` does when the capability it took has little room left.
//!
//! Port of the call-in side of `scheduleDoGC` (`rts/Schedule.c`): `GcPolicy::StopTheWorld` is
//! GHC's collection (`requestSync`, stop every other capability, collect all nurseries, tidy the
//! thread list, release; a task that finds a collection in progress yields its capability to it,
//! `yieldCapability`); `GcPolicy::PerCapability` resets this capability's nursery alone, which
//! Note [nursery reuse never clobbers a live call] (nursery.rs) makes safe. Ownership: a
//! collection runs on the thread that holds the exhausted capability; a stop-the-world one also
//! holds every other enabled capability, and `pending_sync` makes it the only one.

use crate::capability::CapabilityGuard;
use crate::nursery::{HEADROOM_WORDS, Reclaim};
use crate::policy::GcPolicy;
use crate::rts::Rts;

impl Rts {
    /// Called right after a call acquired `g` and before it allocates: reclaim the nursery if
    /// it is nearly full, per the GC policy. Gives back the guard (a stop-the-world collection
    /// may have given the capability up meanwhile and taken it again) and whether the call may
    /// allocate: false if the instance has shut down (the nursery is gone; the call must end
    /// `Interrupted` without allocating).
    #[inline]
    pub(crate) fn prepare_nursery<'a>(
        &self,
        mut g: CapabilityGuard<'a>,
    ) -> (CapabilityGuard<'a>, bool) {
        if self.is_exited() {
            return (g, false);
        }
        match &g.owned().nursery {
            Some(n) if n.remaining_words() >= HEADROOM_WORDS => (g, true),
            Some(_) => {
                let mut g = self.collect_cold(g);
                let ready = !self.is_exited() && g.owned().nursery.is_some();
                (g, ready)
            }
            None => (g, false),
        }
    }

    #[cold]
    fn collect_cold<'a>(&self, mut g: CapabilityGuard<'a>) -> CapabilityGuard<'a> {
        match self.config().policy.gc {
            GcPolicy::PerCapability => {
                if g.nursery().on_acquire() != Reclaim::None {
                    g.cap().stats.nursery_resets(1);
                }
                self.prune_finished(&mut g);
                g
            }
            GcPolicy::StopTheWorld => self.stop_the_world_gc(g),
        }
    }

    /// Port of `scheduleDoGC` for a nursery-exhausted call-in: `requestSync`, stop every other
    /// capability, collect all nurseries, walk the global thread list, release.
    fn stop_the_world_gc<'a>(&self, mut g: CapabilityGuard<'a>) -> CapabilityGuard<'a> {
        let Some(_sync) = self.pending_sync.try_lock() else {
            // Another task is collecting and may be waiting for our capability: GHC yields it
            // (`requestSync` fails → `yieldCapability`). Our call has allocated nothing yet, so
            // let the other collection take our nursery too, then carry on.
            return self.yield_to_sync(g);
        };
        let me = g.cap().no;
        let n = self.n_capabilities();
        let mut others: Vec<CapabilityGuard<'_>> = (0..n)
            .filter(|&i| i != me)
            .map(|i| self.acquire_specific(self.cap(i)))
            .collect();
        let mut reclaimed = u64::from(g.nursery().reclaim_now() != Reclaim::None);
        for og in &mut others {
            reclaimed += u64::from(og.nursery().reclaim_now() != Reclaim::None);
        }
        // `tidyThreadList`: drop the finished threads, walk the live ones.
        let walked = self.tidy_thread_list(&mut g, &mut others);
        g.cap().stats.stw_gcs(1);
        g.cap().stats.nursery_resets(reclaimed);
        g.cap().stats.lock_acquisitions(2);
        std::hint::black_box(walked);
        for og in others {
            self.release(og);
        }
        g
    }

    /// Give our capability to a collection in progress and take it back when it is done.
    fn yield_to_sync<'a>(&self, g: CapabilityGuard<'a>) -> CapabilityGuard<'a> {
        let c = g.cap();
        let me = c.holder_hint();
        self.release(g);
        drop(self.pending_sync.lock());
        let mut g = self.acquire_specific(c);
        // Others may have held it meanwhile: record the holder again.
        g.set_running_task(me);
        match &g.owned().nursery {
            Some(n) if n.remaining_words() < HEADROOM_WORDS => self.collect_cold(g),
            _ => g,
        }
    }
}
