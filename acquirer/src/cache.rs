//! A small in-process cache for rows every authorization reads but that
//! change rarely (terminals, merchant terms). Reading them from the store on
//! each request cost a round trip apiece; here they are kept for a short
//! time and dropped at once when this process changes them.
//!
//! The time limit is what bounds staleness when something else changes the
//! database (another acquirer process on the same PostgreSQL, an operator
//! with `psql`): a block or an acknowledged change made elsewhere takes
//! effect here within [`TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an entry is trusted without asking the store again.
pub const TTL: Duration = Duration::from_secs(2);

/// Entries kept at most; past that the cache starts over, which is simpler
/// than an eviction order and costs one round trip per key.
const CAPACITY: usize = 100_000;

pub struct Cache<V> {
    entries: Mutex<Map<V>>,
    ttl: Duration,
}

struct Map<V> {
    map: HashMap<String, (Instant, Arc<V>)>,
    /// Bumped by every removal. A reader notes it before going to the store
    /// and may cache what it read only if it has not moved since: otherwise
    /// a read that raced a block or a change could put the old row back
    /// after its removal.
    generation: u64,
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Cache {
            entries: Mutex::new(Map {
                map: HashMap::new(),
                generation: 0,
            }),
            ttl: TTL,
        }
    }
}

impl<V> std::fmt::Debug for Cache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache(..)")
    }
}

impl<V> Cache<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Map<V>> {
        // A poisoned lock only means another request panicked while holding
        // it; every change to the map is a single call, so it is whole.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key` if it is fresh, else the generation to pass to
    /// [`Cache::put`] with what the caller then reads from the store.
    pub fn get(&self, key: &str) -> Result<Arc<V>, u64> {
        let m = self.lock();
        m.map
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
            .ok_or(m.generation)
    }

    /// Caches `value` unless something was removed since `generation`.
    pub fn put(&self, key: &str, value: Arc<V>, generation: u64) {
        let mut m = self.lock();
        if m.generation != generation {
            return;
        }
        if m.map.len() >= CAPACITY {
            m.map.clear();
        }
        m.map.insert(key.to_string(), (Instant::now(), value));
    }

    pub fn remove(&self, key: &str) {
        let mut m = self.lock();
        m.generation = m.generation.wrapping_add(1);
        m.map.remove(key);
    }

    /// Drops every entry for which `stale` holds.
    pub fn remove_where(&self, stale: impl Fn(&V) -> bool) {
        let mut m = self.lock();
        m.generation = m.generation.wrapping_add(1);
        m.map.retain(|_, (_, v)| !stale(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_entries_are_returned_and_removed_ones_are_not() {
        let c: Cache<u32> = Cache::default();
        let g = c.get("a").err();
        assert_eq!(g, Some(0));
        c.put("a", Arc::new(1), 0);
        c.put("b", Arc::new(2), 0);
        assert_eq!(c.get("a").ok().as_deref(), Some(&1));
        c.remove("a");
        assert!(c.get("a").is_err());
        assert_eq!(c.get("b").ok().as_deref(), Some(&2));
        c.remove_where(|v| *v == 2);
        assert!(c.get("b").is_err());
    }

    #[test]
    fn a_read_that_raced_a_removal_is_not_cached() {
        let c: Cache<u32> = Cache::default();
        let Err(g) = c.get("t") else {
            panic!("empty cache returned an entry")
        };
        // The row is blocked and dropped while our read was in flight.
        c.remove("t");
        c.put("t", Arc::new(1), g);
        assert!(c.get("t").is_err());
        let Err(g) = c.get("t") else {
            panic!("entry was cached")
        };
        c.put("t", Arc::new(2), g);
        assert_eq!(c.get("t").ok().as_deref(), Some(&2));
    }

    #[test]
    fn expired_entries_are_not_returned() {
        let c: Cache<u32> = Cache {
            ttl: Duration::ZERO,
            ..Cache::default()
        };
        c.put("a", Arc::new(1), 0);
        assert!(c.get("a").is_err());
    }
}
