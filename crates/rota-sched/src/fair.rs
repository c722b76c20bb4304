//! Whose turn it is: the queue below its guaranteed minimum first, then the one with the
//! smallest weighted dominant share (DRF over every resource; with weight 1 and one resource
//! this is Cosmos' "least used queue first"), then by name. Inside a queue: priority, then
//! schedule time, then submission order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::round::Round;
use crate::state::Placing;

/// The queues' runs in order, and the heap of turns.
pub(crate) struct Turns {
    /// Per queue: queued run indices in the order they are served.
    runs: Vec<Vec<u32>>,
    next: Vec<usize>,
    heap: BinaryHeap<Reverse<(bool, u64, u32)>>,
}

impl Turns {
    pub(crate) fn new(round: &Round<'_>, state: &Placing) -> Self {
        let mut runs = vec![Vec::new(); round.queues.names.len()];
        for (ix, request) in round.queued_request.iter().enumerate() {
            let app = round.requests[*request as usize];
            let q = round.apps.queue[round.apps.get(&app.app).expect("interned") as usize];
            runs[q as usize].push(ix as u32);
        }
        let queued = &round.snapshot.queued;
        for list in &mut runs {
            list.sort_by_key(|ix| {
                let run = &queued[*ix as usize];
                (run.priority, run.schedule_time, run.id)
            });
        }
        let mut turns = Turns {
            next: vec![0; runs.len()],
            runs,
            heap: BinaryHeap::new(),
        };
        for q in 0..turns.runs.len() as u32 {
            turns.push(round, state, q);
        }
        turns
    }

    /// Queue `q` goes back in line with its current usage, if it has runs left.
    pub(crate) fn push(&mut self, round: &Round<'_>, state: &Placing, q: u32) {
        if self.next[q as usize] < self.runs[q as usize].len() {
            let usage = state.usage(q);
            let key = (
                !round.below_guarantee(q, usage),
                round.share(q, usage).to_bits(),
                q,
            );
            self.heap.push(Reverse(key));
        }
    }

    /// The next run to examine, and its queue.
    pub(crate) fn next(&mut self) -> Option<(u32, u32)> {
        let Reverse((_, _, q)) = self.heap.pop()?;
        let at = &mut self.next[q as usize];
        let run = self.runs[q as usize][*at];
        *at += 1;
        Some((run, q))
    }
}
