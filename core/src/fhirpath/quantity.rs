//! Quantities and the UCUM subset FHIRPath needs.
//!
//! Comparisons convert through base units (g, m, s, mol, K) with exact decimal factors, for the
//! common clinical units and any metric prefix. Calendar durations (`1 year`, `3 days`) are kept
//! apart from UCUM: `week`…`millisecond` equal their UCUM units, but `year`/`month` are not
//! comparable with `'a'`/`'mo'` (FHIRPath §"Quantity", calendar duration rules).

use super::decimal::Decimal;

/// A quantity value: exact number and a UCUM code or calendar word.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: Decimal,
    pub unit: String,
}

/// Dimension exponents: g, m, s, mol, K.
pub type Dims = [i8; 5];

fn d(s: &str) -> Decimal {
    Decimal::parse(s).unwrap_or(Decimal::ZERO)
}

/// Calendar duration words and their UCUM equivalents.
pub fn calendar_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "year" | "years" => "year",
        "month" | "months" => "month",
        "week" | "weeks" => "week",
        "day" | "days" => "day",
        "hour" | "hours" => "hour",
        "minute" | "minutes" => "minute",
        "second" | "seconds" => "second",
        "millisecond" | "milliseconds" => "millisecond",
        _ => return None,
    })
}

/// The calendar unit a UCUM time code corresponds to for date arithmetic.
pub fn ucum_to_calendar(u: &str) -> Option<&'static str> {
    Some(match u {
        "wk" => "week",
        "d" => "day",
        "h" => "hour",
        "min" => "minute",
        "s" => "second",
        "ms" => "millisecond",
        _ => return None,
    })
}

fn atom(a: &str) -> Option<(Decimal, Dims)> {
    Some(match a {
        "g" => (d("1"), [1, 0, 0, 0, 0]),
        "m" => (d("1"), [0, 1, 0, 0, 0]),
        "s" => (d("1"), [0, 0, 1, 0, 0]),
        "mol" => (d("1"), [0, 0, 0, 1, 0]),
        "K" => (d("1"), [0, 0, 0, 0, 1]),
        "L" | "l" => (d("0.001"), [0, 3, 0, 0, 0]),
        "min" => (d("60"), [0, 0, 1, 0, 0]),
        "h" => (d("3600"), [0, 0, 1, 0, 0]),
        "d" => (d("86400"), [0, 0, 1, 0, 0]),
        "wk" => (d("604800"), [0, 0, 1, 0, 0]),
        "mo" => (d("2629800"), [0, 0, 1, 0, 0]),
        "a" => (d("31557600"), [0, 0, 1, 0, 0]),
        "[lb_av]" => (d("453.59237"), [1, 0, 0, 0, 0]),
        "[oz_av]" => (d("28.349523125"), [1, 0, 0, 0, 0]),
        "[in_i]" => (d("0.0254"), [0, 1, 0, 0, 0]),
        "[ft_i]" => (d("0.3048"), [0, 1, 0, 0, 0]),
        "[mi_i]" => (d("1609.344"), [0, 1, 0, 0, 0]),
        "1" => (d("1"), [0; 5]),
        "%" => (d("0.01"), [0; 5]),
        "[iU]" | "[IU]" => (d("1"), [0; 5]),
        "eq" => (d("1"), [0, 0, 0, 1, 0]),
        _ => return None,
    })
}

fn prefix(p: &str) -> Option<Decimal> {
    Some(d(match p {
        "k" => "1000",
        "h" => "100",
        "da" => "10",
        "d" => "0.1",
        "c" => "0.01",
        "m" => "0.001",
        "u" => "0.000001",
        "n" => "0.000000001",
        "p" => "0.000000000001",
        "M" => "1000000",
        _ => return None,
    }))
}

fn term(t: &str) -> Option<(Decimal, Dims)> {
    // strip annotations {…}
    let t = match t.find('{') {
        Some(i) => &t[..i],
        None => t,
    };
    if t.is_empty() {
        return Some((d("1"), [0; 5]));
    }
    // exponent
    let (base, exp) = if t.ends_with(']') {
        (t, 1i32)
    } else {
        let cut = t
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_digit() || *c == '-' || *c == '+')
            .last()
            .map(|(i, _)| i);
        match cut {
            Some(i) if i > 0 => (&t[..i], t[i..].parse::<i32>().ok()?),
            _ => (t, 1),
        }
    };
    let (f, dims) = atom(base).or_else(|| {
        (1..base.len().min(3)).find_map(|n| {
            let (p, a) = base.split_at(n);
            let pf = prefix(p)?;
            let (f, dm) = atom(a)?;
            Some((pf.checked_mul(f)?, dm))
        })
    })?;
    let mut factor = d("1");
    for _ in 0..exp.unsigned_abs() {
        factor = factor.checked_mul(f)?;
    }
    if exp < 0 {
        factor = d("1").checked_div(factor)?;
    }
    let mut out = [0i8; 5];
    for i in 0..5 {
        out[i] = dims[i].checked_mul(exp as i8)?;
    }
    Some((factor, out))
}

/// Factor to base units and dimensions of a UCUM unit expression (`mg/dL`, `kg.m-2`, `[lb_av]`).
pub fn parse_ucum(unit: &str) -> Option<(Decimal, Dims)> {
    if let Some(c) = calendar_unit(unit) {
        return match c {
            "week" => parse_ucum("wk"),
            "day" => parse_ucum("d"),
            "hour" => parse_ucum("h"),
            "minute" => parse_ucum("min"),
            "second" => parse_ucum("s"),
            "millisecond" => parse_ucum("ms"),
            _ => None,
        };
    }
    let mut factor = d("1");
    let mut dims = [0i8; 5];
    let mut rest = unit;
    let mut divide = false;
    if let Some(r) = rest.strip_prefix('/') {
        divide = true;
        rest = r;
    }
    loop {
        let end = rest.find(['.', '/']).unwrap_or(rest.len());
        let (f, dm) = term(&rest[..end])?;
        if divide {
            factor = factor.checked_div(f)?;
            for i in 0..5 {
                dims[i] -= dm[i];
            }
        } else {
            factor = factor.checked_mul(f)?;
            for i in 0..5 {
                dims[i] += dm[i];
            }
        }
        if end == rest.len() {
            break;
        }
        divide = &rest[end..end + 1] == "/";
        rest = &rest[end + 1..];
    }
    Some((factor, dims))
}

/// A canonical unit string for base dimensions (`m2`, `g/m`, `1`).
pub fn dims_unit(dims: Dims) -> String {
    let names = ["g", "m", "s", "mol", "K"];
    let mut num = Vec::new();
    let mut den = Vec::new();
    for (i, &e) in dims.iter().enumerate() {
        match e {
            0 => {}
            1 => num.push(names[i].to_string()),
            e if e > 0 => num.push(format!("{}{e}", names[i])),
            -1 => den.push(names[i].to_string()),
            e => den.push(format!("{}{}", names[i], -e)),
        }
    }
    let mut s = if num.is_empty() {
        "1".to_string()
    } else {
        num.join(".")
    };
    if !den.is_empty() {
        s.push('/');
        s.push_str(&den.join("."));
    }
    s
}

impl Quantity {
    pub fn new(value: Decimal, unit: impl Into<String>) -> Quantity {
        Quantity {
            value,
            unit: unit.into(),
        }
    }

    fn is_year_month(&self) -> bool {
        matches!(calendar_unit(&self.unit), Some("year" | "month"))
    }

    /// Value in base units with its dimensions.
    pub fn to_base(&self) -> Option<(Decimal, Dims)> {
        let (f, dims) = parse_ucum(&self.unit)?;
        Some((self.value.checked_mul(f)?, dims))
    }

    /// Both values in a common unit, or `None` when not comparable.
    pub fn common(&self, o: &Quantity) -> Option<(Decimal, Decimal)> {
        let same = self.unit == o.unit
            || (calendar_unit(&self.unit).is_some()
                && calendar_unit(&self.unit) == calendar_unit(&o.unit));
        if same {
            return Some((self.value, o.value));
        }
        if self.is_year_month() || o.is_year_month() {
            return None;
        }
        let (fa, da) = parse_ucum(&self.unit)?;
        let (fb, db) = parse_ucum(&o.unit)?;
        if da != db {
            return None;
        }
        // Express `o` in self's unit: o.value * fb / fa.
        let ov = o.value.checked_mul(fb)?;
        let ov = if fa == d("1") {
            ov
        } else {
            ov.checked_div(fa)?
        };
        Some((self.value, ov))
    }

    pub fn comparable(&self, o: &Quantity) -> bool {
        self.common(o).is_some()
    }

    /// The string form used by `toString()`: `1 'wk'`, `1 week`.
    pub fn to_fhirpath_string(&self) -> String {
        if calendar_unit(&self.unit).is_some() {
            format!("{} {}", self.value, self.unit)
        } else {
            format!("{} '{}'", self.value, self.unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_common_units() {
        let a = Quantity::new(d("4.0000"), "g");
        let b = Quantity::new(d("4000.0"), "mg");
        let (x, y) = a.common(&b).unwrap();
        assert_eq!(x, y);
        assert!(Quantity::new(d("1"), "cm").comparable(&Quantity::new(d("1"), "[in_i]")));
        assert!(!Quantity::new(d("1"), "cm").comparable(&Quantity::new(d("1"), "s")));
        assert!(
            Quantity::new(d("1"), "year")
                .common(&Quantity::new(d("1"), "a"))
                .is_none()
        );
    }
}
