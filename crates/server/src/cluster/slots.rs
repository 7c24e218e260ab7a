//! The slot table: which node owns each of the 16384 hash slots, how `redis-cli --cluster
//! create` splits them among primaries, and the runs of consecutive slots that CLUSTER
//! NODES, SLOTS and SHARDS print.
//!
//! Pure data: no I/O, no clock, no locks.

pub use lockstep_commands::slot::{key_slot, SLOTS};

/// Slots as a table length.
pub const SLOT_COUNT: usize = SLOTS as usize;

/// What an unassigned slot holds in `SlotTable`.
const UNASSIGNED: u16 = u16::MAX;

/// The most primaries `split` hands slots to. Redis advises against clusters of more than
/// about a thousand nodes, and past that the float arithmetic of the split (see `split`)
/// could give the last primaries no slot at all.
pub const MAX_PRIMARIES: usize = 1000;

/// The owner of every slot, as an index into the topology's node list.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotTable {
    owners: Box<[u16]>,
}

impl std::fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.runs().map(|r| (r.first, r.last, r.owner)))
            .finish()
    }
}

impl Default for SlotTable {
    fn default() -> SlotTable {
        SlotTable {
            owners: vec![UNASSIGNED; SLOT_COUNT].into_boxed_slice(),
        }
    }
}

/// A run of consecutive slots with the same owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub first: u16,
    pub last: u16,
    /// The owning node's index; `None` for unassigned slots.
    pub owner: Option<usize>,
}

impl SlotTable {
    /// The index of the node that owns `slot`, if one does.
    #[inline]
    pub fn owner(&self, slot: u16) -> Option<usize> {
        match self.owners.get(usize::from(slot)) {
            Some(&UNASSIGNED) | None => None,
            Some(&owner) => Some(usize::from(owner)),
        }
    }

    /// Gives `first..=last` to node `owner` (`None`: unassigns them).
    pub fn assign(&mut self, first: u16, last: u16, owner: Option<usize>) {
        let value = owner.map_or(UNASSIGNED, |o| o.min(usize::from(UNASSIGNED - 1)) as u16);
        let last = usize::from(last).min(SLOT_COUNT - 1);
        for slot in usize::from(first)..=last {
            self.owners[slot] = value;
        }
    }

    /// How many slots have an owner.
    pub fn assigned(&self) -> usize {
        self.owners.iter().filter(|&&o| o != UNASSIGNED).count()
    }

    /// The runs of consecutive slots with one owner (or none), in slot order.
    pub fn runs(&self) -> impl Iterator<Item = Run> + '_ {
        let mut start = 0usize;
        std::iter::from_fn(move || {
            if start >= SLOT_COUNT {
                return None;
            }
            let owner = self.owners[start];
            let len = self.owners[start..]
                .iter()
                .take_while(|&&o| o == owner)
                .count();
            let run = Run {
                first: start as u16,
                last: (start + len - 1) as u16,
                owner: (owner != UNASSIGNED).then_some(usize::from(owner)),
            };
            start += len;
            Some(run)
        })
    }

    /// The (first, last) ranges node `owner` holds, in slot order.
    pub fn ranges_of(&self, owner: usize) -> Vec<(u16, u16)> {
        self.runs()
            .filter(|r| r.owner == Some(owner))
            .map(|r| (r.first, r.last))
            .collect()
    }

    /// How many slots node `owner` holds.
    pub fn count_of(&self, owner: usize) -> usize {
        self.owners
            .iter()
            .filter(|&&o| o != UNASSIGNED && usize::from(o) == owner)
            .count()
    }
}

/// The slot ranges `redis-cli --cluster create` gives `primaries` primaries, in order:
/// each gets `16384 / primaries` slots, rounded as redis-cli rounds them (a running
/// single-precision cursor, `lround` of its end), the last taking what is left. Empty
/// for 0 primaries or more than `MAX_PRIMARIES`.
pub fn split(primaries: usize) -> Vec<(u16, u16)> {
    if primaries == 0 || primaries > MAX_PRIMARIES {
        return Vec::new();
    }
    let total = SLOT_COUNT as i64;
    // redis-cli computes in `float`: the same rounding needs f32 here.
    let per_node = SLOT_COUNT as f32 / primaries as f32;
    let mut cursor = 0.0f32;
    let mut first: i64 = 0;
    let mut ranges = Vec::with_capacity(primaries);
    for i in 0..primaries {
        let end = cursor + per_node - 1.0;
        // `lround`: half away from zero, in double precision.
        let mut last = f64::from(end).round() as i64;
        if last > total || i == primaries - 1 {
            last = total - 1;
        }
        if last < first {
            last = first;
        }
        ranges.push((first as u16, last.min(total - 1) as u16));
        first = last + 1;
        cursor += per_node;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_primaries_split_as_redis_cli_prints_it() {
        assert_eq!(split(3), vec![(0, 5460), (5461, 10922), (10923, 16383)]);
    }

    #[test]
    fn the_splits_redis_cli_makes_for_common_sizes() {
        // As `redis-cli --cluster create` prints "Master[i] -> Slots a - b".
        assert_eq!(split(1), vec![(0, 16383)]);
        assert_eq!(split(2), vec![(0, 8191), (8192, 16383)]);
        assert_eq!(
            split(4),
            vec![(0, 4095), (4096, 8191), (8192, 12287), (12288, 16383)]
        );
        assert_eq!(
            split(5),
            vec![
                (0, 3276),
                (3277, 6553),
                (6554, 9829),
                (9830, 13106),
                (13107, 16383)
            ]
        );
        assert_eq!(
            split(6),
            vec![
                (0, 2730),
                (2731, 5460),
                (5461, 8191),
                (8192, 10922),
                (10923, 13652),
                (13653, 16383)
            ]
        );
    }

    #[test]
    fn every_split_covers_each_slot_exactly_once_in_order() {
        for n in 1..=MAX_PRIMARIES {
            let ranges = split(n);
            assert_eq!(ranges.len(), n, "{n} primaries");
            let mut next = 0u32;
            for (first, last) in ranges {
                assert_eq!(u32::from(first), next, "{n} primaries");
                assert!(last >= first, "{n} primaries");
                next = u32::from(last) + 1;
            }
            assert_eq!(next, u32::from(SLOTS), "{n} primaries");
        }
    }

    #[test]
    fn no_primaries_or_too_many_get_no_split() {
        assert!(split(0).is_empty());
        assert!(split(MAX_PRIMARIES + 1).is_empty());
    }

    #[test]
    fn runs_group_consecutive_slots_of_one_owner() {
        let mut table = SlotTable::default();
        table.assign(0, 99, Some(0));
        table.assign(100, 100, Some(1));
        table.assign(101, 16383, Some(0));
        table.assign(200, 299, None);
        let runs: Vec<Run> = table.runs().collect();
        assert_eq!(
            runs,
            vec![
                Run {
                    first: 0,
                    last: 99,
                    owner: Some(0)
                },
                Run {
                    first: 100,
                    last: 100,
                    owner: Some(1)
                },
                Run {
                    first: 101,
                    last: 199,
                    owner: Some(0)
                },
                Run {
                    first: 200,
                    last: 299,
                    owner: None
                },
                Run {
                    first: 300,
                    last: 16383,
                    owner: Some(0)
                },
            ]
        );
        assert_eq!(table.assigned(), 16384 - 100);
        assert_eq!(table.ranges_of(1), vec![(100, 100)]);
        assert_eq!(table.count_of(0), 16384 - 101);
        assert_eq!(table.owner(250), None);
        assert_eq!(table.owner(100), Some(1));
    }
}
