//! The partial quicksort SORT uses when BY and LIMIT are both given: Bentley and
//! McIlroy's quicksort (the BSD libc `qsort`) that only recurses into partitions
//! overlapping the wanted range. It is not stable, so elements that compare equal come
//! out in the order this exact algorithm leaves them; lockstep follows it step by step
//! so that such ties come out as redis-server's do.

use std::cmp::Ordering;

/// Sorts enough of `v` that positions `from..=to` hold what a full sort would put there.
pub fn partial_sort<T>(
    v: &mut [T],
    from: usize,
    to: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) {
    let n = v.len();
    sort_range(v, 0, n, cmp, (from, to));
}

/// The median of three positions.
fn med3<T>(
    v: &[T],
    a: usize,
    b: usize,
    c: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) -> usize {
    if cmp(&v[a], &v[b]).is_lt() {
        if cmp(&v[b], &v[c]).is_lt() {
            b
        } else if cmp(&v[a], &v[c]).is_lt() {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]).is_gt() {
        b
    } else if cmp(&v[a], &v[c]).is_lt() {
        a
    } else {
        c
    }
}

fn insertion_sort<T>(v: &mut [T], base: usize, n: usize, cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    for m in base + 1..base + n {
        let mut l = m;
        while l > base && cmp(&v[l - 1], &v[l]).is_gt() {
            v.swap(l, l - 1);
            l -= 1;
        }
    }
}

/// Swaps the `n` elements from `a` with the `n` from `b`, pairwise.
fn swap_runs<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for k in 0..n {
        v.swap(a + k, b + k);
    }
}

/// Whether the partition of `len` elements at `start` lies wholly before or after the
/// wanted range (then it need not be sorted).
fn outside(start: usize, len: usize, (from, to): (usize, usize)) -> bool {
    (from < start && to < start) || (from >= start + len && to >= start + len)
}

fn sort_range<T>(
    v: &mut [T],
    mut base: usize,
    mut n: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
    range: (usize, usize),
) {
    loop {
        if n < 7 {
            insertion_sort(v, base, n, cmp);
            return;
        }
        let mut pm = base + n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (base, base + n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(base, pm);
        let (mut pa, mut pb) = (base + 1, base + 1);
        let (mut pc, mut pd) = (base + n - 1, base + n - 1);
        let mut swapped = false;
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[base]);
                if c.is_gt() {
                    break;
                }
                if c.is_eq() {
                    swapped = true;
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[base]);
                if c.is_lt() {
                    break;
                }
                if c.is_eq() {
                    swapped = true;
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            swapped = true;
            pb += 1;
            pc -= 1;
        }
        if !swapped {
            insertion_sort(v, base, n, cmp);
            return;
        }
        let pn = base + n;
        let r = (pa - base).min(pb - pa);
        swap_runs(v, base, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        swap_runs(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(base, r, range) {
            sort_range(v, base, r, cmp, range);
        }
        let r = pd - pc;
        if r > 1 {
            base = pn - r;
            n = r;
            if !outside(base, n, range) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_wanted_range_holds_what_a_full_sort_puts_there(
            mut v in proptest::collection::vec(0u8..20, 0..200),
            a in 0usize..200,
            b in 0usize..200,
        ) {
            prop_assume!(!v.is_empty());
            let (from, to) = (a.min(b) % v.len(), a.max(b) % v.len());
            let (from, to) = (from.min(to), from.max(to));
            let mut sorted = v.clone();
            sorted.sort();
            partial_sort(&mut v, from, to, &mut |x: &u8, y: &u8| x.cmp(y));
            prop_assert_eq!(&v[from..=to], &sorted[from..=to]);
        }
    }

    /// Sorts 1..=n by `weight`, wanting positions `from..=to`, and answers those.
    fn sorted(n: u32, weight: fn(u32) -> u32, from: usize, to: usize) -> Vec<u32> {
        let mut v: Vec<u32> = (1..=n).collect();
        partial_sort(&mut v, from, to, &mut |a: &u32, b: &u32| {
            weight(*a).cmp(&weight(*b))
        });
        v[from..=to].to_vec()
    }

    #[test]
    fn ties_come_out_in_redis_order() {
        // What redis-server 7.0.15 answers to `SORT l BY w_* ALPHA LIMIT ...` for these
        // lists and weights: BSD quicksort does not keep ties in their first order.
        assert_eq!(sorted(50, |_| 0, 0, 9), [50, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(sorted(50, |_| 0, 5, 7), [6, 7, 8]);
        assert_eq!(
            sorted(12, |i| i % 3, 0, 10),
            [9, 6, 3, 12, 7, 4, 1, 10, 5, 2, 11]
        );
    }
}
