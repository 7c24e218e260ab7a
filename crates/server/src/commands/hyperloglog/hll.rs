//! Redis's HyperLogLog string, byte for byte: the bytes a PFADD leaves in a key are the
//! bytes redis-server leaves there for the same elements, so a value copied from one
//! server to the other (GET, then SET) keeps counting and accepting elements.
//!
//! Layout: a 16-byte header (`HYLL`, the encoding byte, three unused bytes, the cached
//! cardinality as a little-endian u64 whose top bit marks it stale), then 16384 registers
//! of 6 bits. Dense: the registers packed from the least significant bit of each byte up.
//! Sparse: a run-length code of three opcodes (`00xxxxxx` ZERO, 1..64 zero registers;
//! `01xxxxxx yyyyyyyy` XZERO, 1..16384 zero registers; `1vvvvvxx` VAL, 1..4 registers of
//! value 1..32), turned dense when a register passes 32 or the string would pass
//! `hll-sparse-max-bytes`. The edits of the sparse code (which opcode is split, when
//! neighbours merge) follow Redis's so that the resulting bytes agree.
//!
//! Nothing here panics on a corrupted string: bytes past the end read as zero and an
//! invalid code is reported as `Corrupt`. A code is invalid unless its runs add up to
//! exactly 16384 registers, any opcode reaching past the last register included (the
//! check of redis-server 7.0.15 as Debian ships it, with the fix for CVE-2025-32023).

/// Bytes of the header.
pub const HEADER: usize = 16;
/// Registers: 2^14.
pub const REGISTERS: usize = 1 << 14;
/// Bits of the hash left after the register index.
const Q: usize = 50;
const REGISTER_BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << REGISTER_BITS) - 1;
/// Length of a dense string.
pub const DENSE_SIZE: usize = HEADER + (REGISTERS * REGISTER_BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln(2), the estimator's constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// The seed Redis hashes elements with.
const SEED: u64 = 0xadc8_3b19;

/// A string whose sparse code does not describe exactly 16384 registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Redis's `MurmurHash64A`, reading 8-byte blocks as little-endian words.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for block in &mut blocks {
        let mut word = [0u8; 8];
        word.copy_from_slice(block);
        let mut k = u64::from_le_bytes(word).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^ (h >> R)
}

/// The register an element falls in and the length of its `000...1` run (1 to 51).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    let run = ((hash >> 14) | (1 << Q)).trailing_zeros() as u8 + 1;
    (index, run)
}

/// An empty HyperLogLog as PFADD creates it: sparse, one XZERO, cached cardinality 0.
pub fn new_sparse() -> Vec<u8> {
    let mut s = b"HYLL".to_vec();
    s.extend_from_slice(&[SPARSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        push_xzero(&mut s, run);
        left -= run;
    }
    s
}

/// Redis's `isHLLObjectOrReply` on a string's bytes: the magic, a known encoding, and the
/// exact length of a dense string. (A sparse code is only checked when it is read.)
pub fn is_valid(s: &[u8]) -> bool {
    s.len() >= HEADER
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn is_sparse(s: &[u8]) -> bool {
    s.get(4) == Some(&SPARSE)
}

/// The cached cardinality, unless a change made it stale.
pub fn cached_cardinality(s: &[u8]) -> Option<u64> {
    let card: [u8; 8] = s.get(8..HEADER)?.try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

pub fn set_cached_cardinality(s: &mut [u8], card: u64) {
    if let Some(slot) = s.get_mut(8..HEADER) {
        slot.copy_from_slice(&card.to_le_bytes());
    }
}

/// Marks the cached cardinality stale.
pub fn invalidate_cache(s: &mut [u8]) {
    if let Some(b) = s.get_mut(HEADER - 1) {
        *b |= 0x80;
    }
}

// ---------------------------------------------------------------------------------------
// Dense registers.

/// Register `i` of dense registers (`regs` is the string after the header).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * REGISTER_BITS / 8;
    let fb = (i * REGISTER_BITS) & 7;
    let (b0, b1) = match regs.get(byte..byte + 2) {
        Some(&[b0, b1]) => (b0 as u32, b1 as u32),
        _ => (regs.get(byte).copied().unwrap_or(0) as u32, 0),
    };
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u32) as u8
}

fn dense_put(regs: &mut [u8], i: usize, value: u8) {
    let byte = i * REGISTER_BITS / 8;
    let fb = (i * REGISTER_BITS) & 7;
    let v = value as u32;
    let low = ((v << fb) as u8, !((REGISTER_MAX as u32) << fb) as u8);
    let high = (
        (v >> (8 - fb)) as u8,
        !((REGISTER_MAX as u32) >> (8 - fb)) as u8,
    );
    match regs.get_mut(byte..byte + 2) {
        Some([b0, b1]) => {
            *b0 = (*b0 & low.1) | low.0;
            *b1 = (*b1 & high.1) | high.0;
        }
        _ => {
            if let Some(b0) = regs.get_mut(byte) {
                *b0 = (*b0 & low.1) | low.0;
            }
        }
    }
}

/// Redis's `hllDenseSet`: raises register `i` to `count`; true if it was lower.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------------------
// Sparse opcodes.

fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

fn zero_len(b: u8) -> usize {
    (b & 0x3f) as usize + 1
}

/// The run of an XZERO at `p` (its second byte reads as 0 past the end, as C reads the
/// string's terminating NUL).
fn xzero_len(s: &[u8], p: usize) -> usize {
    let low = s.get(p + 1).copied().unwrap_or(0) as usize;
    ((((s[p] & 0x3f) as usize) << 8) | low) + 1
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    (b & 0x3) as usize + 1
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len as u8 - 1) | 0x80
}

fn push_xzero(out: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    out.push((l >> 8) as u8 | 0x40);
    out.push((l & 0xff) as u8);
}

/// A run of `len` zero registers as one opcode: ZERO up to 64, XZERO beyond.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        push_xzero(out, len);
    } else {
        out.push(len as u8 - 1);
    }
}

/// The opcodes of a sparse string, as (first register, run, value).
fn sparse_runs(s: &[u8]) -> impl Iterator<Item = (usize, usize, u8)> + '_ {
    let mut p = HEADER;
    std::iter::from_fn(move || {
        let b = *s.get(p)?;
        let (run, value, len) = if is_zero(b) {
            (zero_len(b), 0, 1)
        } else if is_xzero(b) {
            (xzero_len(s, p), 0, 2)
        } else {
            (val_len(b), val_value(b), 1)
        };
        p += len;
        Some((run, value))
    })
    .scan(0usize, |first, (run, value)| {
        let at = *first;
        *first = first.saturating_add(run);
        Some((at, run, value))
    })
}

/// Redis's `hllSparseToDense`: rewrites a sparse string as a dense one, header kept (the
/// cached cardinality included). A dense string is left alone.
pub fn to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if s.get(4) == Some(&DENSE) {
        return Ok(());
    }
    if s.len() < HEADER {
        return Err(Corrupt);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HEADER].copy_from_slice(&s[..HEADER]);
    dense[4] = DENSE;
    let mut covered = 0;
    for (first, run, value) in sparse_runs(s) {
        if first + run > REGISTERS {
            return Err(Corrupt);
        }
        covered = first + run;
        if value > 0 {
            for i in first..covered {
                dense_put(&mut dense[HEADER..], i, value);
            }
        }
    }
    if covered != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(())
}

/// Raises register `index` to `count` in either encoding (Redis's `hllDenseSet` or
/// `hllSparseSet`); true if it was lower. A sparse string may turn dense on the way.
pub fn raise(s: &mut Vec<u8>, index: usize, count: u8, sparse_max: u64) -> Result<bool, Corrupt> {
    match s.get(4) {
        Some(&DENSE) => Ok(dense_raise(&mut s[HEADER..], index, count)),
        Some(&SPARSE) => sparse_raise(s, index, count, sparse_max),
        _ => Err(Corrupt),
    }
}

/// Redis's `hllAdd`: adds one element; true if a register changed.
pub fn add(s: &mut Vec<u8>, element: &[u8], sparse_max: u64) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    raise(s, index, count, sparse_max)
}

/// Redis's `hllSparseSet`: finds the opcode covering `index` and, if the register must
/// grow, rewrites that opcode as up to three (zeros or old values before, the new VAL,
/// zeros or old values after), then merges equal VALs among the five opcodes from the one
/// before. A value over 32, or a string that would pass `sparse_max` bytes, turns the
/// string dense first.
fn sparse_raise(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: u64,
) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    let end = s.len();
    let (mut p, mut first, mut span) = (HEADER, 0usize, 0usize);
    let mut prev = None;
    while p < end {
        let (run, len) = if is_zero(s[p]) {
            (zero_len(s[p]), 1)
        } else if is_val(s[p]) {
            (val_len(s[p]), 1)
        } else {
            (xzero_len(s, p), 2)
        };
        span = run;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += len;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = s[p];
    let old_len = if is_xzero(op) { 2 } else { 1 };
    let has_next = p + old_len < end;
    'update: {
        if is_val(op) {
            if val_value(op) >= count {
                return Ok(false);
            }
            if span == 1 {
                s[p] = val_op(count, 1);
                break 'update;
            }
        }
        if is_zero(op) && span == 1 {
            s[p] = val_op(count, 1);
            break 'update;
        }
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val(op) {
            let current = val_value(op);
            if index != first {
                seq.push(val_op(current, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(current, last - index));
            }
        } else {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        let delta = seq.len() as i64 - old_len as i64;
        if delta > 0 && (s.len() as i64 + delta) as u64 > sparse_max {
            return promote(s, index, count);
        }
        if has_next {
            s.splice(p..p + old_len, seq);
        } else {
            // The last opcode: the string ends where the new sequence does (an XZERO cut
            // short by the end of the string loses the byte it lacked, as in Redis).
            let new_len = (s.len() as i64 + delta) as usize;
            s.truncate(p);
            s.extend_from_slice(&seq);
            s.truncate(new_len);
        }
    }
    merge_values(s, prev.unwrap_or(HEADER));
    invalidate_cache(s);
    Ok(true)
}

/// Merges adjacent VALs of the same value (while their runs fit one opcode), scanning up
/// to five opcodes from `p`.
fn merge_values(s: &mut Vec<u8>, mut p: usize) {
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        if is_xzero(s[p]) {
            p += 2;
            continue;
        }
        if is_zero(s[p]) {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && is_val(s[p + 1]) {
            let (v1, v2) = (val_value(s[p]), val_value(s[p + 1]));
            let len = val_len(s[p]) + val_len(s[p + 1]);
            if v1 == v2 && len <= SPARSE_VAL_MAX_LEN {
                s[p + 1] = val_op(v1, len);
                s.remove(p);
                continue;
            }
        }
        p += 1;
    }
}

/// A sparse string turns dense, then its register is raised there.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    Ok(dense_raise(&mut s[HEADER..], index, count))
}

// ---------------------------------------------------------------------------------------
// Counting and merging.

/// How many registers hold each value; the flag says whether a sparse code described
/// exactly 16384 registers.
pub fn histogram(s: &[u8]) -> ([u64; 64], bool) {
    let mut histo = [0u64; 64];
    if is_sparse(s) {
        let mut covered = 0usize;
        for (first, run, value) in sparse_runs(s) {
            if first + run > REGISTERS {
                return (histo, false);
            }
            covered = first + run;
            histo[value as usize] += run as u64;
        }
        (histo, covered == REGISTERS)
    } else {
        let regs = &s[HEADER.min(s.len())..];
        for i in 0..REGISTERS {
            histo[dense_get(regs, i) as usize] += 1;
        }
        (histo, true)
    }
}

/// The histogram of registers held one per byte (PFCOUNT of several keys).
pub fn raw_histogram(regs: &[u8]) -> [u64; 64] {
    let mut histo = [0u64; 64];
    for &r in regs {
        histo[(r & 63) as usize] += 1;
    }
    histo
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

/// C's `llround` as x86-64 computes it: halves away from zero, and the "integer
/// indefinite" i64::MIN for what does not fit.
fn llround(x: f64) -> i64 {
    let r = x.round();
    if r.is_finite() && r >= i64::MIN as f64 && r < i64::MAX as f64 {
        r as i64
    } else {
        i64::MIN
    }
}

/// Redis's `hllCount` from a register histogram: Ertl's improved estimator ("New
/// cardinality estimation algorithms for HyperLogLog sketches"), the same floating-point
/// operations in the same order.
pub fn estimate(histo: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    llround(ALPHA_INF * m * m / z) as u64
}

/// Redis's `hllMerge`: raises each of `max` (16384 registers, one per byte) to the
/// string's register.
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if !is_sparse(s) {
        let regs = &s[HEADER.min(s.len())..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let mut covered = 0;
    for (first, run, value) in sparse_runs(s) {
        if first + run > REGISTERS {
            return Err(Corrupt);
        }
        covered = first + run;
        for m in &mut max[first..covered] {
            *m = (*m).max(value);
        }
    }
    if covered == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// PFDEBUG DECODE's text: `z:N` ZERO, `Z:N` XZERO, `v:value,N` VAL, space separated.
pub fn decode(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HEADER;
    while p < s.len() {
        let b = s[p];
        if is_zero(b) {
            out.push(format!("z:{}", zero_len(b)));
            p += 1;
        } else if is_xzero(b) {
            out.push(format!("Z:{}", xzero_len(s, p)));
            p += 2;
        } else {
            out.push(format!("v:{},{}", val_value(b), val_len(b)));
            p += 1;
        }
    }
    out.join(" ")
}

/// PFSELFTEST: registers read back what was written without touching their neighbours,
/// and dense and sparse strings fed the same elements agree, within the expected error,
/// up to ten million elements. The failure text is Redis's.
pub fn self_test(sparse_max: u64, rng: &mut impl rand::Rng) -> Result<(), String> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[4] = DENSE;
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        rng.fill(&mut expected[..]);
        for (i, e) in expected.iter_mut().enumerate() {
            *e &= REGISTER_MAX;
            dense_put(&mut dense[HEADER..], i, *e);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = dense_get(&dense[HEADER..], i);
            if got != e {
                return Err(format!(
                    "TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }
    dense[HEADER..].fill(0);
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed: u64 = rng.gen();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let element = (j ^ seed).to_ne_bytes();
        let (index, count) = pattern(&element);
        dense_raise(&mut dense[HEADER..], index, count);
        let _ = raise(&mut sparse, index, count, sparse_max);
        if j != checkpoint {
            continue;
        }
        if j < sparse_max / 2 && !is_sparse(&sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = estimate(&histogram(&dense).0);
        if card != estimate(&histogram(&sparse).0) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - card as i64).unsigned_abs();
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The registers a string holds, one per byte.
    fn registers(s: &[u8]) -> Vec<u8> {
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, s).expect("valid");
        max
    }

    #[test]
    fn hashes_are_murmur64a_with_redis_seed() {
        // Registers and runs redis-server 7.0 gives these elements (PFDEBUG DECODE of
        // `PFADD h a b c`: Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603).
        let mut found = [pattern(b"a"), pattern(b"b"), pattern(b"c")];
        found.sort();
        assert_eq!(found, [(8436, 1), (12711, 2), (15780, 1)]);
    }

    #[test]
    fn a_new_string_is_what_redis_creates() {
        let s = new_sparse();
        assert_eq!(s, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(cached_cardinality(&s), Some(0));
        assert_eq!(decode(&s), "Z:16384");
    }

    #[test]
    fn three_elements_give_redis_bytes() {
        let mut s = new_sparse();
        for e in [&b"a"[..], b"b", b"c"] {
            assert_eq!(add(&mut s, e, 3000), Ok(true));
        }
        invalidate_cache(&mut s);
        assert_eq!(
            s,
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a"
                .to_vec()
        );
        assert_eq!(estimate(&histogram(&s).0), 3);
    }

    #[test]
    fn an_empty_histogram_counts_zero() {
        assert_eq!(estimate(&histogram(&new_sparse()).0), 0);
    }

    #[test]
    fn corrupted_sparse_codes_are_reported_not_panicked_on() {
        let mut short = new_sparse();
        short.truncate(HEADER + 1);
        assert!(!histogram(&short).1);
        assert_eq!(add(&mut short.clone(), b"x", 3000), Err(Corrupt));
        assert_eq!(to_dense(&mut short.clone()), Err(Corrupt));
        let mut long = new_sparse();
        long.push(0x00);
        assert_eq!(merge_into(&mut [0u8; REGISTERS], &long), Err(Corrupt));
        let mut empty = new_sparse();
        empty.truncate(HEADER);
        assert_eq!(add(&mut empty, b"x", 3000), Err(Corrupt));
    }

    #[test]
    fn the_self_test_passes() {
        assert_eq!(self_test(3000, &mut rand::thread_rng()), Ok(()));
    }

    #[test]
    fn any_opcode_past_the_last_register_makes_the_string_corrupt() {
        for extra in [0x80u8, 0x00, 0x40] {
            let mut s = new_sparse();
            s.push(extra);
            assert!(!histogram(&s).1);
            assert_eq!(merge_into(&mut [0u8; REGISTERS], &s), Err(Corrupt));
            assert_eq!(to_dense(&mut s), Err(Corrupt));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Sparse strings (turning dense at their limit or not) and dense strings fed the
        /// same elements hold the same registers as a model array, and convert into each
        /// other without a change.
        #[test]
        fn sparse_and_dense_hold_the_model_registers(
            elements in proptest::collection::vec(any::<u32>(), 0..600),
            sparse_max in prop_oneof![Just(3000u64), 0u64..400],
        ) {
            let mut model = vec![0u8; REGISTERS];
            let mut sparse = new_sparse();
            let mut dense = new_sparse();
            to_dense(&mut dense).expect("valid");
            for e in &elements {
                let bytes = e.to_le_bytes();
                let (index, count) = pattern(&bytes);
                let changed = count > model[index];
                model[index] = model[index].max(count);
                prop_assert_eq!(add(&mut sparse, &bytes, sparse_max), Ok(changed));
                prop_assert_eq!(add(&mut dense, &bytes, sparse_max), Ok(changed));
                prop_assert!(is_sparse(&sparse) || sparse.len() == DENSE_SIZE);
                if is_sparse(&sparse) {
                    prop_assert!(sparse.len() as u64 <= sparse_max.max(18));
                }
            }
            prop_assert_eq!(registers(&sparse), model.clone());
            prop_assert_eq!(registers(&dense), model.clone());
            prop_assert_eq!(histogram(&sparse).0, raw_histogram(&model));
            prop_assert_eq!(histogram(&dense).0, raw_histogram(&model));
            let mut converted = sparse.clone();
            to_dense(&mut converted).expect("valid");
            prop_assert_eq!(&converted[HEADER..], &dense[HEADER..]);
        }

        /// The sparse code stays canonical enough to be valid: it covers every register
        /// exactly once and never holds a value over 32.
        #[test]
        fn sparse_codes_cover_every_register_once(
            elements in proptest::collection::vec(any::<u64>(), 0..300),
        ) {
            let mut sparse = new_sparse();
            for e in &elements {
                add(&mut sparse, &e.to_le_bytes(), u64::MAX).expect("valid");
            }
            let (histo, covers) = histogram(&sparse);
            prop_assert!(covers);
            if is_sparse(&sparse) {
                prop_assert!(histo[33..].iter().all(|&n| n == 0));
                prop_assert_eq!(histo.iter().sum::<u64>(), REGISTERS as u64);
            }
        }

        /// Registers raised one by one from a model array (as PFMERGE writes them) give
        /// back that array, whatever the encoding ends up being.
        #[test]
        fn raising_registers_in_order_rebuilds_them(
            values in proptest::collection::vec((0usize..REGISTERS, 1u8..=51), 0..200),
            sparse_max in 20u64..4000,
        ) {
            let mut model = vec![0u8; REGISTERS];
            for &(i, v) in &values {
                model[i] = model[i].max(v);
            }
            let mut s = new_sparse();
            for (i, &v) in model.iter().enumerate() {
                if v > 0 {
                    raise(&mut s, i, v, sparse_max).expect("valid");
                }
            }
            prop_assert_eq!(registers(&s), model);
        }
    }
}
