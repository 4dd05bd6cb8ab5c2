//! Number formatting for the report: every figure leaves here with its unit attached.
//!
//! Rules: times pick ns / µs / ms / s so the number stays below 1000, with one decimal
//! (two below 10 of the unit, three significant digits below 0.1 ns); rates use k / M; ratios end in `×`; shares in `%`.
//! A missing figure is never formatted as zero: callers show [`MISSING`] instead.

use crate::schema::Spread;

/// What the report prints where a figure is absent (never `0`).
pub const MISSING: &str = "—";

/// A duration in nanoseconds with a readable unit and three significant digits below 10 of the
/// unit: `4.12 ns`, `152.3 ns`, `1.23 µs`, `11.7 µs`, `0.00101 ns` (a tiny amortised cost).
pub fn ns(value: f64) -> String {
    if !value.is_finite() {
        return format!("{value} ns");
    }
    let abs = value.abs();
    let (scaled, unit) = if abs < 1e3 {
        (value, "ns")
    } else if abs < 1e6 {
        (value / 1e3, "µs")
    } else if abs < 1e9 {
        (value / 1e6, "ms")
    } else {
        (value / 1e9, "s")
    };
    let scaled_abs = scaled.abs();
    if unit == "ns" && scaled_abs > 0.0 && scaled_abs < 0.1 {
        // A rare cost amortised per call (e.g. gc): three significant digits, never `0.00 ns`.
        let precision = (2 - scaled_abs.log10().floor() as i32) as usize;
        format!("{scaled:.precision$} {unit}")
    } else if scaled_abs < 10.0 {
        format!("{scaled:.2} {unit}")
    } else {
        format!("{scaled:.1} {unit}")
    }
}

/// An optional duration in ns, or [`MISSING`].
pub fn opt_ns(value: Option<f64>) -> String {
    value.map_or_else(|| MISSING.to_owned(), ns)
}

/// A median with its spread: `152.3 ns (148.0 ns – 160.1 ns, n = 5)`.
pub fn spread_ns(s: &Spread) -> String {
    format!("{} ({})", ns(s.median), spread_range_ns(s))
}

/// Only the range part of a spread: `148.0 ns – 160.1 ns, n = 5`.
pub fn spread_range_ns(s: &Spread) -> String {
    format!("{} – {}, n = {}", ns(s.min), ns(s.max), s.reps)
}

/// A rate with a unit suffix: `6.6 M calls/s`, `850.0 k calls/s`, `12.0 calls/s`.
pub fn rate(value: f64, unit: &str) -> String {
    let abs = value.abs();
    if abs >= 1e9 {
        format!("{:.2} G {unit}", value / 1e9)
    } else if abs >= 1e6 {
        format!("{:.1} M {unit}", value / 1e6)
    } else if abs >= 1e3 {
        format!("{:.1} k {unit}", value / 1e3)
    } else {
        format!("{value:.1} {unit}")
    }
}

/// A factor: `7.52×`, `1.0×`; two decimals below 10, one below 100, none above.
pub fn ratio(value: f64) -> String {
    let abs = value.abs();
    if abs < 10.0 {
        format!("{value:.2}×")
    } else if abs < 100.0 {
        format!("{value:.1}×")
    } else {
        format!("{value:.0}×")
    }
}

/// An optional factor, or [`MISSING`].
pub fn opt_ratio(value: Option<f64>) -> String {
    value.map_or_else(|| MISSING.to_owned(), ratio)
}

/// A fraction in `[0, 1]` as a percentage: `12.3 %`; a positive share too small for one decimal
/// reads `< 0.1 %`, never `0.0 %`.
pub fn percent(fraction: f64) -> String {
    if fraction > 0.0 && fraction < 0.0005 {
        return "< 0.1 %".to_owned();
    }
    format!("{:.1} %", fraction * 100.0)
}

/// A signed relative change as a percentage: `+12.3 %`, `-4.0 %`.
pub fn signed_percent(fraction: f64) -> String {
    format!("{:+.1} %", fraction * 100.0)
}

/// An integer count with thousands separators: `1,000,000`.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A per-call counter value: large values as integers, small ones with 3 significant digits so
/// a rare event never prints as zero (`1,204`, `3`, `2.50`, `0.130`, `0.00120`, `4.00e-7`).
pub fn per_call(value: f64) -> String {
    let abs = value.abs();
    if abs >= 100.0 || (value.fract() == 0.0 && value >= 0.0) {
        count(value.round() as u64)
    } else if abs >= 1.0 || abs == 0.0 {
        format!("{value:.2}")
    } else if abs >= 1e-6 {
        let precision = (2 - abs.log10().floor() as i32) as usize;
        format!("{value:.precision$}")
    } else {
        format!("{value:.2e}")
    }
}

/// A size in bytes with a binary unit: `1.0 MiB`, `512 B`.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = value as f64;
    let mut unit = 0;
    while scaled >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(ns(152.34), "152.3 ns");
        assert_eq!(ns(4.123), "4.12 ns");
        assert_eq!(ns(1234.0), "1.23 µs");
        assert_eq!(ns(1695.0), "1.70 µs");
        assert_eq!(ns(0.001_006), "0.00101 ns");
        assert_eq!(ns(0.0), "0.00 ns");
        assert_eq!(ns(11_700.0), "11.7 µs");
        assert_eq!(ns(2.5e6), "2.50 ms");
        assert_eq!(ns(3.0e9), "3.00 s");
    }

    #[test]
    fn spreads_show_range_and_repetitions() {
        let s = Spread {
            median: 152.3,
            min: 148.0,
            max: 160.1,
            reps: 5,
        };
        assert_eq!(spread_ns(&s), "152.3 ns (148.0 ns – 160.1 ns, n = 5)");
    }

    #[test]
    fn rates_ratios_counts_and_bytes_carry_units() {
        assert_eq!(rate(6_600_000.0, "calls/s"), "6.6 M calls/s");
        assert_eq!(rate(850_000.0, "calls/s"), "850.0 k calls/s");
        assert_eq!(ratio(7.519), "7.52×");
        assert_eq!(ratio(780.0), "780×");
        assert_eq!(percent(0.123), "12.3 %");
        assert_eq!(percent(0.0002), "< 0.1 %");
        assert_eq!(percent(0.0), "0.0 %");
        assert_eq!(signed_percent(-0.04), "-4.0 %");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(count(999), "999");
        assert_eq!(bytes(1 << 20), "1.0 MiB");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(per_call(1204.4), "1,204");
        assert_eq!(per_call(3.0), "3");
        assert_eq!(per_call(2.5), "2.50");
        assert_eq!(per_call(0.0), "0");
        assert_eq!(per_call(0.13), "0.130");
        assert_eq!(per_call(0.0012), "0.00120");
        assert_eq!(per_call(4e-7), "4.00e-7");
        assert_eq!(opt_ns(None), MISSING);
    }
}
