//! What every task of a server shares: the state under its one lock, and the counter that
//! numbers clients. Connections, the accept loops and the active expiry cycle hold it.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::state::State;

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    next_client_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
            next_client_id: AtomicU64::new(1),
        }
    }

    /// A new client's id (CLIENT ID), never reused.
    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }
}
