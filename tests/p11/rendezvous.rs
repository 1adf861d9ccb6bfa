//! A rendezvous for signature hooks (`VirtualCard::set_signature_hook`): each card
//! waits inside its signature until every card is inside one. Cards driven one at a
//! time never all meet; the rendezvous then gives up (no deadlock) and the test fails.

use parking_lot::{Condvar, Mutex};
use std::time::Duration;

/// Far longer than any signature: reaching it means the cards never met.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(20);

/// All `parties` must arrive before any leaves; once one gives up waiting, the
/// rendezvous is broken and nobody waits any more.
pub struct Rendezvous {
    parties: usize,
    state: Mutex<Round>,
    all_here: Condvar,
}

#[derive(Default)]
struct Round {
    arrived: usize,
    completed: usize,
    broken: bool,
}

impl Rendezvous {
    pub fn new(parties: usize) -> Rendezvous {
        Rendezvous {
            parties,
            state: Mutex::new(Round::default()),
            all_here: Condvar::new(),
        }
    }

    pub fn meet(&self) {
        let mut round = self.state.lock();
        if round.broken {
            return;
        }
        let this_round = round.completed;
        round.arrived += 1;
        if round.arrived == self.parties {
            round.arrived = 0;
            round.completed += 1;
            self.all_here.notify_all();
            return;
        }
        while round.completed == this_round && !round.broken {
            if self
                .all_here
                .wait_for(&mut round, GIVE_UP_AFTER)
                .timed_out()
            {
                round.broken = true;
                self.all_here.notify_all();
            }
        }
    }

    /// Every one of `rounds` rounds had all parties inside a signature at once.
    pub fn assert_met(&self, rounds: usize) {
        let round = self.state.lock();
        assert!(
            !round.broken,
            "a card waited {GIVE_UP_AFTER:?} in its signature while the others did not \
             sign: the {} cards are not driven at the same time",
            self.parties
        );
        assert_eq!(
            round.completed, rounds,
            "rounds in which all {} cards were inside a signature at the same moment",
            self.parties
        );
    }
}
