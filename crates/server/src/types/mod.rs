//! The value types other than strings, one module each, with the encodings Redis 7.0
//! reports and its rules for converting between them. Nothing here replies or parses
//! arguments: the command families in `commands/` do that.

pub mod entry;
pub mod geohash;
pub mod hash;
pub mod list;
pub mod pack;
pub mod set;
pub mod stream;
pub mod table;
pub mod thin;
pub mod zset;

pub use hash::{HashLimits, HashValue};
pub use list::{End, ListValue};
pub use set::SetValue;
pub use stream::StreamValue;
pub use zset::{ZsetLimits, ZsetValue};

use crate::config::Config;
use crate::keyspace::Typed;

/// A collection whose members go one by one: hash fields, set and sorted-set members.
/// HDEL, SREM and ZREM are one algorithm over it (`commands::remove_members`).
pub trait Members: Typed {
    /// Removes `member`; true if it was there.
    fn remove_member(&mut self, member: &[u8]) -> bool;
}

impl Members for HashValue {
    fn remove_member(&mut self, member: &[u8]) -> bool {
        self.remove(member)
    }
}

impl Members for SetValue {
    fn remove_member(&mut self, member: &[u8]) -> bool {
        self.remove(member)
    }
}

impl Members for ZsetValue {
    fn remove_member(&mut self, member: &[u8]) -> bool {
        self.remove(member)
    }
}

/// The encoding limits, read per command from `Config`'s typed fields (as Redis reads its
/// `server.*` fields), so that CONFIG SET applies at once and no string is parsed per write.
pub fn hash_limits(config: &Config) -> HashLimits {
    HashLimits {
        max_entries: config.hash_max_listpack_entries,
        max_value: config.hash_max_listpack_value,
    }
}

pub fn zset_limits(config: &Config) -> ZsetLimits {
    ZsetLimits {
        max_entries: config.zset_max_listpack_entries,
        max_value: config.zset_max_listpack_value,
    }
}

pub fn set_max_intset_entries(config: &Config) -> usize {
    config.set_max_intset_entries
}

#[cfg(test)]
mod tests {
    use crate::keyspace::Value;

    #[test]
    fn collections_do_not_grow_the_keyspace_entry() {
        // A string needs 32 bytes (an inline `Sds` and its flag); boxed collections fit.
        // (The dict's own test checks its slot.)
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    #[test]
    fn small_encodings_are_not_sized_for_the_large_ones() {
        // The boxed value of every small hash, set and sorted set is allocated at the size
        // of its enum, so the table variants are boxed once more.
        assert!(std::mem::size_of::<super::HashValue>() <= 32);
        assert!(std::mem::size_of::<super::SetValue>() <= 32);
        assert!(std::mem::size_of::<super::ZsetValue>() <= 32);
    }
}
