//! LCS's algorithm: the longest common subsequence of two byte strings by Redis's dynamic
//! programming table, walked back the way `lcsCommand` walks it, so that the string and the
//! match ranges it reports (and their order, last match first) are the ones Redis reports.

/// One run of matching bytes: `a[a_start..=a_end]` equals `b[b_start..=b_end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub a_start: u32,
    pub a_end: u32,
    pub b_start: u32,
    pub b_end: u32,
    pub len: u32,
}

/// What the table walk produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lcs {
    /// The longest common subsequence itself (only when asked for).
    pub text: Vec<u8>,
    pub len: u32,
    /// Runs at least `min_match_len` long, from the end of the strings backwards.
    pub matches: Vec<Match>,
}

/// Why the table could not be built.
#[derive(Debug, PartialEq, Eq)]
pub enum LcsError {
    /// An input of 2^32 - 2 bytes or more.
    TooLong,
    /// The table would be larger than `proto-max-bulk-len` bytes.
    TableTooBig,
    /// The allocation of the table failed.
    OutOfMemory,
}

/// Bytes the table of `a_len` by `b_len` inputs takes, as Redis computes it, or `None`
/// when that computation overflows.
fn table_bytes(a_len: usize, b_len: usize) -> Option<u64> {
    (a_len as u64 + 1)
        .checked_mul(b_len as u64 + 1)?
        .checked_mul(std::mem::size_of::<u32>() as u64)
}

/// Computes the LCS of `a` and `b`. `want_text` and `want_matches` say what to collect;
/// matches shorter than `min_match_len` are left out.
pub fn lcs(
    a: &[u8],
    b: &[u8],
    want_text: bool,
    want_matches: bool,
    min_match_len: i64,
    max_table_bytes: u64,
) -> Result<Lcs, LcsError> {
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Err(LcsError::TooLong);
    }
    let (alen, blen) = (a.len(), b.len());
    let bytes = table_bytes(alen, blen).ok_or(LcsError::OutOfMemory)?;
    if bytes > max_table_bytes {
        return Err(LcsError::TableTooBig);
    }
    let cells = (alen + 1) * (blen + 1);
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(cells)
        .map_err(|_| LcsError::OutOfMemory)?;
    table.resize(cells, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    let mut out = Lcs {
        len: total,
        ..Lcs::default()
    };
    if !want_text && !want_matches {
        return Ok(out);
    }
    let mut text = vec![0u8; total as usize];
    let mut idx = total as usize;
    // `alen` as a start means "no range open", as in Redis.
    let none = alen as u32;
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (none, 0u32, 0u32, 0u32);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            text[idx - 1] = a[i - 1];
            if a_start == none {
                a_start = (i - 1) as u32;
                a_end = (i - 1) as u32;
                b_start = (j - 1) as u32;
                b_end = (j - 1) as u32;
            } else if a_start == i as u32 && b_start == j as u32 {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != none {
                emit = true;
            }
        }
        if emit {
            let len = a_end.wrapping_sub(a_start).wrapping_add(1);
            if want_matches && (min_match_len == 0 || len as i64 >= min_match_len) {
                out.matches.push(Match {
                    a_start,
                    a_end,
                    b_start,
                    b_end,
                    len,
                });
            }
            a_start = none;
        }
    }
    if want_text {
        out.text = text;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: u64 = 512 * 1024 * 1024;

    #[test]
    fn finds_the_subsequence_of_the_redis_docs_example() {
        let r = lcs(b"ohmytext", b"mynewtext", true, false, 0, BIG).unwrap();
        assert_eq!(r.text, b"mytext");
        assert_eq!(r.len, 6);
    }

    #[test]
    fn reports_matches_last_first() {
        let r = lcs(b"ohmytext", b"mynewtext", false, true, 0, BIG).unwrap();
        let ranges: Vec<_> = r
            .matches
            .iter()
            .map(|m| (m.a_start, m.a_end, m.b_start, m.b_end, m.len))
            .collect();
        assert_eq!(ranges, vec![(4, 7, 5, 8, 4), (2, 3, 0, 1, 2)]);
    }

    #[test]
    fn min_match_len_drops_short_runs() {
        let r = lcs(b"ohmytext", b"mynewtext", false, true, 4, BIG).unwrap();
        assert_eq!(r.matches.len(), 1);
        assert_eq!(r.matches[0].len, 4);
    }

    #[test]
    fn empty_inputs_have_an_empty_lcs() {
        let r = lcs(b"", b"abc", true, true, 0, BIG).unwrap();
        assert_eq!(r, Lcs::default());
    }

    #[test]
    fn table_larger_than_the_limit_is_refused() {
        assert_eq!(
            lcs(b"abcd", b"abcd", true, false, 0, 99),
            Err(LcsError::TableTooBig)
        );
        assert!(lcs(b"abcd", b"abcd", true, false, 0, 100).is_ok());
    }
}
