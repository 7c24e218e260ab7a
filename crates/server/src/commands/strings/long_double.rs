//! INCRBYFLOAT's arithmetic: the C `long double` of x86-64 (x87 80-bit extended precision,
//! a 64-bit mantissa with an explicit integer bit, a 15-bit exponent, subnormals) done
//! exactly in software, because an `f64` gives different text (`10.5 + 0.1` must print
//! `10.6`, and large values print every digit of their exact binary value).
//!
//! Three operations, each correctly rounded (round half to even) as glibc and the FPU are:
//! `parse` is Redis's `string2ld` (glibc `strtold` over the whole argument), `add` is the
//! FPU's addition, `to_human_string` is `ld2string(LD_STR_HUMAN)`: `%.17Lf` with the
//! trailing zeros and dot stripped. Everything is exact big-integer arithmetic; nothing
//! here touches the host's floating point.

use std::cmp::Ordering;

/// Longest text `string2ld` accepts is one byte shorter than this (`MAX_LONG_DOUBLE_CHARS`).
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Exponent of the least significant mantissa bit for the smallest normal and every
/// subnormal value: 2^-16382 is the smallest normal, its mantissa has 63 bits below it.
const EXP_MIN: i64 = -16382 - 63;
/// Exponent of the least significant mantissa bit of the largest finite value.
const EXP_MAX: i64 = 16383 - 63;
const MANT_TOP: u64 = 1 << 63;

/// An x87 extended-precision value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongDouble {
    /// `mant * 2^exp`. Normal values have the top mantissa bit set; subnormals have it
    /// clear and `exp == EXP_MIN`; zero has `mant == 0` (and keeps its sign).
    Finite {
        neg: bool,
        mant: u64,
        exp: i32,
    },
    Inf {
        neg: bool,
    },
    Nan,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble::Finite {
        neg: false,
        mant: 0,
        exp: 0,
    };

    /// The exact value of an integer (every i64 fits in 64 mantissa bits).
    pub fn from_i64(n: i64) -> LongDouble {
        let neg = n < 0;
        let abs = n.unsigned_abs();
        if abs == 0 {
            return LongDouble::ZERO;
        }
        let lz = abs.leading_zeros();
        LongDouble::Finite {
            neg,
            mant: abs << lz,
            exp: -(lz as i32),
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// Redis's `string2ld`: the whole text must be one `strtold` number; no leading space,
    /// no NaN, no overflow, and no underflow to zero (a subnormal result is accepted).
    /// Infinity is accepted (`inf`, `-Infinity`, ...); INCRBYFLOAT rejects it afterwards.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_LONG_DOUBLE_CHARS || is_c_space(text[0]) {
            return None;
        }
        let (neg, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Inf { neg });
        }
        let magnitude = if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            parse_hex(&body[2..])?
        } else {
            parse_decimal(body)?
        };
        let (mant, exp) = match magnitude {
            Magnitude::Zero => (0, 0),
            Magnitude::Ratio { num, den, exp2 } => match round(&num, &den, exp2) {
                Rounded::Finite(mant, exp) => (mant, exp),
                // strtold's ERANGE with HUGE_VAL or zero: string2ld refuses both.
                Rounded::Overflow | Rounded::Underflow => return None,
            },
        };
        Some(LongDouble::Finite { neg, mant, exp })
    }

    /// `self + other`, rounded to nearest even as the x87 FPU does in its default mode.
    pub fn add(self, other: LongDouble) -> LongDouble {
        use LongDouble::*;
        match (self, other) {
            (Nan, _) | (_, Nan) => Nan,
            (Inf { neg: a }, Inf { neg: b }) if a != b => Nan,
            (Inf { neg }, _) | (_, Inf { neg }) => Inf { neg },
            (
                Finite {
                    neg: na,
                    mant: ma,
                    exp: ea,
                },
                Finite {
                    neg: nb,
                    mant: mb,
                    exp: eb,
                },
            ) => {
                if ma == 0 && mb == 0 {
                    // IEEE: -0 + -0 is -0, any other sum of zeros is +0.
                    return Finite {
                        neg: na && nb,
                        mant: 0,
                        exp: 0,
                    };
                }
                if ma == 0 {
                    return other;
                }
                if mb == 0 {
                    return self;
                }
                let base = ea.min(eb);
                let a = Big::from_u128(ma as u128).shl((ea - base) as usize);
                let b = Big::from_u128(mb as u128).shl((eb - base) as usize);
                let (neg, sum) = if na == nb {
                    (na, a.add(&b))
                } else {
                    match a.cmp(&b) {
                        Ordering::Equal => return LongDouble::ZERO,
                        Ordering::Greater => (na, a.sub(&b)),
                        Ordering::Less => (nb, b.sub(&a)),
                    }
                };
                match round(&sum, &Big::from_u128(1), base as i64) {
                    Rounded::Finite(mant, exp) => Finite { neg, mant, exp },
                    Rounded::Overflow => Inf { neg },
                    // A sum of multiples of the smallest subnormal is exactly representable.
                    Rounded::Underflow => LongDouble::ZERO,
                }
            }
        }
    }

    /// `ld2string(LD_STR_HUMAN)`: `%.17Lf`, then trailing zeros and a trailing dot removed,
    /// and `-0` written `0`.
    pub fn to_human_string(self) -> String {
        let (neg, mant, exp) = match self {
            LongDouble::Inf { neg } => return if neg { "-inf" } else { "inf" }.to_string(),
            LongDouble::Nan => return "nan".to_string(),
            LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let mut text = String::new();
        if neg {
            text.push('-');
        }
        if exp >= 0 {
            let int = Big::from_u128(mant as u128).shl(exp as usize);
            text.push_str(&int.to_decimal());
        } else {
            // The value times 10^17, rounded half to even, fits in 121 bits.
            const SCALE: u128 = 100_000_000_000_000_000;
            let shift = (-exp) as u32;
            let scaled = mant as u128 * SCALE;
            let q = if shift > 126 {
                0
            } else {
                let q = scaled >> shift;
                let rem = scaled & ((1u128 << shift) - 1);
                let half = 1u128 << (shift - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            text.push_str(&format!("{}.{:017}", q / SCALE, q % SCALE));
        }
        if text.contains('.') {
            let keep = text.trim_end_matches('0').trim_end_matches('.').len();
            text.truncate(keep);
        }
        if text == "-0" {
            text = "0".to_string();
        }
        text
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// An unsigned number as `num / den * 2^exp2`, before rounding.
enum Magnitude {
    Zero,
    Ratio { num: Big, den: Big, exp2: i64 },
}

/// Parses `[digits][.digits][e[+-]digits]` (at least one mantissa digit) as strtold does.
/// `None` when the text is not entirely such a number, or overflows.
fn parse_decimal(s: &[u8]) -> Option<Magnitude> {
    let (digits, frac_len, rest) = mantissa_digits(s, |c| c.is_ascii_digit())?;
    let exp10 = match rest.first() {
        None => 0,
        Some(b'e' | b'E') => exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let significant = strip_zeros(&digits);
    let Some((sig, trailing)) = significant else {
        return Some(Magnitude::Zero);
    };
    // The value is sig * 10^e10, with 10^(n-1+e10) <= value < 10^(n+e10).
    let e10 = exp10
        .saturating_sub(frac_len as i64)
        .saturating_add(trailing as i64);
    let n = sig.len() as i64;
    if n - 1 + e10 >= 4933 {
        return None; // above LDBL_MAX (about 1.19e4932): ERANGE with HUGE_VAL
    }
    if n + e10 < -4955 {
        // Below half the smallest subnormal (about 3.6e-4951): ERANGE with zero.
        return None;
    }
    let mut num = Big::from_u128(0);
    for chunk in sig.chunks(9) {
        let mut v: u32 = 0;
        for &c in chunk {
            v = v * 10 + (c - b'0') as u32;
        }
        num.mul_small(10u32.pow(chunk.len() as u32));
        num.add_small(v);
    }
    let (num, den) = if e10 >= 0 {
        (num.mul(&Big::pow10(e10 as usize)), Big::from_u128(1))
    } else {
        (num, Big::pow10((-e10) as usize))
    };
    Some(Magnitude::Ratio { num, den, exp2: 0 })
}

/// Parses the part after `0x`: `[hex][.hex][p[+-]digits]`, at least one hex digit.
fn parse_hex(s: &[u8]) -> Option<Magnitude> {
    let (digits, frac_len, rest) = mantissa_digits(s, |c| c.is_ascii_hexdigit())?;
    let exp2 = match rest.first() {
        None => 0,
        Some(b'p' | b'P') => exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let Some((sig, trailing)) = strip_zeros(&digits) else {
        return Some(Magnitude::Zero);
    };
    let e2 = exp2
        .saturating_sub(4 * frac_len as i64)
        .saturating_add(4 * trailing as i64);
    let bits = 4 * sig.len() as i64;
    if e2.saturating_add(bits) > 16390 {
        return None;
    }
    if e2.saturating_add(bits) < -16450 {
        return None;
    }
    let mut num = Big::from_u128(0);
    for &c in sig {
        num.mul_small(16);
        num.add_small((c as char).to_digit(16).unwrap_or(0));
    }
    Some(Magnitude::Ratio {
        num,
        den: Big::from_u128(1),
        exp2: e2,
    })
}

/// Splits `digits[.digits]` off the front: all the digits (without the dot), how many came
/// after the dot, and what follows. `None` when there is no digit at all.
fn mantissa_digits(s: &[u8], is_digit: impl Fn(u8) -> bool) -> Option<(Vec<u8>, usize, &[u8])> {
    let int_len = s.iter().take_while(|&&c| is_digit(c)).count();
    let mut digits = s[..int_len].to_vec();
    let mut rest = &s[int_len..];
    let mut frac_len = 0;
    if rest.first() == Some(&b'.') {
        frac_len = rest[1..].iter().take_while(|&&c| is_digit(c)).count();
        digits.extend_from_slice(&rest[1..1 + frac_len]);
        rest = &rest[1 + frac_len..];
    }
    if digits.is_empty() {
        return None;
    }
    Some((digits, frac_len, rest))
}

/// The digits without leading and trailing zeros, and how many trailing zeros there were.
/// `None` when every digit is zero.
fn strip_zeros(digits: &[u8]) -> Option<(&[u8], usize)> {
    let start = digits.iter().position(|&c| c != b'0')?;
    let end = digits.iter().rposition(|&c| c != b'0')? + 1;
    Some((&digits[start..end], digits.len() - end))
}

/// An exponent: `[+-]digits`, the whole rest of the text. Saturates far beyond any range
/// that matters, so that `1e99999999999999999999` is an overflow and not an error here.
fn exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        v = (v * 10 + (c - b'0') as i64).min(1 << 40);
    }
    Some(if neg { -v } else { v })
}

enum Rounded {
    Finite(u64, i32),
    Overflow,
    /// The value rounded to zero.
    Underflow,
}

/// Rounds `num / den * 2^exp2` (num > 0) to the nearest extended-precision value.
fn round(num: &Big, den: &Big, exp2: i64) -> Rounded {
    // Choose e0 so that q = value / 2^e0 lies in [2^64, 2^66): at least one bit more than
    // the mantissa holds, so that the rounding bit is in q and the rest in `sticky`.
    let e0 = num.bit_len() as i64 - den.bit_len() as i64 - 65 + exp2;
    let k = exp2 - e0;
    let (q, mut sticky) = if k >= 0 {
        num.shl(k as usize).div_small_quotient(den)
    } else {
        num.div_small_quotient(&den.shl((-k) as usize))
    };
    let mut shift: i64 = if q >> 65 != 0 { 2 } else { 1 };
    let mut exp = e0 + shift;
    if exp < EXP_MIN {
        shift += EXP_MIN - exp;
        exp = EXP_MIN;
    }
    let (mut mant, round_bit) = if shift > 100 {
        sticky = true;
        (0, false)
    } else {
        let below = q & ((1u128 << (shift - 1)) - 1);
        sticky |= below != 0;
        (q >> shift, (q >> (shift - 1)) & 1 == 1)
    };
    if round_bit && (sticky || mant & 1 == 1) {
        mant += 1;
    }
    if mant >> 64 != 0 {
        mant >>= 1;
        exp += 1;
    }
    if exp > EXP_MAX {
        return Rounded::Overflow;
    }
    if mant == 0 {
        return Rounded::Underflow;
    }
    debug_assert!(mant as u64 >= MANT_TOP || exp == EXP_MIN);
    Rounded::Finite(mant as u64, exp as i32)
}

/// A non-negative big integer, little-endian base 2^32 limbs, no leading zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big {
    limbs: Vec<u32>,
}

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big { limbs }
    }

    fn pow10(n: usize) -> Big {
        let mut b = Big::from_u128(1);
        for _ in 0..n / 9 {
            b.mul_small(1_000_000_000);
        }
        b.mul_small(10u32.pow((n % 9) as u32));
        b
    }

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn bit_len(&self) -> usize {
        match self.limbs.last() {
            None => 0,
            Some(&top) => self.limbs.len() * 32 - top.leading_zeros() as usize,
        }
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry: u64 = 0;
        for limb in self.limbs.iter_mut() {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = a as u64;
        for limb in self.limbs.iter_mut() {
            if carry == 0 {
                break;
            }
            let v = *limb as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    fn mul(&self, other: &Big) -> Big {
        if self.is_zero() || other.is_zero() {
            return Big { limbs: Vec::new() };
        }
        let mut out = vec![0u32; self.limbs.len() + other.limbs.len()];
        for (i, &a) in self.limbs.iter().enumerate() {
            let mut carry: u64 = 0;
            for (j, &b) in other.limbs.iter().enumerate() {
                let v = out[i + j] as u64 + a as u64 * b as u64 + carry;
                out[i + j] = v as u32;
                carry = v >> 32;
            }
            out[i + other.limbs.len()] = carry as u32;
        }
        let mut b = Big { limbs: out };
        b.trim();
        b
    }

    fn shl(&self, bits: usize) -> Big {
        if self.is_zero() {
            return self.clone();
        }
        let (words, rem) = (bits / 32, bits % 32);
        let mut limbs = vec![0u32; words];
        if rem == 0 {
            limbs.extend_from_slice(&self.limbs);
        } else {
            let mut carry = 0u32;
            for &l in &self.limbs {
                limbs.push((l << rem) | carry);
                carry = l >> (32 - rem);
            }
            if carry != 0 {
                limbs.push(carry);
            }
        }
        Big { limbs }
    }

    fn add(&self, other: &Big) -> Big {
        let (long, short) = if self.limbs.len() >= other.limbs.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut limbs = Vec::with_capacity(long.limbs.len() + 1);
        let mut carry = 0u64;
        for (i, &l) in long.limbs.iter().enumerate() {
            let v = l as u64 + *short.limbs.get(i).unwrap_or(&0) as u64 + carry;
            limbs.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
        Big { limbs }
    }

    /// `self - other`; `self >= other` is the caller's promise.
    fn sub(&self, other: &Big) -> Big {
        let mut limbs = Vec::with_capacity(self.limbs.len());
        let mut borrow = 0i64;
        for (i, &l) in self.limbs.iter().enumerate() {
            let mut v = l as i64 - *other.limbs.get(i).unwrap_or(&0) as i64 - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            limbs.push(v as u32);
        }
        let mut b = Big { limbs };
        b.trim();
        b
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    /// `floor(self / den)` when the quotient is known to be below 2^66, and whether the
    /// division left a remainder. Shift-and-subtract: few quotient bits, any divisor size.
    fn div_small_quotient(&self, den: &Big) -> (u128, bool) {
        let mut rem = self.clone();
        let mut q: u128 = 0;
        for bit in (0..66).rev() {
            let d = den.shl(bit);
            if rem.cmp(&d) != Ordering::Less {
                rem = rem.sub(&d);
                q |= 1u128 << bit;
            }
        }
        (q, !rem.is_zero())
    }

    /// Divides in place by `d`, returning the remainder.
    fn div_rem_small(&mut self, d: u32) -> u32 {
        let mut rem: u64 = 0;
        for limb in self.limbs.iter_mut().rev() {
            let cur = (rem << 32) | *limb as u64;
            *limb = (cur / d as u64) as u32;
            rem = cur % d as u64;
        }
        self.trim();
        rem as u32
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_rem_small(1_000_000_000));
        }
        let mut text = String::with_capacity(chunks.len() * 9);
        for (i, c) in chunks.iter().rev().enumerate() {
            if i == 0 {
                text.push_str(&c.to_string());
            } else {
                text.push_str(&format!("{c:09}"));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `string2ld`, `+`, `ld2string(LD_STR_HUMAN)`: what INCRBYFLOAT does.
    fn incr(value: &str, by: &str) -> Option<String> {
        let v = LongDouble::parse(value.as_bytes())?;
        let b = LongDouble::parse(by.as_bytes())?;
        let sum = v.add(b);
        sum.is_finite().then(|| sum.to_human_string())
    }

    fn human(text: &str) -> String {
        LongDouble::parse(text.as_bytes())
            .map(|v| v.to_human_string())
            .unwrap_or_else(|| "invalid".to_string())
    }

    #[test]
    fn decimal_sums_print_as_redis_does() {
        // Expected values come from redis-server 7.0.15 (and glibc strtold/printf).
        assert_eq!(incr("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(incr("0", "0.1").as_deref(), Some("0.1"));
        assert_eq!(incr("3.0e3", "200").as_deref(), Some("3200"));
        assert_eq!(incr("16", "0x1p3").as_deref(), Some("24"));
        assert_eq!(incr("5", "-5").as_deref(), Some("0"));
        assert_eq!(incr("0", "-0.0").as_deref(), Some("0"));
        assert_eq!(incr("0", "-1e-30").as_deref(), Some("0"));
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
    }

    #[test]
    fn sums_match_glibc_strtold_and_printf() {
        // (value, increment, printed sum) from glibc's strtold, x87 addition and %.17Lf.
        let cases = [
            ("-0x1p72", "-83029e-4935", "-4722366482869645213696"),
            ("-0x1p-16", "89202e-4931", "-0.0000152587890625"),
            ("0xef8bb806c47aac97p-16407", "-0x1p-94", "0"),
            (
                "+692712127587.672150778543534850",
                "+0e4936",
                "692712127587.67215079069137573",
            ),
            ("-0e4931", "-059.37834", "-59.37834"),
            ("+8.169", "-5912.841581", "-5904.6725810000000001"),
            (
                "-750063336738572982682",
                "58.83349",
                "-750063336738572982592",
            ),
            (
                "00443.610214",
                "5579303349022195100.31546007432487683",
                "5579303349022195544",
            ),
            (
                "9.",
                "303056740184095286.66304909215203808530508",
                "303056740184095295.65625",
            ),
            ("567.", "5154154892161648929", "5154154892161649496"),
            ("483046108398113e-3098", "+27488346356", "27488346356"),
            (
                "-0x27bbE847ECB71F2p-9135",
                "+49233.31",
                "49233.30999999999999872",
            ),
            ("0x1p64", "0x1p23", "18446744073717940224"),
            ("177.631", "0", "177.63100000000000001"),
        ];
        for (value, by, sum) in cases {
            assert_eq!(incr(value, by).as_deref(), Some(sum), "{value} + {by}");
        }
    }

    #[test]
    fn large_values_print_their_exact_binary_value() {
        assert_eq!(
            human("1e300"),
            "1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144"
        );
        assert_eq!(incr("1e300", "-1e300").as_deref(), Some("0"));
    }

    #[test]
    fn printing_rounds_ties_to_even() {
        // 2^-18 = 0.000003814697265625 and 3 * 2^-18 end in a 5 at the 18th decimal.
        assert_eq!(human("0x1p-18"), "0.00000381469726562");
        assert_eq!(human("0x3p-18"), "0.00001144409179688");
    }

    #[test]
    fn negative_zero_prints_as_zero() {
        assert_eq!(human("-0"), "0");
        assert_eq!(human("-0.000000000000000001"), "0");
    }

    #[test]
    fn parse_rejects_what_string2ld_rejects() {
        for bad in [
            "", " 1", "1 ", "\t1", "\x0b1", "nan", "-nan", "NaN(123)", "1e", "1e+", ".", "-",
            "+-1", "0x", "0x1p", "1.5\0abc", "\0", "1e5000", "-1e5000", "1e-5000", "abc", "infin",
            "0x.p1", "1,5",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn parse_accepts_what_string2ld_accepts() {
        for good in [
            "1",
            "+.5",
            "5.",
            "-5.5e-3",
            "0x10",
            "0X1P-2",
            "0x.8",
            "inf",
            "-Infinity",
            "1e-4940",
            "0e-5000",
            "00001",
            "1E+2",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
    }

    #[test]
    fn text_of_5120_bytes_or_more_is_rejected() {
        let long = "1".repeat(MAX_LONG_DOUBLE_CHARS);
        assert_eq!(LongDouble::parse(long.as_bytes()), None);
        let ok = format!("0.{}", "1".repeat(MAX_LONG_DOUBLE_CHARS - 3));
        assert_eq!(human(&ok), "0.11111111111111111");
    }

    #[test]
    fn infinities_add_as_ieee() {
        let inf = LongDouble::parse(b"inf").unwrap();
        let ninf = LongDouble::parse(b"-inf").unwrap();
        assert_eq!(inf.add(ninf), LongDouble::Nan);
        assert_eq!(inf.add(LongDouble::from_i64(1)), inf);
        assert!(!inf.is_finite());
    }

    #[test]
    fn integers_convert_exactly() {
        assert_eq!(
            LongDouble::from_i64(i64::MIN).to_human_string(),
            "-9223372036854775808"
        );
        assert_eq!(
            LongDouble::from_i64(i64::MAX).to_human_string(),
            "9223372036854775807"
        );
        assert_eq!(LongDouble::from_i64(0).to_human_string(), "0");
    }

    #[test]
    fn sum_past_the_largest_value_overflows_to_infinity() {
        let max = LongDouble::parse(b"1.18973149535723176502e+4932").unwrap();
        assert!(max.is_finite());
        assert_eq!(max.add(max), LongDouble::Inf { neg: false });
    }
}
