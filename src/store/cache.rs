//! Hot conversations kept in memory, at most a fixed number (least recently used go first),
//! so a busy conversation is not re-read every turn and memory does not grow with the number
//! of conversations ever seen.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    capacity: usize,
    entries: HashMap<K, (V, u64)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, K>,
    tick: u64,
}

impl<K: Clone + Eq + Hash, V> Lru<K, V> {
    /// A capacity of 0 keeps nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Takes the entry out; whoever took it puts it back when done with it.
    pub(crate) fn take(&mut self, key: &K) -> Option<V> {
        let (value, tick) = self.entries.remove(key)?;
        self.order.remove(&tick);
        Some(value)
    }

    pub(crate) fn put(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        self.take(&key);
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (value, self.tick));
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn least_recently_used_go_first() {
        let mut lru = Lru::new(2);
        lru.put("a", 1);
        lru.put("b", 2);
        let a = lru.take(&"a").unwrap();
        lru.put("a", a);
        lru.put("c", 3);
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.take(&"b"), None, "b was used least recently");
        assert_eq!(lru.take(&"a"), Some(1));
        assert_eq!(lru.take(&"c"), Some(3));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut lru = Lru::new(0);
        lru.put("a", 1);
        assert_eq!(lru.len(), 0);
    }
}
