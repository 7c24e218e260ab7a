//! `Args`: a cursor over a command's arguments that reads options and numbers with
//! Redis's exact errors, so handlers say what they expect instead of matching by hand.

use std::time::{Duration, Instant};

use crate::command::CommandError;
use crate::errors;
use crate::util::{parse_f64, parse_i64};

/// The arguments after the ones a handler took by position.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    argv: &'a [&'a [u8]],
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor at `argv[start]`.
    pub fn new(argv: &'a [&'a [u8]], start: usize) -> Args<'a> {
        Args { argv, pos: start }
    }

    /// Arguments left.
    pub fn remaining(&self) -> usize {
        self.argv.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next argument, if any.
    pub fn peek(&self) -> Option<&'a [u8]> {
        self.argv.get(self.pos).copied()
    }

    /// The next argument; `ERR syntax error` when there is none. (A cursor that fails
    /// with Redis's error, not an `Iterator`.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<&'a [u8], CommandError> {
        let arg = self.peek().ok_or(CommandError::from(errors::SYNTAX))?;
        self.pos += 1;
        Ok(arg)
    }

    /// Takes the next argument when it is `keyword`, in any letter case.
    pub fn keyword(&mut self, keyword: &str) -> bool {
        let found = self
            .peek()
            .is_some_and(|a| a.eq_ignore_ascii_case(keyword.as_bytes()));
        if found {
            self.pos += 1;
        }
        found
    }

    /// The next argument as an integer (Redis's `getLongLongFromObjectOrReply`).
    pub fn i64(&mut self) -> Result<i64, CommandError> {
        parse_i64(self.next()?).ok_or(errors::NOT_INTEGER.into())
    }

    /// The next argument as a float (Redis's `getDoubleFromObjectOrReply`).
    pub fn f64(&mut self) -> Result<f64, CommandError> {
        parse_f64(self.next()?).ok_or(errors::NOT_FLOAT.into())
    }

    /// The next argument as a blocking command's timeout in seconds, as Redis's
    /// `getTimeoutFromObjectOrReply` reads it: a long double, rounded up to whole
    /// milliseconds (`whole_millis`); `0` is forever (`None`). A product past the range of
    /// a long long becomes LLONG_MIN on the machines Redis runs on, hence "negative".
    pub fn timeout(&mut self, now: Instant) -> Result<Option<Instant>, CommandError> {
        let arg = self.next()?;
        let seconds = crate::commands::strings::long_double::LongDouble::parse(arg)
            .ok_or(CommandError::from(errors::TIMEOUT_NOT_FLOAT))?;
        let millis = u64::try_from(whole_millis(seconds))
            .map_err(|_| CommandError::from(errors::TIMEOUT_NEGATIVE))?;
        if millis == 0 {
            return Ok(None);
        }
        // Far enough to be forever for any runtime's timer.
        Ok(Some(
            now + Duration::from_millis(millis.min(100 * 365 * 86_400_000)),
        ))
    }

    /// The optional count of the pops (LPOP/RPOP, SPOP, ZPOPMIN/ZPOPMAX): absent, or a
    /// non-negative integer, else `ERR value is out of range, must be positive` (Redis
    /// checks it before it looks at the key).
    pub fn pop_count(&mut self) -> Result<Option<u64>, CommandError> {
        if self.is_empty() {
            return Ok(None);
        }
        let n = parse_i64(self.next()?).filter(|n| *n >= 0);
        Ok(Some(
            n.ok_or(CommandError::from(errors::MUST_BE_POSITIVE))? as u64
        ))
    }

    /// Fails with `ERR syntax error` when arguments are left.
    pub fn finish(&self) -> Result<(), CommandError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(errors::SYNTAX.into())
        }
    }
}

/// Redis 7.0's timeout in milliseconds, `(long long) ceill(seconds * 1000.0)` on a C
/// `long double`: the product rounded to the x87's 64-bit mantissa (to nearest, ties to
/// even), then up to a whole number (so any positive fraction of a millisecond waits one,
/// and a negative one above -1 ms is 0, forever); anything past the range of a long long
/// (infinities included) is LLONG_MIN, as the FPU's conversion gives. Exact, so that a
/// timeout just below the limit is accepted as Redis accepts it (an `f64` product would
/// round it past).
fn whole_millis(seconds: crate::commands::strings::long_double::LongDouble) -> i64 {
    use crate::commands::strings::long_double::LongDouble;
    let LongDouble::Finite { neg, mant, exp } = seconds else {
        return i64::MIN;
    };
    let mut product = mant as u128 * 1000;
    let mut exp = exp as i64;
    let bits = 128 - product.leading_zeros() as i64;
    if bits > 64 {
        let shift = bits - 64;
        let rest = product & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        product >>= shift;
        exp += shift;
        if rest > half || (rest == half && product & 1 == 1) {
            product += 1;
        }
    }
    let (whole, fraction) = if product == 0 {
        (0, false)
    } else if exp <= -128 {
        (0, true)
    } else if exp < 0 {
        (product >> -exp, product & ((1u128 << -exp) - 1) != 0)
    } else if 128 - product.leading_zeros() as i64 + exp > 64 {
        return i64::MIN;
    } else {
        (product << exp, false)
    };
    // Up: a positive fraction adds one; a negative one is dropped.
    let magnitude = whole + u128::from(fraction && !neg);
    match (neg, i64::try_from(magnitude)) {
        (false, Ok(n)) => n,
        (true, Ok(n)) => -n,
        // -2^63 itself, and everything past the range.
        _ => i64::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(argv: &'a [&'a [u8]]) -> Args<'a> {
        Args::new(argv, 0)
    }

    #[test]
    fn keywords_match_in_any_case_and_only_advance_on_a_match() {
        let argv: &[&[u8]] = &[b"Count", b"5"];
        let mut a = args(argv);
        assert!(!a.keyword("limit"));
        assert!(a.keyword("COUNT"));
        assert_eq!(a.i64(), Ok(5));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn numbers_fail_with_redis_errors() {
        let argv: &[&[u8]] = &[b"x", b"y"];
        let mut a = args(argv);
        assert_eq!(a.i64(), Err(errors::NOT_INTEGER.into()));
        assert_eq!(a.f64(), Err(errors::NOT_FLOAT.into()));
        assert_eq!(a.next(), Err(errors::SYNTAX.into()));
    }

    #[test]
    fn timeouts_read_as_redis_reads_them() {
        let now = Instant::now();
        let read = |t: &[u8]| {
            let argv: &[&[u8]] = &[t];
            args(argv).timeout(now)
        };
        assert_eq!(read(b"0"), Ok(None));
        assert_eq!(read(b"-0"), Ok(None));
        assert_eq!(read(b"-0.0001"), Ok(None));
        assert_eq!(read(b"0.0001"), Ok(Some(now + Duration::from_millis(1))));
        assert_eq!(read(b"0.01"), Ok(Some(now + Duration::from_millis(10))));
        assert_eq!(read(b"1.5"), Ok(Some(now + Duration::from_millis(1500))));
        for bad in [&b"abc"[..], b"nan", b" 1", b""] {
            assert_eq!(read(bad), Err(errors::TIMEOUT_NOT_FLOAT.into()), "{bad:?}");
        }
        for negative in [&b"-1"[..], b"-0.9", b"inf", b"1e20", b"1e400"] {
            assert_eq!(read(negative), Err(errors::TIMEOUT_NEGATIVE.into()));
        }
    }

    #[test]
    fn timeouts_near_the_limit_are_cut_where_a_long_long_of_milliseconds_ends() {
        use crate::commands::strings::long_double::LongDouble;
        let millis = |t: &str| whole_millis(LongDouble::parse(t.as_bytes()).unwrap());
        assert_eq!(millis("9223372036854775"), 9_223_372_036_854_775_000);
        assert_eq!(millis("9223372036854775.807"), i64::MAX);
        assert_eq!(millis("9223372036854775.8076171875"), i64::MIN);
        assert_eq!(millis("9223372036854775.808"), i64::MIN);
        assert_eq!(millis("9223372036854776"), i64::MIN);
        assert_eq!(millis("-9223372036854775.808"), -i64::MAX);
        assert_eq!(millis("-9223372036854775.809"), i64::MIN);
        assert_eq!(millis("-9223372036854776"), i64::MIN);
        assert_eq!(millis("-0.0009"), 0);
        assert_eq!(millis("0.0015"), 2);
        assert_eq!(millis("0.0001"), 1);
        assert_eq!(millis("1e-4000"), 1);
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(millis("-2.5"), -2500);
    }
}
