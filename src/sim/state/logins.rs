//! How many connections are logged in as each device at once, and the
//! most ever seen: WhatsApp lets the newest connection of a device live
//! and tells the older one `replaced`, so two at once mean two clients
//! ran the same session (what a cluster's failover must never do). The
//! count starts at a login and ends when the connection ends, whether or
//! not a newer one replaced it.
//!
//! Owns: those counts. Must not touch: the connections themselves
//! (`live`, `network`).

use std::collections::HashMap;

use serde::Serialize;

use crate::types::DeviceAddress;

#[derive(Default)]
pub(crate) struct Logins {
    /// Connection id -> the device it logged in as (until it ends).
    by_conn: HashMap<u64, DeviceAddress>,
    /// Device -> connections logged in as it now.
    open: HashMap<DeviceAddress, u32>,
    /// The most connections one device ever had at once.
    max: u32,
    /// Logins in all.
    total: u64,
}

/// What the admin API reports of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoginReport {
    /// The most connections logged in as one device at the same time,
    /// ever (1 when no session was ever run twice at once).
    pub max_concurrent_per_device: u32,
    /// Devices with a connection logged in now.
    pub devices_online: usize,
    /// Logins since the simulator started.
    pub logins: u64,
}

impl Logins {
    /// Connection `conn_id` logged in as `device`.
    pub fn logged_in(&mut self, device: &DeviceAddress, conn_id: u64) {
        if let Some(previous) = self.by_conn.insert(conn_id, device.clone()) {
            // The same connection logging in again: it was counted once.
            self.release(&previous);
        }
        let open = self.open.entry(device.clone()).or_default();
        *open += 1;
        self.max = self.max.max(*open);
        self.total += 1;
    }

    /// Connection `conn_id` ended.
    pub fn ended(&mut self, conn_id: u64) {
        if let Some(device) = self.by_conn.remove(&conn_id) {
            self.release(&device);
        }
    }

    fn release(&mut self, device: &DeviceAddress) {
        if let Some(open) = self.open.get_mut(device) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                self.open.remove(device);
            }
        }
    }

    pub fn report(&self) -> LoginReport {
        LoginReport {
            max_concurrent_per_device: self.max,
            devices_online: self.open.len(),
            logins: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_overlapping_connections_of_one_device() {
        let a = DeviceAddress::pn("15550001111", 1).unwrap();
        let b = DeviceAddress::pn("15550002222", 1).unwrap();
        let mut logins = Logins::default();
        logins.logged_in(&a, 1);
        logins.logged_in(&b, 2);
        logins.ended(1);
        logins.logged_in(&a, 3);
        assert_eq!(logins.report().max_concurrent_per_device, 1);
        assert_eq!(logins.report().devices_online, 2);
        // A second connection before the first one ended.
        logins.logged_in(&a, 4);
        assert_eq!(logins.report().max_concurrent_per_device, 2);
        logins.ended(3);
        logins.ended(4);
        logins.ended(2);
        assert_eq!(logins.report().devices_online, 0);
        assert_eq!(logins.report().logins, 4);
    }
}
