//! The sorted set value: members with a score, ordered by score then by member bytes, in
//! Redis 7.0's two encodings.
//!
//! `listpack`: a `Pack` of member, score, member, score... in order, while there are at
//! most `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes.
//! Scores are packed small: an integral score below 2^55 takes its two's complement bytes
//! (none for 0), any other score the 8 bytes of its IEEE bits. -0 packs as 0, as it does
//! in Redis's listpack.
//! `skiplist`: a member → score table beside Redis's skip list of (score, member), whose
//! links count the entries they jump over, so that rank, the member at a rank and the
//! bounds of a score range take O(log n); for good once converted, as in Redis.
//!
//! Scores are never NaN: the commands refuse NaN before it gets here. -0 and 0 compare
//! equal, as C's `<` and `==` do, and the member decides their order.

use std::cmp::Ordering;

use super::hash::scan_positions;
use super::pack::Pack;
use crate::keyspace::Sds;

/// The conversion thresholds, read from the configuration by the caller.
#[derive(Clone, Copy, Debug)]
pub struct ZsetLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

/// ZADD's conditions (ZINCRBY is ZADD INCR).
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    pub incr: bool,
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// What `ZsetValue::add` did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Added {
    /// A new member, with this score.
    Added(f64),
    /// An existing member whose score changed to this.
    Updated(f64),
    /// An existing member left with the score it had, which equals this one.
    Same(f64),
    /// Nothing done: NX on an existing member, XX on a missing one, or GT/LT refused it.
    Nop,
    /// INCR made the score NaN (`inf` + `-inf`).
    Nan,
}

/// Redis's order: by score (C comparisons, so -0 == 0), then by member bytes (`sdscmp`).
pub fn cmp_entry(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a_member.cmp(b_member))
}

/// The `skiplist` encoding: the skip list's nodes are also the member table's entries
/// (`ranked::Ranked`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Skiplist {
    order: ranked::Ranked,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ZsetValue {
    Listpack(Pack),
    Skiplist(Box<Skiplist>),
}

/// Largest magnitude of an integral score packed as an integer (7 bytes, signed).
const PACKED_INT_LIMIT: f64 = (1u64 << 55) as f64;

fn encode_score(score: f64, out: &mut [u8; 8]) -> usize {
    // -0 packs as the integer 0: Redis 7.0's listpack writes scores with `d2string`, which
    // prints -0 as "0", so a packed zset forgets the sign of zero (a skiplist keeps it).
    if score.fract() == 0.0 && score.abs() < PACKED_INT_LIMIT {
        let n = score as i64;
        let bytes = n.to_le_bytes();
        let mut len = 0;
        while len < 7 {
            // The shortest prefix whose sign extension gives back n.
            let shift = 64 - 8 * len as u32;
            let back = if len == 0 { 0 } else { (n << shift) >> shift };
            if back == n {
                break;
            }
            len += 1;
        }
        out[..len].copy_from_slice(&bytes[..len]);
        len
    } else {
        out.copy_from_slice(&score.to_bits().to_le_bytes());
        8
    }
}

fn decode_score(entry: &[u8]) -> f64 {
    if entry.len() == 8 {
        let mut bits = [0u8; 8];
        bits.copy_from_slice(entry);
        return f64::from_bits(u64::from_le_bytes(bits));
    }
    if entry.is_empty() {
        return 0.0;
    }
    let mut bytes = [0u8; 8];
    bytes[..entry.len()].copy_from_slice(entry);
    let shift = 64 - 8 * entry.len() as u32;
    ((i64::from_le_bytes(bytes) << shift) >> shift) as f64
}

/// Iterates a packed zset: (member, score, byte offset of the member).
fn pack_pairs(p: &Pack) -> impl Iterator<Item = (&[u8], f64, usize)> {
    let mut it = p.iter();
    std::iter::from_fn(move || {
        let (at, member) = it.next()?;
        let (_, score) = it.next()?;
        Some((member, decode_score(score), at))
    })
}

impl ZsetValue {
    /// The sorted set ZADD creates for a new key, as Redis 7.0 decides it from the first
    /// member alone: a skiplist when listpacks are disabled or that member is too long.
    pub fn for_first_member(member: &[u8], limits: ZsetLimits) -> ZsetValue {
        if limits.max_entries == 0 || member.len() > limits.max_value {
            ZsetValue::Skiplist(Box::default())
        } else {
            ZsetValue::Listpack(Pack::new())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZsetValue::Listpack(p) => p.len() / 2,
            ZsetValue::Skiplist(s) => s.order.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZsetValue::Listpack(_) => "listpack",
            ZsetValue::Skiplist(_) => "skiplist",
        }
    }

    /// Estimated bytes this sorted set takes (MEMORY USAGE): a skiplist holds each member
    /// twice, in its table and in its tree (whose nodes hold up to 11 entries).
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                ZsetValue::Listpack(p) => p.capacity(),
                ZsetValue::Skiplist(s) => s.order.memory_usage(),
            }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZsetValue::Listpack(p) => pack_pairs(p).find(|(m, _, _)| *m == member).map(|e| e.1),
            ZsetValue::Skiplist(s) => s.order.score(member),
        }
    }

    /// Redis's `zsetAdd`: adds or updates `member` under the ZADD conditions, converting a
    /// listpack that would grow past the limits. `score` is never NaN.
    pub fn add(&mut self, score: f64, member: &[u8], flags: AddFlags, limits: ZsetLimits) -> Added {
        match self.score(member) {
            Some(current) => {
                if flags.nx {
                    return Added::Nop;
                }
                let mut score = score;
                if flags.incr {
                    score += current;
                    if score.is_nan() {
                        return Added::Nan;
                    }
                }
                if (flags.lt && score >= current) || (flags.gt && score <= current) {
                    return Added::Nop;
                }
                // C's `!=`: -0 and 0 are the same score, and the old one stays.
                if score != current {
                    match self {
                        // Redis's zslUpdateScore: the node moves (or stays) as it is.
                        ZsetValue::Skiplist(s) => s.order.update(member, score),
                        ZsetValue::Listpack(_) => {
                            self.remove(member);
                            self.insert(score, member);
                        }
                    }
                    Added::Updated(score)
                } else {
                    Added::Same(score)
                }
            }
            None if flags.xx => Added::Nop,
            None => {
                if let ZsetValue::Listpack(p) = self {
                    if p.len() / 2 + 1 > limits.max_entries || member.len() > limits.max_value {
                        self.convert();
                    }
                }
                self.insert(score, member);
                Added::Added(score)
            }
        }
    }

    /// Inserts a member known to be absent, in order.
    fn insert(&mut self, score: f64, member: &[u8]) {
        match self {
            ZsetValue::Listpack(p) => {
                let at = pack_pairs(p)
                    .find(|(m, s, _)| cmp_entry(*s, m, score, member) == Ordering::Greater)
                    .map_or(p.end(), |e| e.2);
                let mut buf = [0u8; 8];
                let len = encode_score(score, &mut buf);
                p.insert_at(at, member);
                let (_, score_at) = p.entry_at(at);
                p.insert_at(score_at, &buf[..len]);
            }
            ZsetValue::Skiplist(s) => s.order.insert(score, member),
        }
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZsetValue::Listpack(p) => {
                let found = pack_pairs(p).find(|(m, _, _)| *m == member).map(|e| e.2);
                match found {
                    Some(at) => {
                        p.remove_at(at, 2);
                        true
                    }
                    None => false,
                }
            }
            ZsetValue::Skiplist(s) => s.order.remove(member).is_some(),
        }
    }

    /// Members with their scores in order (`rev`: from the highest).
    pub fn iter(&self, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match (self, rev) {
            (ZsetValue::Listpack(p), false) => Box::new(pack_pairs(p).map(|(m, s, _)| (m, s))),
            (ZsetValue::Listpack(p), true) => {
                let all: Vec<(&[u8], f64)> = pack_pairs(p).map(|(m, s, _)| (m, s)).collect();
                Box::new(all.into_iter().rev())
            }
            (ZsetValue::Skiplist(s), rev) => Box::new(s.order.iter_from(0, rev)),
        }
    }

    /// The 0-based rank of `member` (`rev`: counted from the highest).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let score = self.score(member)?;
        let below = match self {
            ZsetValue::Listpack(p) => pack_pairs(p).position(|(m, _, _)| m == member)?,
            ZsetValue::Skiplist(s) => s.order.rank(score, member)?,
        };
        Some(if rev { self.len() - 1 - below } else { below })
    }

    /// Removes and returns the lowest (or with `max`, the highest) member.
    pub fn pop(&mut self, max: bool) -> Option<(Sds, f64)> {
        let (member, score) = {
            let (m, s) = self.iter(max).next()?;
            (Sds::from_slice(m), s)
        };
        self.remove(&member);
        Some((member, score))
    }

    /// The member at 0-based `rank` (`rev`: counted from the highest).
    pub fn at_rank(&self, rank: usize, rev: bool) -> Option<(&[u8], f64)> {
        self.iter_from(rank, rev).next()
    }

    /// Members with their scores in order from 0-based `rank` on (`rev`: counted from the
    /// highest, going down).
    pub fn iter_from(&self, rank: usize, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZsetValue::Listpack(_) => Box::new(self.iter(rev).skip(rank)),
            ZsetValue::Skiplist(s) => Box::new(s.order.iter_from(rank, rev)),
        }
    }

    /// How many members, from the lowest, satisfy `pred`, which must hold for a first run
    /// of the members and for none after it (a bound of a score range, or of a lex range
    /// over members of one score).
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZsetValue::Listpack(_) => self.iter(false).take_while(|(m, s)| pred(*s, m)).count(),
            ZsetValue::Skiplist(s) => s.order.partition_point(pred),
        }
    }

    /// The ranks `lo..hi` of the members whose score is in `range` (empty when none is).
    pub fn score_ranks(&self, range: &ScoreRange) -> std::ops::Range<usize> {
        let lo = self.partition_point(|s, _| !range.gte_min(s));
        let hi = self.partition_point(|s, _| range.lte_max(s));
        lo..hi.max(lo)
    }

    /// The ranks `lo..hi` of the members in the lex range, as Redis finds them: nothing when
    /// the range is empty or lies wholly past either end, else from the first member that
    /// reaches the minimum through those that stay under the maximum. Where members share a
    /// score, that is every member in the range.
    pub fn lex_ranks(&self, range: &LexRange) -> std::ops::Range<usize> {
        let (Some(first), Some(last)) = (self.at_rank(0, false), self.at_rank(0, true)) else {
            return 0..0;
        };
        if range.is_empty() || !range.gte_min(last.0) || !range.lte_max(first.0) {
            return 0..0;
        }
        match self {
            ZsetValue::Listpack(_) => {
                let mut it = self.iter(false).enumerate();
                let Some((lo, _)) = it.find(|(_, (m, _))| range.gte_min(m)) else {
                    return 0..0;
                };
                let run = self
                    .iter_from(lo, false)
                    .take_while(|(m, _)| range.lte_max(m))
                    .count();
                lo..lo + run
            }
            ZsetValue::Skiplist(_) => {
                let lo = self.partition_point(|_, m| !range.gte_min(m));
                let hi = self.partition_point(|_, m| range.lte_max(m));
                lo..hi.max(lo)
            }
        }
    }

    /// Removes the members of 0-based ranks `ranks` (from the lowest); how many went.
    pub fn remove_ranks(&mut self, ranks: std::ops::Range<usize>) -> usize {
        let ranks = ranks.start.min(self.len())..ranks.end.min(self.len());
        if ranks.is_empty() {
            return 0;
        }
        let n = ranks.len();
        match self {
            ZsetValue::Listpack(p) => {
                let at = pack_pairs(p).nth(ranks.start).map(|e| e.2);
                if let Some(at) = at {
                    p.remove_at(at, 2 * n);
                }
            }
            ZsetValue::Skiplist(_) => {
                let doomed: Vec<Sds> = self
                    .iter_from(ranks.start, false)
                    .take(n)
                    .map(|(m, _)| Sds::from_slice(m))
                    .collect();
                for member in doomed {
                    self.remove(&member);
                }
            }
        }
        n
    }

    /// A sorted set holding `entries` (sorted, distinct members), encoded as Redis 7.0
    /// encodes the result of ZUNIONSTORE and friends: a listpack when it fits the limits.
    pub fn from_sorted(entries: Vec<(Sds, f64)>, limits: ZsetLimits) -> ZsetValue {
        let fits = entries.len() <= limits.max_entries
            && entries.iter().all(|(m, _)| m.len() <= limits.max_value);
        if fits {
            let mut p = Pack::new();
            let mut buf = [0u8; 8];
            for (member, score) in &entries {
                p.push(member);
                let len = encode_score(*score, &mut buf);
                p.push(&buf[..len]);
            }
            ZsetValue::Listpack(p)
        } else {
            let mut s = Skiplist::default();
            for (member, score) in entries {
                s.order.insert(score, &member);
            }
            ZsetValue::Skiplist(Box::new(s))
        }
    }

    /// An empty sorted set in the encoding Redis 7.0 starts ZRANGESTORE's result with: a
    /// skiplist only when the result is known to be longer than a listpack may be.
    pub fn for_length(len: Option<usize>, limits: ZsetLimits) -> ZsetValue {
        match len {
            Some(n) if n > limits.max_entries => ZsetValue::Skiplist(Box::default()),
            _ => ZsetValue::Listpack(Pack::new()),
        }
    }

    /// A member picked uniformly at random, with its score; `None` when empty.
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        self.at_position(rng.gen_range(0..len))
    }

    /// The member at `position` of the value's own layout: by rank in a listpack, by slot
    /// in a skiplist's table (O(1) there, for random picks).
    pub fn at_position(&self, position: usize) -> Option<(&[u8], f64)> {
        match self {
            ZsetValue::Listpack(p) => pack_pairs(p).nth(position).map(|(m, s, _)| (m, s)),
            ZsetValue::Skiplist(s) => s.order.at_position(position),
        }
    }

    /// One ZSCAN call from `cursor`: a listpack gives every member and cursor 0 (as Redis
    /// does for its small encodings); a skiplist gives up to `count` members of its table
    /// by position and the cursor to go on from, 0 once it is done (`scan_positions`).
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'a [u8], f64),
    ) -> u64 {
        match self {
            ZsetValue::Listpack(p) => {
                pack_pairs(p).for_each(|(m, s, _)| visit(m, s));
                0
            }
            ZsetValue::Skiplist(s) => {
                let (positions, next) = scan_positions(s.order.len(), cursor, count);
                for i in positions {
                    if let Some((m, score)) = s.order.at_position(i) {
                        visit(m, score);
                    }
                }
                next
            }
        }
    }

    fn convert(&mut self) {
        if let ZsetValue::Listpack(p) = self {
            let mut s = Skiplist::default();
            for (m, score, _) in pack_pairs(p) {
                s.order.insert(score, m);
            }
            *self = ZsetValue::Skiplist(Box::new(s));
        }
    }
}

/// A score range (ZRANGEBYSCORE, ZCOUNT, ZREMRANGEBYSCORE): each end inclusive unless
/// marked exclusive with `(`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub min_ex: bool,
    pub max: f64,
    pub max_ex: bool,
}

impl ScoreRange {
    /// Redis's `zslParseRange`: both ends, `None` when either is not a float.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, min_ex) = parse_score_bound(min)?;
        let (max, max_ex) = parse_score_bound(max)?;
        Some(ScoreRange {
            min,
            min_ex,
            max,
            max_ex,
        })
    }

    pub fn gte_min(&self, score: f64) -> bool {
        if self.min_ex {
            score > self.min
        } else {
            score >= self.min
        }
    }

    pub fn lte_max(&self, score: f64) -> bool {
        if self.max_ex {
            score < self.max
        } else {
            score <= self.max
        }
    }

    pub fn contains(&self, score: f64) -> bool {
        self.gte_min(score) && self.lte_max(score)
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lex<'a> {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    Value(&'a [u8]),
}

/// Redis's `sdscmplex`: the sentinels sort outside every string and equal themselves.
fn cmp_lex(a: Lex, b: Lex) -> Ordering {
    match (a, b) {
        (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Ordering::Equal,
        (Lex::Min, _) | (_, Lex::Max) => Ordering::Less,
        (Lex::Max, _) | (_, Lex::Min) => Ordering::Greater,
        (Lex::Value(a), Lex::Value(b)) => a.cmp(b),
    }
}

/// Redis's `zslParseLexRangeItem`: `-`, `+`, `(value` (exclusive) or `[value`. C reads
/// `-` and `+` as strings, so anything after a NUL is not seen.
fn parse_lex(s: &[u8]) -> Option<(Lex<'_>, bool)> {
    let alone = s.get(1).is_none_or(|&b| b == 0);
    match s.first()? {
        b'+' if alone => Some((Lex::Max, true)),
        b'-' if alone => Some((Lex::Min, true)),
        b'(' => Some((Lex::Value(&s[1..]), true)),
        b'[' => Some((Lex::Value(&s[1..]), false)),
        _ => None,
    }
}

/// A lexicographic range (ZRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX). It means something only
/// where members share one score; elsewhere the commands answer as Redis's walk over the
/// members in score order does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: Lex<'a>,
    pub min_ex: bool,
    pub max: Lex<'a>,
    pub max_ex: bool,
}

impl<'a> LexRange<'a> {
    /// Redis's `zslParseLexRange`: both ends, `None` when either is not a range item.
    pub fn parse(min: &'a [u8], max: &'a [u8]) -> Option<LexRange<'a>> {
        let (min, min_ex) = parse_lex(min)?;
        let (max, max_ex) = parse_lex(max)?;
        Some(LexRange {
            min,
            min_ex,
            max,
            max_ex,
        })
    }

    pub fn gte_min(&self, member: &[u8]) -> bool {
        let c = cmp_lex(Lex::Value(member), self.min);
        if self.min_ex {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }

    pub fn lte_max(&self, member: &[u8]) -> bool {
        let c = cmp_lex(Lex::Value(member), self.max);
        if self.max_ex {
            c.is_lt()
        } else {
            c.is_le()
        }
    }

    /// Ranges that can never hold anything (`zslIsInLexRange`'s first test).
    pub fn is_empty(&self) -> bool {
        let c = cmp_lex(self.min, self.max);
        c.is_gt() || (c.is_eq() && (self.min_ex || self.max_ex))
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// glibc's `strtod`: the value of the longest prefix of `s` that is a number, how many
/// bytes it took (0 when none: no conversion), and whether it over- or underflowed
/// (ERANGE). Leading white space, hex floats, `inf`, `infinity` and `nan(...)` included.
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return (sign(f64::INFINITY), i + 8, false);
    }
    if starts(b"inf") {
        return (sign(f64::INFINITY), i + 3, false);
    }
    if starts(b"nan") {
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let mut j = end + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                end = j + 1;
            }
        }
        return (f64::NAN, end, false);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, used, erange)) = strtod_hex(&rest[2..]) {
            return (sign(v), i + 2 + used, erange);
        }
        // "0x" with no hex digit after it: only the "0" converts.
        return (sign(0.0), i + 1, false);
    }
    let start = i;
    let mut j = i;
    let mut digits = 0;
    let mut nonzero = false;
    while j < s.len() && s[j].is_ascii_digit() {
        nonzero |= s[j] != b'0';
        digits += 1;
        j += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            digits += 1;
            j += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    if j < s.len() && (s[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[start..j]).unwrap_or("0");
    // Rust's parser reads the same grammar, correctly rounded as glibc is; only a
    // mantissa like "5." needs its dot dropped first.
    let v: f64 = text.parse().unwrap_or_else(|_| {
        let fixed = text.replacen(".e", "e", 1).replacen(".E", "E", 1);
        let fixed = fixed.strip_suffix('.').unwrap_or(&fixed).to_string();
        fixed.parse().unwrap_or(0.0)
    });
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    (sign(v), j, erange)
}

/// A hex float after its "0x": (value, bytes used, ERANGE), `None` with no hex digit.
fn strtod_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut sticky = false;
    let mut nonzero = false;
    let mut i = 0;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        digits += 1;
        nonzero |= d != 0;
        if mant >> 56 == 0 {
            mant = mant << 4 | d as u64;
            if seen_dot {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_dot {
                exp += 4;
            }
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        let mut k = i + 1;
        let mut eneg = false;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            eneg = s[k] == b'-';
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            let mut e: i64 = 0;
            while k < s.len() && s[k].is_ascii_digit() {
                e = (e * 10 + (s[k] - b'0') as i64).min(1 << 20);
                k += 1;
            }
            exp += if eneg { -e } else { e };
            i = k;
        }
    }
    if sticky {
        mant |= 1;
    }
    let mut v = mant as f64;
    let mut e = exp;
    while e > 0 {
        let step = e.min(1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    while e < 0 {
        let step = (-e).min(1000);
        v /= 2f64.powi(step as i32);
        e += step;
    }
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((v, i, erange))
}

/// Redis's `string2d` (ZADD scores, ZINCRBY): the whole argument must be one number, no
/// leading space, no overflow or underflow to zero, no NaN.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let (v, used, erange) = strtod(s);
    if used != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// One end of a score range (ZRANGEBYSCORE, ZCOUNT): `(` makes it exclusive; the rest is
/// read by `strtod` up to the first NUL, as C sees the argument.
pub fn parse_score_bound(s: &[u8]) -> Option<(f64, bool)> {
    let (exclusive, body) = match s.first() {
        Some(b'(') => (true, &s[1..]),
        _ => (false, s),
    };
    let body = crate::errors::c_string(body);
    let (v, used, _) = strtod(body);
    if used != body.len() || v.is_nan() {
        return None;
    }
    Some((v, exclusive))
}

/// A skiplist-encoded sorted set: Redis's skip list, whose links carry how many entries
/// they jump over, so that rank, the entry at a rank and the bound of a range are found in
/// O(log n) expected, and a walk from there costs O(1) per entry; and the member table.
///
/// The nodes are both: they live densely in one vector (a member's slot is its position
/// for random picks and ZSCAN, removal moves the last node into the hole) and link by
/// index (`NIL` for none, `HEAD` for the header, kept apart with every level). A hash
/// table of node indexes finds a member's node. A node holds its member inline (up to 16
/// bytes), its score, its level-0 links (whose span is always 1) and, for the one node in
/// four with more levels, a boxed array of the upper links: no second copy of the member
/// and no per-level slack.
mod ranked {
    use std::cmp::Ordering;
    use std::hash::BuildHasher;

    use hashbrown::HashTable;

    use super::cmp_entry;
    use crate::keyspace::Sds;

    /// Levels a node may have (Redis's `ZSKIPLIST_MAXLEVEL`).
    const MAX_LEVEL: usize = 32;
    const NIL: u32 = u32::MAX;
    const HEAD: u32 = u32::MAX - 1;

    /// A link: the next node at this level and how many entries it moves forward.
    #[derive(Clone, Copy, Debug)]
    struct Link {
        next: u32,
        span: u32,
    }

    const UNLINKED: Link = Link { next: NIL, span: 0 };

    #[derive(Clone, Debug)]
    struct Node {
        member: Sds,
        score: f64,
        /// The previous node at level 0 (`NIL` for the first).
        prev: u32,
        /// The next node at level 0.
        next: u32,
        /// The links at levels 1 and up.
        up: Option<Box<[Link]>>,
    }

    impl Node {
        fn level(&self) -> usize {
            1 + self.up.as_ref().map_or(0, |u| u.len())
        }
    }

    #[derive(Clone)]
    pub struct Ranked {
        hasher: hashbrown::DefaultHashBuilder,
        index: HashTable<u32>,
        nodes: Vec<Node>,
        head: [Link; MAX_LEVEL],
        /// Levels in use (at least 1).
        level: usize,
        tail: u32,
    }

    impl Default for Ranked {
        fn default() -> Ranked {
            Ranked {
                hasher: Default::default(),
                index: HashTable::new(),
                nodes: Vec::new(),
                head: [UNLINKED; MAX_LEVEL],
                level: 1,
                tail: NIL,
            }
        }
    }

    impl PartialEq for Ranked {
        fn eq(&self, other: &Ranked) -> bool {
            self.len() == other.len()
                && self
                    .iter_from(0, false)
                    .zip(other.iter_from(0, false))
                    .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
        }
    }

    impl std::fmt::Debug for Ranked {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_list()
                .entries(
                    self.iter_from(0, false)
                        .map(|(m, s)| (String::from_utf8_lossy(m), s)),
                )
                .finish()
        }
    }

    /// A level for a new node: 1, then one more with probability 1/4 each time (Redis's
    /// `ZSKIPLIST_P`).
    fn random_level() -> usize {
        let bits: u64 = rand::random();
        (1 + bits.trailing_zeros() as usize / 2).min(MAX_LEVEL)
    }

    impl Ranked {
        pub fn len(&self) -> usize {
            self.nodes.len()
        }

        /// Bytes the nodes and the table take (MEMORY USAGE), estimated without a walk:
        /// one node in four has upper links (about 4/3 of them).
        pub fn memory_usage(&self) -> usize {
            let spilled = self.nodes.iter().take(5).filter(|n| n.member.spilled());
            let heap: usize = spilled.map(|n| n.member.capacity()).sum();
            let sampled = self.nodes.len().min(5);
            self.nodes.capacity() * std::mem::size_of::<Node>()
                + self.len() / 4 * (16 + 2 * std::mem::size_of::<Link>())
                + self.index.capacity() * 8 / 7 * 5
                + (heap * self.len()).checked_div(sampled).unwrap_or(0)
        }

        fn link(&self, node: u32, level: usize) -> Link {
            if node == HEAD {
                return self.head[level];
            }
            let n = &self.nodes[node as usize];
            match level {
                0 => Link {
                    next: n.next,
                    span: u32::from(n.next != NIL),
                },
                l => n.up.as_ref().map_or(UNLINKED, |u| u[l - 1]),
            }
        }

        /// Sets a link. At level 0 of a node only `next` is kept: its span is 1 when
        /// there is a next node, which is what every caller sets.
        fn set_link(&mut self, node: u32, level: usize, link: Link) {
            if node == HEAD {
                self.head[level] = link;
                return;
            }
            let n = &mut self.nodes[node as usize];
            match level {
                0 => n.next = link.next,
                l => {
                    if let Some(u) = n.up.as_mut() {
                        u[l - 1] = link;
                    }
                }
            }
        }

        fn add_span(&mut self, node: u32, level: usize, delta: i32) {
            let mut link = self.link(node, level);
            link.span = link.span.wrapping_add_signed(delta);
            self.set_link(node, level, link);
        }

        /// Whether `node` comes before (`score`, `member`).
        fn before(&self, node: u32, score: f64, member: &[u8]) -> bool {
            let n = &self.nodes[node as usize];
            cmp_entry(n.score, &n.member, score, member) == Ordering::Less
        }

        fn find(&self, member: &[u8]) -> Option<u32> {
            let hash = self.hasher.hash_one(member);
            let nodes = &self.nodes;
            self.index
                .find(hash, |&i| nodes[i as usize].member.as_slice() == member)
                .copied()
        }

        pub fn score(&self, member: &[u8]) -> Option<f64> {
            self.find(member).map(|i| self.nodes[i as usize].score)
        }

        /// The member in slot `position` of the table, for random picks and ZSCAN.
        pub fn at_position(&self, position: usize) -> Option<(&[u8], f64)> {
            self.nodes
                .get(position)
                .map(|n| (n.member.as_slice(), n.score))
        }

        /// The last node before (`score`, `member`) at each level in use, and the rank
        /// (1-based, the header being 0) of each.
        fn path(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
            let mut update = [HEAD; MAX_LEVEL];
            let mut rank = [0u32; MAX_LEVEL];
            let mut x = HEAD;
            for i in (0..self.level).rev() {
                rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
                loop {
                    let link = self.link(x, i);
                    if link.next != NIL && self.before(link.next, score, member) {
                        rank[i] += link.span;
                        x = link.next;
                    } else {
                        break;
                    }
                }
                update[i] = x;
            }
            (update, rank)
        }

        /// Inserts a member known to be absent.
        pub fn insert(&mut self, score: f64, member: &[u8]) {
            let level = random_level();
            let x = self.nodes.len() as u32;
            self.nodes.push(Node {
                member: Sds::from_slice(member),
                score,
                prev: NIL,
                next: NIL,
                up: (level > 1).then(|| vec![UNLINKED; level - 1].into_boxed_slice()),
            });
            self.link_in(x, x);
            let hash = self.hasher.hash_one(member);
            let (hasher, nodes) = (&self.hasher, &self.nodes);
            self.index.insert_unique(hash, x, |&i| {
                hasher.hash_one(nodes[i as usize].member.as_slice())
            });
        }

        /// Gives `member` (which is present) the score `score`, as Redis's
        /// `zslUpdateScore`: in place when it keeps its position, else its node is unlinked
        /// and linked again where the score puts it (same slot, same level, the table
        /// untouched).
        pub fn update(&mut self, member: &[u8], score: f64) {
            let Some(x) = self.find(member) else {
                return self.insert(score, member);
            };
            let (old, prev, next) = {
                let n = &self.nodes[x as usize];
                (n.score, n.prev, n.next)
            };
            let after_prev = prev == NIL || self.before(prev, score, member);
            let before_next = next == NIL || {
                let n = &self.nodes[next as usize];
                cmp_entry(n.score, &n.member, score, member) == Ordering::Greater
            };
            if after_prev && before_next {
                self.nodes[x as usize].score = score;
                return;
            }
            self.unlink(x, old, member);
            self.nodes[x as usize].score = score;
            self.link_in(x, self.len() as u32 - 1);
        }

        /// Takes node `x` (`score`, `member`) out of the list at every level; its slot and
        /// its entry in the table stay.
        fn unlink(&mut self, x: u32, score: f64, member: &[u8]) {
            let (update, _) = self.path(score, member);
            for (i, &node) in update.iter().enumerate().take(self.level) {
                let link = self.link(node, i);
                if link.next == x {
                    let gone = self.link(x, i);
                    let joined = Link {
                        next: gone.next,
                        span: link.span + gone.span - 1,
                    };
                    self.set_link(node, i, joined);
                } else {
                    self.add_span(node, i, -1);
                }
            }
            let (prev, next) = (self.nodes[x as usize].prev, self.nodes[x as usize].next);
            match next {
                NIL => self.tail = prev,
                next => self.nodes[next as usize].prev = prev,
            }
            while self.level > 1 && self.head[self.level - 1].next == NIL {
                self.level -= 1;
            }
        }

        /// Links node `x` (in `nodes`, with its level, linked nowhere) in where its score
        /// and member put it, among the `others` entries linked.
        fn link_in(&mut self, x: u32, others: u32) {
            let (mut update, mut rank) = {
                let n = &self.nodes[x as usize];
                self.path(n.score, &n.member)
            };
            let level = self.nodes[x as usize].level();
            if level > self.level {
                for i in self.level..level {
                    rank[i] = 0;
                    update[i] = HEAD;
                    self.head[i].span = others;
                }
                self.level = level;
            }
            self.nodes[x as usize].prev = if update[0] == HEAD { NIL } else { update[0] };
            for i in 0..level {
                let before = self.link(update[i], i);
                let passed = rank[0] - rank[i];
                self.set_link(
                    x,
                    i,
                    Link {
                        next: before.next,
                        span: before.span - passed,
                    },
                );
                self.set_link(
                    update[i],
                    i,
                    Link {
                        next: x,
                        span: passed + 1,
                    },
                );
            }
            for (i, &node) in update.iter().enumerate().take(self.level).skip(level) {
                self.add_span(node, i, 1);
            }
            match self.link(x, 0).next {
                NIL => self.tail = x,
                next => self.nodes[next as usize].prev = x,
            }
        }

        /// Removes `member`; its score when it was there.
        pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
            let x = self.find(member)?;
            let score = self.nodes[x as usize].score;
            self.unlink(x, score, member);
            let hash = self.hasher.hash_one(member);
            if let Ok(entry) = self.index.find_entry(hash, |&i| i == x) {
                entry.remove();
            }
            self.fill_hole(x);
            if self.nodes.is_empty() {
                // Nothing left to point into: give the memory back.
                *self = Ranked::default();
            } else {
                self.shrink_if_sparse();
            }
            Some(score)
        }

        /// Moves the last node into slot `x`, which nothing links to any more, and drops
        /// the last slot: whatever pointed at the last node points at `x`.
        fn fill_hole(&mut self, x: u32) {
            let last = (self.nodes.len() - 1) as u32;
            if x != last {
                let (update, _) = {
                    let n = &self.nodes[last as usize];
                    self.path(n.score, &n.member)
                };
                for (i, &node) in update
                    .iter()
                    .enumerate()
                    .take(self.nodes[last as usize].level())
                {
                    let mut link = self.link(node, i);
                    if link.next == last {
                        link.next = x;
                        self.set_link(node, i, link);
                    }
                }
                match self.nodes[last as usize].next {
                    NIL => self.tail = x,
                    next => self.nodes[next as usize].prev = x,
                }
                let hash = self
                    .hasher
                    .hash_one(self.nodes[last as usize].member.as_slice());
                if let Some(slot) = self.index.find_mut(hash, |&i| i == last) {
                    *slot = x;
                }
            }
            self.nodes.swap_remove(x as usize);
        }

        /// Gives back most of the memory of a set that removals left mostly empty.
        fn shrink_if_sparse(&mut self) {
            let (len, cap) = (self.nodes.len(), self.index.capacity());
            if cap > 64 && len < cap / 8 {
                self.nodes.shrink_to(len * 2);
                let (hasher, nodes) = (&self.hasher, &self.nodes);
                self.index.shrink_to(len * 2, |&i| {
                    hasher.hash_one(nodes[i as usize].member.as_slice())
                });
            }
        }

        /// The 0-based rank of (`score`, `member`), from the lowest.
        pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
            let mut x = HEAD;
            let mut rank = 0usize;
            for i in (0..self.level).rev() {
                loop {
                    let link = self.link(x, i);
                    if link.next == NIL {
                        break;
                    }
                    let n = &self.nodes[link.next as usize];
                    if cmp_entry(n.score, &n.member, score, member) == Ordering::Greater {
                        break;
                    }
                    rank += link.span as usize;
                    x = link.next;
                }
                if x != HEAD {
                    let n = &self.nodes[x as usize];
                    if n.score == score && n.member.as_slice() == member {
                        return Some(rank - 1);
                    }
                }
            }
            None
        }

        /// How many entries, from the lowest, satisfy `pred`, which holds for a first run
        /// of them and for none after it.
        pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
            let mut x = HEAD;
            let mut count = 0usize;
            for i in (0..self.level).rev() {
                loop {
                    let link = self.link(x, i);
                    if link.next == NIL {
                        break;
                    }
                    let n = &self.nodes[link.next as usize];
                    if !pred(n.score, &n.member) {
                        break;
                    }
                    count += link.span as usize;
                    x = link.next;
                }
            }
            count
        }

        /// The node of 0-based `rank` from the lowest.
        fn select(&self, rank: usize) -> u32 {
            if rank >= self.len() {
                return NIL;
            }
            let target = rank + 1;
            let mut x = HEAD;
            let mut traversed = 0usize;
            for i in (0..self.level).rev() {
                loop {
                    let link = self.link(x, i);
                    if link.next == NIL || traversed + link.span as usize > target {
                        break;
                    }
                    traversed += link.span as usize;
                    x = link.next;
                }
                if traversed == target {
                    return x;
                }
            }
            NIL
        }

        /// Entries in order from 0-based `rank` on (`rev`: counted from the highest, going
        /// down).
        pub fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
            let at = match (rev, rank) {
                (_, r) if r >= self.len() => NIL,
                (false, 0) => self.head[0].next,
                (true, 0) => self.tail,
                (false, r) => self.select(r),
                (true, r) => self.select(self.len() - 1 - r),
            };
            Iter {
                list: self,
                at,
                rev,
            }
        }
    }

    pub struct Iter<'a> {
        list: &'a Ranked,
        at: u32,
        rev: bool,
    }

    impl<'a> Iterator for Iter<'a> {
        type Item = (&'a [u8], f64);

        fn next(&mut self) -> Option<Self::Item> {
            if self.at == NIL {
                return None;
            }
            let n = &self.list.nodes[self.at as usize];
            self.at = if self.rev { n.prev } else { n.next };
            Some((n.member.as_slice(), n.score))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        /// The model: a sorted vector of (score, member).
        fn sorted(model: &[(f64, Vec<u8>)]) -> Vec<(f64, Vec<u8>)> {
            let mut v = model.to_vec();
            v.sort_by(|a, b| cmp_entry(a.0, &a.1, b.0, &b.1));
            v
        }

        fn check(list: &Ranked, model: &[(f64, Vec<u8>)]) {
            let want = sorted(model);
            assert_eq!(list.len(), want.len());
            // The table half: every member found with its score, every slot a member.
            for (score, member) in &want {
                assert_eq!(list.score(member).map(f64::to_bits), Some(score.to_bits()));
            }
            let mut slots: Vec<(f64, Vec<u8>)> = (0..list.len())
                .filter_map(|i| list.at_position(i))
                .map(|(m, s)| (s, m.to_vec()))
                .collect();
            slots.sort_by(|a, b| cmp_entry(a.0, &a.1, b.0, &b.1));
            assert_eq!(slots, want);
            assert!(list.at_position(list.len()).is_none());
            let got: Vec<(f64, Vec<u8>)> = list
                .iter_from(0, false)
                .map(|(m, s)| (s, m.to_vec()))
                .collect();
            assert_eq!(got, want);
            let back: Vec<(f64, Vec<u8>)> = list
                .iter_from(0, true)
                .map(|(m, s)| (s, m.to_vec()))
                .collect();
            assert_eq!(back, want.iter().rev().cloned().collect::<Vec<_>>());
            for (i, (score, member)) in want.iter().enumerate() {
                assert_eq!(list.rank(*score, member), Some(i));
                let at = list
                    .iter_from(i, false)
                    .next()
                    .map(|(m, s)| (s, m.to_vec()));
                assert_eq!(at.as_ref(), Some(&want[i]));
                let from_top = list.iter_from(i, true).next().map(|(m, s)| (s, m.to_vec()));
                assert_eq!(from_top.as_ref(), Some(&want[want.len() - 1 - i]));
            }
            assert!(list.iter_from(want.len(), false).next().is_none());
            assert!(list.iter_from(want.len(), true).next().is_none());
        }

        #[derive(Clone, Debug)]
        enum Op {
            Insert(i8, u8),
            Remove(usize),
            /// A new score for a member, often its neighbours' or its own position's.
            Update(usize, i8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (-4i8..4, 0u8..40).prop_map(|(s, m)| Op::Insert(s, m)),
                2 => (0usize..64).prop_map(Op::Remove),
                2 => (0usize..64, -5i8..5).prop_map(|(i, s)| Op::Update(i, s)),
            ]
        }

        proptest! {
            #[test]
            fn ranks_selects_and_walks_agree_with_a_sorted_vector(ops in prop::collection::vec(op(), 0..300)) {
                let mut list = Ranked::default();
                let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Insert(score, m) => {
                            let member = vec![b'a' + m % 26, m];
                            if model.iter().all(|(_, x)| *x != member) {
                                // Halves and the sign of zero share scores with others.
                                let score = if score == 0 && m % 2 == 1 { -0.0 } else { score as f64 / 2.0 };
                                list.insert(score, &member);
                                model.push((score, member));
                            }
                        }
                        Op::Remove(i) if !model.is_empty() => {
                            let (score, member) = model.swap_remove(i % model.len());
                            prop_assert_eq!(list.remove(&member).map(f64::to_bits), Some(score.to_bits()));
                            prop_assert_eq!(list.remove(&member), None);
                        }
                        Op::Remove(_) => {}
                        Op::Update(i, score) if !model.is_empty() => {
                            let i = i % model.len();
                            let score = if score == 0 && i % 2 == 1 { -0.0 } else { score as f64 / 2.0 };
                            let member = model[i].1.clone();
                            list.update(&member, score);
                            model[i].0 = score;
                        }
                        Op::Update(..) => {}
                    }
                    check(&list, &model);
                }
                let want = sorted(&model);
                for bound in -5..5 {
                    let b = bound as f64 / 2.0;
                    let below = want.iter().filter(|(s, _)| *s < b).count();
                    prop_assert_eq!(list.partition_point(|s, _| s < b), below);
                }
            }
        }

        #[test]
        fn a_member_that_is_not_there_has_no_rank_and_removes_nothing() {
            let mut list = Ranked::default();
            list.insert(1.0, b"a");
            assert_eq!(list.rank(1.0, b"b"), None);
            assert_eq!(list.rank(2.0, b"a"), None);
            assert_eq!(list.remove(b"b"), None);
            assert_eq!(list.remove(b"a"), Some(1.0));
            assert_eq!(list.len(), 0);
            assert!(list.iter_from(0, false).next().is_none());
        }

        #[test]
        fn ranks_stay_logarithmic_on_a_large_list() {
            let mut list = Ranked::default();
            for i in 0..100_000u32 {
                list.insert(f64::from(i), &i.to_be_bytes());
            }
            assert_eq!(list.rank(99_999.0, &99_999u32.to_be_bytes()), Some(99_999));
            assert_eq!(
                list.iter_from(50_000, false).next().map(|e| e.1),
                Some(50_000.0)
            );
            assert_eq!(list.iter_from(10, true).next().map(|e| e.1), Some(99_989.0));
            assert!(list.level < MAX_LEVEL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ZsetLimits = ZsetLimits {
        max_entries: 3,
        max_value: 8,
    };

    fn members(z: &ZsetValue, rev: bool) -> Vec<(String, f64)> {
        z.iter(rev)
            .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s))
            .collect()
    }

    #[test]
    fn packed_scores_round_trip() {
        for v in [
            0.0,
            1.0,
            -1.0,
            255.0,
            256.0,
            -129.0,
            1.5,
            1e300,
            -3e-300,
            36028797018963967.0,
            1e17,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut buf = [0u8; 8];
            let len = encode_score(v, &mut buf);
            let back = decode_score(&buf[..len]);
            assert_eq!(back.to_bits(), v.to_bits(), "{v}");
        }
        let mut buf = [0u8; 8];
        let len = encode_score(-0.0, &mut buf);
        assert_eq!(decode_score(&buf[..len]).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn members_are_ordered_by_score_then_bytes_in_both_encodings() {
        let flags = AddFlags::default();
        let mut small = ZsetValue::for_first_member(b"b", LIMITS);
        let mut big = ZsetValue::Skiplist(Box::default());
        for z in [&mut small, &mut big] {
            z.add(2.0, b"b", flags, LIMITS);
            z.add(1.0, b"z", flags, LIMITS);
            z.add(2.0, b"a", flags, LIMITS);
        }
        assert_eq!(small.encoding(), "listpack");
        let want = vec![("z".to_string(), 1.0), ("a".into(), 2.0), ("b".into(), 2.0)];
        assert_eq!(members(&small, false), want);
        assert_eq!(members(&big, false), want);
        assert_eq!(small.rank(b"b", false), Some(2));
        assert_eq!(big.rank(b"b", true), Some(0));
    }

    #[test]
    fn a_fourth_member_or_a_long_one_converts_to_a_skiplist() {
        let flags = AddFlags::default();
        let mut z = ZsetValue::for_first_member(b"a", LIMITS);
        for m in ["a", "b", "c"] {
            z.add(1.0, m.as_bytes(), flags, LIMITS);
        }
        assert_eq!(z.encoding(), "listpack");
        z.add(0.5, b"d", flags, LIMITS);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.pop(false).map(|p| p.1), Some(0.5));
        let long = ZsetValue::for_first_member(b"123456789", LIMITS);
        assert_eq!(long.encoding(), "skiplist");
    }

    #[test]
    fn incr_to_nan_and_gt_lt_refusals_leave_the_score() {
        let mut z = ZsetValue::for_first_member(b"a", LIMITS);
        z.add(f64::INFINITY, b"a", AddFlags::default(), LIMITS);
        let incr = AddFlags {
            incr: true,
            ..Default::default()
        };
        assert_eq!(z.add(f64::NEG_INFINITY, b"a", incr, LIMITS), Added::Nan);
        let gt = AddFlags {
            gt: true,
            ..Default::default()
        };
        assert_eq!(z.add(1.0, b"a", gt, LIMITS), Added::Nop);
        assert_eq!(z.score(b"a"), Some(f64::INFINITY));
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Add(i8, u8),
            Remove(u8),
            RemoveRanks(usize, usize),
            Pop(bool),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (-3i8..3, 0u8..30).prop_map(|(s, m)| Op::Add(s, m)),
                2 => (0u8..30).prop_map(Op::Remove),
                1 => (0usize..12, 0usize..12).prop_map(|(a, b)| Op::RemoveRanks(a, b)),
                1 => any::<bool>().prop_map(Op::Pop),
            ]
        }

        fn member(m: u8) -> Vec<u8> {
            vec![b'a' + m % 7, m]
        }

        proptest! {
            /// Both encodings answer ranks, walks from a rank and score ranges as a sorted
            /// vector does, through adds, removals of members and of rank ranges, and pops.
            #[test]
            fn both_encodings_agree_with_a_sorted_vector(
                ops in prop::collection::vec(op(), 0..120),
                max_entries in 0usize..8,
            ) {
                let limits = ZsetLimits { max_entries, max_value: 64 };
                let mut z = ZsetValue::for_first_member(b"a", limits);
                let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Add(score, m) => {
                            let score = f64::from(score) / 2.0;
                            let added = z.add(score, &member(m), AddFlags::default(), limits);
                            match model.iter_mut().find(|(_, x)| *x == member(m)) {
                                Some(entry) if entry.0 == score => {
                                    prop_assert_eq!(added, Added::Same(score))
                                }
                                Some(entry) => {
                                    entry.0 = score;
                                    prop_assert_eq!(added, Added::Updated(score));
                                }
                                None => {
                                    model.push((score, member(m)));
                                    prop_assert_eq!(added, Added::Added(score));
                                }
                            }
                        }
                        Op::Remove(m) => {
                            let before = model.len();
                            model.retain(|(_, x)| *x != member(m));
                            prop_assert_eq!(z.remove(&member(m)), model.len() < before);
                        }
                        Op::RemoveRanks(a, b) => {
                            model.sort_by(|x, y| cmp_entry(x.0, &x.1, y.0, &y.1));
                            let (lo, hi) = (a.min(model.len()), b.min(model.len()));
                            let gone = hi.saturating_sub(lo);
                            prop_assert_eq!(z.remove_ranks(a..b), gone);
                            if gone > 0 {
                                model.drain(lo..hi);
                            }
                        }
                        Op::Pop(max) => {
                            model.sort_by(|x, y| cmp_entry(x.0, &x.1, y.0, &y.1));
                            let want = if max { model.pop() } else if model.is_empty() { None } else { Some(model.remove(0)) };
                            let got = z.pop(max).map(|(m, s)| (s, m.to_vec()));
                            prop_assert_eq!(got, want);
                        }
                    }
                    model.sort_by(|x, y| cmp_entry(x.0, &x.1, y.0, &y.1));
                    prop_assert_eq!(z.len(), model.len());
                    for (i, (score, m)) in model.iter().enumerate() {
                        prop_assert_eq!(z.rank(m, false), Some(i));
                        prop_assert_eq!(z.rank(m, true), Some(model.len() - 1 - i));
                        prop_assert_eq!(z.score(m), Some(*score));
                        let at = z.at_rank(i, false).map(|(m, s)| (s, m.to_vec()));
                        prop_assert_eq!(at.as_ref(), Some(&model[i]));
                        let walked: Vec<(f64, Vec<u8>)> =
                            z.iter_from(i, true).map(|(m, s)| (s, m.to_vec())).collect();
                        let want: Vec<(f64, Vec<u8>)> =
                            model[..model.len() - i].iter().rev().cloned().collect();
                        prop_assert_eq!(walked, want);
                    }
                    for (min, max) in [(-1.0, 0.5), (0.0, 0.0), (1.0, -1.0), (-9.0, 9.0)] {
                        for (min_ex, max_ex) in [(false, false), (true, false), (false, true)] {
                            let range = ScoreRange { min, min_ex, max, max_ex };
                            let inside: Vec<usize> = (0..model.len())
                                .filter(|&i| range.contains(model[i].0))
                                .collect();
                            let ranks = z.score_ranks(&range);
                            prop_assert_eq!(ranks.len(), inside.len());
                            if let Some(&first) = inside.first() {
                                prop_assert_eq!(ranks.start, first);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn strtod_reads_what_glibc_reads() {
        assert_eq!(strtod(b" 1.5x"), (1.5, 4, false));
        assert_eq!(strtod(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod(b"0x1p-2"), (0.25, 6, false));
        assert_eq!(strtod(b"-Infinity"), (f64::NEG_INFINITY, 9, false));
        assert_eq!(strtod(b"1e"), (1.0, 1, false));
        assert_eq!(strtod(b"5."), (5.0, 2, false));
        assert_eq!(strtod(b".5"), (0.5, 2, false));
        assert_eq!(strtod(b"abc"), (0.0, 0, false));
        assert!(strtod(b"1e400").2);
        assert!(strtod(b"1e-400").2);
    }

    #[test]
    fn scores_parse_as_string2d() {
        assert_eq!(parse_score(b"1"), Some(1.0));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b""), None);
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"0x1A"), Some(26.0));
    }

    #[test]
    fn range_bounds_accept_an_open_paren_and_stop_at_nul() {
        assert_eq!(parse_score_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_score_bound(b""), Some((0.0, false)));
        assert_eq!(parse_score_bound(b"2\x00junk"), Some((2.0, false)));
        assert_eq!(parse_score_bound(b"x"), None);
        assert_eq!(parse_score_bound(b"nan"), None);
    }
}
