//! Exact decimals for FHIRPath.
//!
//! FHIR decimals carry their precision (`1.50` is not `1.5` for `precision()` and for the string
//! form), and binary floating point would make `0.1 + 0.2 = 0.3` false. A decimal here is an
//! `i128` mantissa with a base-10 scale: 28 significant digits, far beyond the 18 FHIR allows, with
//! checked arithmetic so overflow is an empty result rather than a wrong one.

use std::cmp::Ordering;
use std::fmt;

/// Largest scale we keep (digits after the point).
const MAX_SCALE: u32 = 28;

/// An exact decimal number: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
    /// A zero reached from below (`(-0.0034).lowBoundary(1)` is `-0.0`): printed with its sign,
    /// equal to zero everywhere else.
    neg_zero: bool,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
        neg_zero: false,
    };

    pub fn new(mantissa: i128, scale: u32) -> Decimal {
        Decimal {
            mantissa,
            scale,
            neg_zero: false,
        }
    }

    /// A zero with the given scale that prints as `-0.0…` (see the field docs).
    pub fn negative_zero(scale: u32) -> Decimal {
        Decimal {
            mantissa: 0,
            scale,
            neg_zero: true,
        }
    }

    pub fn from_i64(v: i64) -> Decimal {
        Decimal::new(v as i128, 0)
    }

    pub fn mantissa(self) -> i128 {
        self.mantissa
    }

    pub fn scale(self) -> u32 {
        self.scale
    }

    /// Parses `-12.340`, `5`, `+1.0`, `1e3` (exponents are accepted for JSON numbers).
    pub fn parse(s: &str) -> Option<Decimal> {
        let (mant_part, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, body) = match mant_part.as_bytes().first()? {
            b'-' => (true, &mant_part[1..]),
            b'+' => (false, &mant_part[1..]),
            _ => (false, mant_part),
        };
        let (int, frac) = match body.find('.') {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if body.contains('.') && frac.is_empty() {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m.checked_mul(10)?.checked_add((b - b'0') as i128)?;
        }
        let mut scale = frac.len() as i32 - exp;
        if scale < 0 {
            m = m.checked_mul(pow10((-scale) as u32)?)?;
            scale = 0;
        }
        if scale as u32 > 38 {
            return None;
        }
        let d = Decimal::new(if neg { -m } else { m }, scale as u32);
        Some(d)
    }

    /// Exact conversion from a JSON number (which serde_json keeps as i64/u64/f64).
    pub fn from_json_number(n: &serde_json::Number) -> Option<Decimal> {
        if let Some(i) = n.as_i64() {
            return Some(Decimal::from_i64(i));
        }
        if let Some(u) = n.as_u64() {
            return Some(Decimal::new(u as i128, 0));
        }
        Decimal::parse(&n.to_string())
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        if scale >= self.scale {
            self.mantissa.checked_mul(pow10(scale - self.scale)?)
        } else {
            Some(self.mantissa / pow10(self.scale - scale)?)
        }
    }

    fn align(a: Decimal, b: Decimal) -> Option<(i128, i128, u32)> {
        let s = a.scale.max(b.scale);
        Some((a.rescale(s)?, b.rescale(s)?, s))
    }

    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    pub fn checked_add(self, o: Decimal) -> Option<Decimal> {
        let (a, b, s) = Decimal::align(self, o)?;
        Some(Decimal::new(a.checked_add(b)?, s))
    }

    pub fn checked_sub(self, o: Decimal) -> Option<Decimal> {
        let (a, b, s) = Decimal::align(self, o)?;
        Some(Decimal::new(a.checked_sub(b)?, s))
    }

    pub fn checked_mul(self, o: Decimal) -> Option<Decimal> {
        let m = self.mantissa.checked_mul(o.mantissa)?;
        Decimal::new(m, self.scale + o.scale).reduce_scale(MAX_SCALE)
    }

    /// Division to 8 decimal places beyond the operands (then trailing zeros trimmed), enough for
    /// FHIRPath's "at least 8 digits of precision". Empty on division by zero.
    pub fn checked_div(self, o: Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        let target = 8u32.max(self.scale).max(o.scale);
        // a / b = (ma * 10^(sb - sa + target)) / mb, scale target
        let shift = target as i64 + o.scale as i64 - self.scale as i64;
        let (num, den) = if shift >= 0 {
            (self.mantissa.checked_mul(pow10(shift as u32)?)?, o.mantissa)
        } else {
            (
                self.mantissa,
                o.mantissa.checked_mul(pow10((-shift) as u32)?)?,
            )
        };
        let q = num / den;
        let r = num % den;
        // round half away from zero
        let q = if (r.abs() * 2) >= den.abs() {
            if (num < 0) ^ (den < 0) { q - 1 } else { q + 1 }
        } else {
            q
        };
        Some(Decimal::new(q, target).trim())
    }

    /// Truncated integer division (`div`).
    pub fn checked_div_int(self, o: Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        let (a, b, _) = Decimal::align(self, o)?;
        Some(Decimal::new(a / b, 0))
    }

    /// Remainder (`mod`), sign of the dividend.
    pub fn checked_rem(self, o: Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        let (a, b, s) = Decimal::align(self, o)?;
        Some(Decimal::new(a % b, s))
    }

    pub fn abs(self) -> Decimal {
        Decimal::new(self.mantissa.abs(), self.scale)
    }

    /// Removes trailing fractional zeros.
    pub fn trim(self) -> Decimal {
        let mut d = self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    fn reduce_scale(self, max: u32) -> Option<Decimal> {
        if self.scale <= max {
            return Some(self);
        }
        Some(self.round(max))
    }

    /// Rounds half away from zero to `digits` decimal places.
    pub fn round(self, digits: u32) -> Decimal {
        if digits >= self.scale {
            return self;
        }
        let Some(p) = pow10(self.scale - digits) else {
            return Decimal::ZERO;
        };
        let q = self.mantissa / p;
        let r = self.mantissa % p;
        let q = if r.abs() * 2 >= p {
            if self.mantissa < 0 { q - 1 } else { q + 1 }
        } else {
            q
        };
        Decimal::new(q, digits)
    }

    /// Truncates toward zero to `digits` places.
    pub fn truncate_to(self, digits: u32) -> Decimal {
        if digits >= self.scale {
            return self;
        }
        match pow10(self.scale - digits) {
            Some(p) => Decimal::new(self.mantissa / p, digits),
            None => Decimal::ZERO,
        }
    }

    pub fn floor(self) -> Decimal {
        let t = self.truncate_to(0);
        if self.mantissa < 0 && t.cmp_value(self) != Ordering::Equal {
            Decimal::new(t.mantissa - 1, 0)
        } else {
            t
        }
    }

    pub fn ceil(self) -> Decimal {
        let t = self.truncate_to(0);
        if self.mantissa > 0 && t.cmp_value(self) != Ordering::Equal {
            Decimal::new(t.mantissa + 1, 0)
        } else {
            t
        }
    }

    /// Integer value when the number has no fractional part and fits an i64.
    pub fn to_i64_exact(self) -> Option<i64> {
        let t = self.trim();
        if t.scale != 0 {
            return None;
        }
        i64::try_from(t.mantissa).ok()
    }

    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// From a float result of a math function, keeping up to 8 fractional digits (trimmed).
    pub fn from_f64(v: f64) -> Option<Decimal> {
        if !v.is_finite() {
            return None;
        }
        let s = format!("{v:.8}");
        Some(Decimal::parse(&s)?.trim())
    }

    /// Numeric comparison, ignoring scale (`1.0` = `1`).
    pub fn cmp_value(self, o: Decimal) -> Ordering {
        match Decimal::align(self, o) {
            Some((a, b, _)) => a.cmp(&b),
            None => {
                // Overflow on alignment: compare as floats (only for absurd scales).
                self.to_f64()
                    .partial_cmp(&o.to_f64())
                    .unwrap_or(Ordering::Equal)
            }
        }
    }

    /// Number of significant decimal places (`precision()` of a decimal).
    pub fn precision(self) -> u32 {
        self.scale
    }

    /// Equivalence (`~`): equal after rounding both to the least precise scale.
    pub fn equivalent(self, o: Decimal) -> bool {
        let s = self.scale.min(o.scale);
        self.round(s).cmp_value(o.round(s)) == Ordering::Equal
    }
}

impl PartialEq for Decimal {
    fn eq(&self, o: &Decimal) -> bool {
        self.cmp_value(*o) == Ordering::Equal
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0 || (self.mantissa == 0 && self.neg_zero);
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if neg {
            f.write_str("-")?;
        }
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() <= scale {
            f.write_str("0.")?;
            for _ in 0..scale - digits.len() {
                f.write_str("0")?;
            }
            f.write_str(&digits)
        } else {
            let (i, fr) = digits.split_at(digits.len() - scale);
            write!(f, "{i}.{fr}")
        }
    }
}

impl std::ops::Neg for Decimal {
    type Output = Decimal;
    fn neg(self) -> Decimal {
        Decimal::new(-self.mantissa, self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_keep_scale() {
        assert_eq!(Decimal::parse("1.50").unwrap().to_string(), "1.50");
        assert_eq!(Decimal::parse("-0.05").unwrap().to_string(), "-0.05");
        assert_eq!(Decimal::parse("1e2").unwrap().to_string(), "100");
        assert!(Decimal::parse("1.").is_none());
    }

    #[test]
    fn exact_arithmetic() {
        let a = Decimal::parse("0.1").unwrap();
        let b = Decimal::parse("0.2").unwrap();
        assert_eq!(a.checked_add(b).unwrap(), Decimal::parse("0.3").unwrap());
        let third = Decimal::from_i64(1)
            .checked_div(Decimal::from_i64(3))
            .unwrap();
        assert_eq!(third.to_string(), "0.33333333");
        assert_eq!(
            Decimal::parse("1.2")
                .unwrap()
                .checked_div(Decimal::parse("1.8").unwrap())
                .unwrap()
                .round(2)
                .to_string(),
            "0.67"
        );
    }
}
