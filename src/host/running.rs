//! The sessions running now and the admissions in progress, under one
//! lock: a capacity check and its reservation are one step, so concurrent
//! creates cannot all pass the same check.
//! Must not touch: records, files, the sessions themselves (it only holds
//! their handles).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::client::Client;

#[derive(Default)]
pub struct Running {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<String, Client>,
    /// Admissions that passed the capacity check and have no client yet.
    reserved: usize,
}

/// A place under the session limit, held from the capacity check until the
/// session runs ([`Running::admit`]); given back if dropped before.
pub struct Reservation<'a> {
    running: &'a Running,
    held: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.held {
            let mut inner = self.running.lock();
            inner.reserved = inner.reserved.saturating_sub(1);
        }
    }
}

impl Running {
    /// A reservation if live sessions plus reservations are below `max`.
    pub fn reserve(&self, max: usize) -> Option<Reservation<'_>> {
        let mut inner = self.lock();
        if live(&inner.clients) + inner.reserved >= max {
            return None;
        }
        inner.reserved += 1;
        Some(Reservation {
            running: self,
            held: true,
        })
    }

    /// The reserved session runs now: its reservation becomes its client.
    pub fn admit(&self, mut reservation: Reservation<'_>, id: &str, client: Client) {
        let mut inner = self.lock();
        inner.reserved = inner.reserved.saturating_sub(1);
        reservation.held = false;
        inner.clients.insert(id.to_string(), client);
    }

    /// Runs `client` as session `id` without a capacity check (restore,
    /// restart); returns the client it replaced.
    pub fn insert(&self, id: &str, client: Client) -> Option<Client> {
        self.lock().clients.insert(id.to_string(), client)
    }

    pub fn get(&self, id: &str) -> Option<Client> {
        self.lock().clients.get(id).cloned()
    }

    pub fn take(&self, id: &str) -> Option<Client> {
        self.lock().clients.remove(id)
    }

    pub fn drain(&self) -> Vec<Client> {
        self.lock().clients.drain().map(|(_, c)| c).collect()
    }

    /// The ids of the sessions with a live task.
    pub fn live_ids(&self) -> Vec<String> {
        self.lock()
            .clients
            .iter()
            .filter(|(_, c)| !c.status().is_terminal())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Sessions counted against capacity: those with a live task.
    pub fn live(&self) -> usize {
        live(&self.lock().clients)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn live(clients: &HashMap<String, Client>) -> usize {
    clients
        .values()
        .filter(|c| !c.status().is_terminal())
        .count()
}
