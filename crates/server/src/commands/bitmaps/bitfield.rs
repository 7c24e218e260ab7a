//! BITFIELD's integers: signed and unsigned fields of 1 to 64 bits (unsigned up to 63) at
//! any bit offset of a string, bit 0 being the most significant bit of the first byte, and
//! the overflow rules of INCRBY and SET (WRAP, SAT, FAIL) as Redis computes them.
//!
//! Pure functions over byte slices: no keyspace, no replies. Bytes past the end of the
//! slice read as zero, so a GET beyond the string needs no padding.

/// A field's type, `i<bits>` or `u<bits>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldType {
    pub signed: bool,
    pub bits: u32,
}

impl FieldType {
    /// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`; the letter is
    /// case-sensitive and the number is read as C reads the argument, up to a NUL.
    pub fn parse(arg: &[u8]) -> Option<FieldType> {
        let signed = match arg.first() {
            Some(b'i') => true,
            Some(b'u') => false,
            _ => return None,
        };
        let bits = crate::util::parse_i64(crate::errors::c_string(&arg[1..]))?;
        let max = if signed { 64 } else { 63 };
        (1..=max).contains(&bits).then_some(FieldType {
            signed,
            bits: bits as u32,
        })
    }
}

/// What INCRBY and SET do with a result that does not fit the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

impl Overflow {
    /// `WRAP`, `SAT` or `FAIL`, in any letter case, compared as a C string.
    pub fn parse(arg: &[u8]) -> Option<Overflow> {
        let arg = crate::errors::c_string(arg);
        [
            (&b"wrap"[..], Overflow::Wrap),
            (b"sat", Overflow::Sat),
            (b"fail", Overflow::Fail),
        ]
        .into_iter()
        .find(|(name, _)| arg.eq_ignore_ascii_case(name))
        .map(|(_, o)| o)
    }
}

fn bit_at(buf: &[u8], offset: u64) -> u64 {
    match usize::try_from(offset >> 3).ok().and_then(|i| buf.get(i)) {
        Some(byte) => ((byte >> (7 - (offset & 7))) & 1) as u64,
        None => 0,
    }
}

/// The unsigned field of `bits` bits at bit `offset`.
pub fn get_unsigned(buf: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0, |value, j| (value << 1) | bit_at(buf, offset + j))
}

/// The signed (two's complement) field of `bits` bits at bit `offset`.
pub fn get_signed(buf: &[u8], offset: u64, bits: u32) -> i64 {
    let value = get_unsigned(buf, offset, bits);
    if bits < 64 && value & (1 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset`; the slice must reach that far.
pub fn set_bits(buf: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - j)) & 1;
        let at = offset + j;
        if let Some(byte) = usize::try_from(at >> 3).ok().and_then(|i| buf.get_mut(i)) {
            let shift = 7 - (at & 7);
            *byte = (*byte & !(1 << shift)) | ((bit as u8) << shift);
        }
    }
}

/// Whether `value + incr` overflows an unsigned field, as Redis's
/// `checkUnsignedBitfieldOverflow` decides it: `None` when it fits, else the value to
/// store under `overflow` (`None` inside for FAIL). SET checks its value with `incr` 0, so
/// a negative SET value, read as a huge unsigned one, overflows upwards (SAT gives the
/// maximum, as in Redis).
pub fn unsigned_overflow(
    value: u64,
    incr: i64,
    bits: u32,
    overflow: Overflow,
) -> Option<Option<u64>> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = 0u64.wrapping_sub(value) as i64;
    let wrapped = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    let (saturated, overflows) = if value > max || (incr > 0 && incr > max_incr) {
        (max, true)
    } else if incr < 0 && incr < min_incr {
        (0, true)
    } else {
        (0, false)
    };
    overflows.then(|| match overflow {
        Overflow::Wrap => Some(wrapped()),
        Overflow::Sat => Some(saturated),
        Overflow::Fail => None,
    })
}

/// `unsigned_overflow` for signed fields (Redis's `checkSignedBitfieldOverflow`): wrapping
/// keeps the low bits and extends their sign.
pub fn signed_overflow(
    value: i64,
    incr: i64,
    bits: u32,
    overflow: Overflow,
) -> Option<Option<i64>> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    let saturated = if value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr)
    {
        max
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        min
    } else {
        return None;
    };
    Some(match overflow {
        Overflow::Wrap => Some(wrapped()),
        Overflow::Sat => Some(saturated),
        Overflow::Fail => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The arithmetic model: exact sums in i128, then the field's range.
    fn model(signed: bool, bits: u32, exact: i128, overflow: Overflow) -> Option<Option<i128>> {
        let (min, max) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        if (min..=max).contains(&exact) {
            return None;
        }
        let modulus = 1i128 << bits;
        let mut wrapped = exact.rem_euclid(modulus);
        if signed && wrapped > max {
            wrapped -= modulus;
        }
        Some(match overflow {
            Overflow::Wrap => Some(wrapped),
            Overflow::Sat => Some(if exact > max { max } else { min }),
            Overflow::Fail => None,
        })
    }

    fn overflow_mode() -> impl Strategy<Value = Overflow> {
        prop_oneof![
            Just(Overflow::Wrap),
            Just(Overflow::Sat),
            Just(Overflow::Fail)
        ]
    }

    proptest! {
        #[test]
        fn signed_incrby_matches_the_model(bits in 1u32..=64, raw in any::<u64>(), incr in any::<i64>(), mode in overflow_mode()) {
            let mut buf = [0u8; 8];
            set_bits(&mut buf, 0, bits, raw);
            let value = get_signed(&buf, 0, bits);
            let got = signed_overflow(value, incr, bits, mode).map(|o| o.map(i128::from));
            prop_assert_eq!(got, model(true, bits, value as i128 + incr as i128, mode));
        }

        #[test]
        fn unsigned_incrby_matches_the_model(bits in 1u32..=63, raw in any::<u64>(), incr in any::<i64>(), mode in overflow_mode()) {
            let value = raw & ((1u64 << bits) - 1);
            let got = unsigned_overflow(value, incr, bits, mode).map(|o| o.map(i128::from));
            prop_assert_eq!(got, model(false, bits, value as i128 + incr as i128, mode));
        }

        #[test]
        fn signed_set_matches_the_model(bits in 1u32..=64, value in any::<i64>(), mode in overflow_mode()) {
            let got = signed_overflow(value, 0, bits, mode).map(|o| o.map(i128::from));
            let mut expected = model(true, bits, value as i128, mode);
            // Redis's quirk: below the minimum by more than i64::MAX from the maximum,
            // its `max - value` wraps negative and SAT saturates upwards.
            let max = (1i128 << (bits - 1)) - 1;
            if mode == Overflow::Sat && bits < 64 && max - value as i128 > i64::MAX as i128 {
                expected = Some(Some(max));
            }
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn unsigned_set_reads_negative_values_as_huge_ones(bits in 1u32..=63, value in any::<i64>(), mode in overflow_mode()) {
            let got = unsigned_overflow(value as u64, 0, bits, mode).map(|o| o.map(i128::from));
            prop_assert_eq!(got, model(false, bits, value as u64 as i128, mode));
        }

        #[test]
        fn fields_read_back_what_was_written_and_leave_neighbours_alone(
            bytes in proptest::collection::vec(any::<u8>(), 10..20),
            offset in 0u64..16,
            bits in 1u32..=64,
            value in any::<u64>(),
        ) {
            let mut buf = bytes.clone();
            set_bits(&mut buf, offset, bits, value);
            let mask = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            prop_assert_eq!(get_unsigned(&buf, offset, bits), value & mask);
            for bit in (0..offset).chain(offset + bits as u64..buf.len() as u64 * 8) {
                prop_assert_eq!(bit_at(&buf, bit), bit_at(&bytes, bit));
            }
        }
    }

    #[test]
    fn bits_count_from_the_most_significant_bit_of_the_first_byte() {
        let mut buf = [0u8; 2];
        set_bits(&mut buf, 7, 5, 23);
        assert_eq!(buf, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_signed(&[0xff], 0, 8), -1);
        assert_eq!(
            get_unsigned(&[0xff], 4, 8),
            0xf0,
            "past the end reads zeros"
        );
    }

    #[test]
    fn types_are_parsed_as_redis_parses_them() {
        assert_eq!(
            FieldType::parse(b"i64"),
            Some(FieldType {
                signed: true,
                bits: 64
            })
        );
        assert_eq!(
            FieldType::parse(b"u8\0x"),
            Some(FieldType {
                signed: false,
                bits: 8
            })
        );
        for bad in [&b"u64"[..], b"i0", b"I8", b"u", b"", b"i65", b"i+8", b"u08"] {
            assert_eq!(FieldType::parse(bad), None, "{bad:?}");
        }
    }
}
