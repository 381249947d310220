//! An exact sum of finite numbers ≥ 0, for the means over images (metrics in [0, 1],
//! surface distances of any size).
//!
//! Every finite f64 ≥ 0 is k · 2^-1074 for a whole k < 2^2098, so the sum of up to 2^64 of
//! them is a whole number of 2^-1074 that fits in 2162 bits: 34 64-bit limbs hold it with no
//! rounding at all. Adding is then associative and commutative, so the sum is the same
//! whatever the order the images arrive in, and the sums of the shards of a dataset add up to
//! the sum of the whole — bit for bit. The f64 of the sum is rounded once, to nearest.

/// Limbs of the fixed-point sum (little-endian): 2176 bits, value = integer · 2^-1074.
const LIMBS: usize = 34;
/// The most hex digits of a sum (`LIMBS` · 16).
const MAX_HEX: usize = LIMBS * 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExactSum([u64; LIMBS]);

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum([0; LIMBS])
    }
}

impl ExactSum {
    /// Adds `x`, a finite number ≥ 0 (what every metric and distance is); anything else is
    /// an error. After an error (also from [`ExactSum::merge`]: an overflow) the sum is not
    /// to be used.
    pub(crate) fn add(&mut self, x: f64) -> Result<(), String> {
        if !(x.is_finite() && x >= 0.0) {
            return Err(format!("{x} is not a finite number ≥ 0"));
        }
        let bits = x.to_bits();
        let (exp, frac) = ((bits >> 52) as usize & 0x7ff, bits & ((1 << 52) - 1));
        // x = mantissa · 2^(shift - 1074).
        let (mantissa, shift) = if exp == 0 { (frac, 0) } else { (frac | 1 << 52, exp - 1) };
        let (limb, bit) = (shift / 64, shift % 64);
        let wide = (mantissa as u128) << bit;
        self.add_at(limb, wide as u64)?;
        self.add_at(limb + 1, (wide >> 64) as u64)
    }

    /// Adds `other` into `self`.
    pub(crate) fn merge(&mut self, other: &ExactSum) -> Result<(), String> {
        let mut carry = false;
        for (a, &b) in self.0.iter_mut().zip(&other.0) {
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            *a = s2;
            carry = c1 || c2;
        }
        if carry {
            return Err("a sum overflows 2^1102".into());
        }
        Ok(())
    }

    /// `value` added at limb `at`, the carry propagated.
    fn add_at(&mut self, at: usize, value: u64) -> Result<(), String> {
        let mut carry = value;
        for limb in self.0.iter_mut().skip(at) {
            if carry == 0 {
                return Ok(());
            }
            let (s, c) = limb.overflowing_add(carry);
            *limb = s;
            carry = c as u64;
        }
        if carry == 0 {
            Ok(())
        } else {
            Err("a sum overflows 2^1102".into())
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }

    /// The 64 bits from bit `lo` up (bits past the top are zero).
    fn bits_from(&self, lo: usize) -> u64 {
        let (limb, bit) = (lo / 64, lo % 64);
        let low = self.0[limb] >> bit;
        let high = match self.0.get(limb + 1) {
            Some(&h) if bit > 0 => h << (64 - bit),
            _ => 0,
        };
        low | high
    }

    /// The sum as the nearest f64 (ties to even).
    pub(crate) fn to_f64(&self) -> f64 {
        let Some(top) =
            (0..LIMBS).rev().find(|&l| self.0[l] != 0).map(|l| l * 64 + 63 - self.0[l].leading_zeros() as usize)
        else {
            return 0.0;
        };
        if top < 53 {
            // Below 2^-1021: a multiple of 2^-1074 with at most 53 bits, exact in f64.
            return self.0[0] as f64 * f64::from_bits(1);
        }
        let lo = top - 52;
        let mut mantissa = self.bits_from(lo) & ((1 << 53) - 1);
        let half = self.bit(lo - 1);
        let sticky = (0..lo - 1).any(|i| self.bit(i));
        let mut top = top;
        if half && (sticky || mantissa & 1 == 1) {
            mantissa += 1;
            if mantissa == 1 << 53 {
                mantissa >>= 1;
                top += 1;
            }
        }
        // value = mantissa · 2^(top - 52 - 1074); biased exponent top - 1074 + 1023. Past the
        // largest f64 (only a sum of many huge numbers gets there): +∞.
        if top - 51 >= 0x7ff {
            return f64::INFINITY;
        }
        f64::from_bits(((top - 51) as u64) << 52 | (mantissa & ((1 << 52) - 1)))
    }

    /// The integer (value · 2^1074) in lowercase hex, no leading zeros ("0" for zero).
    pub(crate) fn to_hex(&self) -> String {
        let text: String = self.0.iter().rev().map(|l| format!("{l:016x}")).collect();
        match text.trim_start_matches('0') {
            "" => "0".into(),
            digits => digits.into(),
        }
    }

    /// The sum written by [`ExactSum::to_hex`]: 1 to 544 hex digits.
    pub(crate) fn from_hex(text: &str) -> Result<ExactSum, String> {
        if text.is_empty() || text.len() > MAX_HEX || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{}' is not an exact sum (1 to {MAX_HEX} hex digits)", shorten(text)));
        }
        let mut sum = ExactSum::default();
        for (i, chunk) in text.as_bytes().rchunks(16).enumerate() {
            // The chunk is ASCII hex digits: valid UTF-8 and a valid number.
            let digits = std::str::from_utf8(chunk).map_err(|e| e.to_string())?;
            sum.0[i] = u64::from_str_radix(digits, 16).map_err(|e| e.to_string())?;
        }
        Ok(sum)
    }
}

/// At most 40 characters of `text`, for an error message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f64]) -> ExactSum {
        let mut s = ExactSum::default();
        for &v in values {
            s.add(v).unwrap();
        }
        s
    }

    #[test]
    fn sums_of_dyadic_numbers_equal_plain_addition() {
        // Multiples of 2^-40 below 1: plain f64 addition of a few hundred is exact too.
        let mut state = 7u64;
        let values: Vec<f64> = (0..500)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 24) as f64 / (1u64 << 40) as f64
            })
            .collect();
        assert_eq!(sum_of(&values).to_f64(), values.iter().sum::<f64>());
    }

    #[test]
    fn the_sum_is_rounded_once_to_nearest() {
        // Ten times fl(0.1) is 1.0000000000000000555…: nearest f64 is 1, where adding in f64
        // gives 0.9999999999999999.
        assert_eq!(sum_of(&[0.1; 10]).to_f64(), 1.0);
        // 1 + 2^-53 is half-way between 1 and 1 + 2^-52: ties to even (1); a hair more rounds up.
        let half_ulp = 2f64.powi(-53);
        assert_eq!(sum_of(&[1.0, half_ulp]).to_f64(), 1.0);
        assert_eq!(sum_of(&[1.0, half_ulp, f64::from_bits(1)]).to_f64(), 1.0 + 2.0 * half_ulp);
        // 1 + 2^-52 + 2^-53: a tie between two neighbours, to the even one (1 + 2^-51).
        assert_eq!(sum_of(&[1.0, 2.0 * half_ulp, half_ulp]).to_f64(), 1.0 + 4.0 * half_ulp);
        // Subnormals are exact.
        assert_eq!(sum_of(&[f64::from_bits(1); 3]).to_f64(), f64::from_bits(3));
        assert_eq!(sum_of(&[]).to_f64(), 0.0);
        assert_eq!(sum_of(&[1.0; 1000]).to_f64(), 1000.0);
    }

    #[test]
    fn order_and_grouping_do_not_change_the_sum() {
        let values: Vec<f64> = (1..=300).map(|k| 1.0 / k as f64).chain([f64::from_bits(5), 1.0, 0.0]).collect();
        let whole = sum_of(&values);
        let mut reversed = values.clone();
        reversed.reverse();
        assert_eq!(sum_of(&reversed), whole);
        for cut in [0, 1, 150, values.len()] {
            let mut left = sum_of(&values[..cut]);
            left.merge(&sum_of(&values[cut..])).unwrap();
            assert_eq!(left, whole);
        }
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_a_sum() {
        let s = sum_of(&[0.3, 0.7, f64::from_bits(1), 1.0]);
        assert_eq!(ExactSum::from_hex(&s.to_hex()).unwrap(), s);
        assert_eq!(ExactSum::default().to_hex(), "0");
        assert_eq!(sum_of(&[f64::from_bits(1)]).to_hex(), "1");
        for bad in ["", "xyz", "-1", &"f".repeat(MAX_HEX + 1), "1 2"] {
            assert!(ExactSum::from_hex(bad).is_err(), "{bad}");
        }
        assert!(ExactSum::from_hex(&"f".repeat(MAX_HEX)).is_ok());
    }

    #[test]
    fn negative_or_non_finite_numbers_and_overflow_are_errors() {
        let mut s = ExactSum::default();
        for bad in [-0.5, -f64::MIN_POSITIVE, f64::NAN, f64::INFINITY] {
            assert!(s.add(bad).is_err(), "{bad}");
        }
        // Large numbers are exact too: the largest f64 twice, and 1.5 + 2^60.
        let mut big = ExactSum::default();
        big.add(f64::MAX / 2.0).unwrap();
        big.add(f64::MAX / 2.0).unwrap();
        assert_eq!(big.to_f64(), f64::MAX);
        assert_eq!(sum_of(&[1.5, 2f64.powi(60), 0.25]).to_f64(), 2f64.powi(60));
        assert_eq!(sum_of(&[1.5, 2.25, 1e300]).to_f64(), 1e300);
        assert_eq!(sum_of(&[1.5, 2.25, 7.0]).to_f64(), 10.75);
        let full = ExactSum::from_hex(&"f".repeat(MAX_HEX)).unwrap();
        assert!(full.clone().add(f64::from_bits(1)).is_err());
        assert!(full.clone().merge(&sum_of(&[f64::from_bits(1)])).is_err());
        assert!(full.clone().merge(&ExactSum::default()).is_ok());
    }
}
