//! Synthetic diurnal traces for green scheduling, documented so that results built on them can
//! be read: **they are not measurements**. Hour of day `h` in `[0, 24)`; the solar shape is
//! `s(h) = max(0, sin(pi (h - 6) / 12))` (sunrise 06:00, noon peak, sunset 18:00).
//!
//! | trace | formula | range |
//! |---|---|---|
//! | carbon, solar-heavy grid | `430 - 260 s(h) + 70 exp(-((h - 19.5) / 1.5)^2)` gCO2/kWh | 170 at noon, ~500 at the 19:30 evening ramp, 430 at night |
//! | solar PV, 1 kW peak | `1000 s(h)` W | 0 at night, 1000 W at noon |
//! | time-of-use price | 0.10 (00-06), 0.35 (17-21), 0.18 otherwise, per kWh | |
//!
//! The carbon shape follows the midday dip and evening ramp of grids with a large solar share
//! (e.g. California's, whose daily average intensity lies around 200-300 gCO2/kWh); the levels are
//! illustrative. Scale the PV trace with `renewable_scale` for other array sizes.

use std::f64::consts::PI;
use std::fmt::Write as _;

/// The solar shape at hour `h`.
pub fn solar_shape(hour: f64) -> f64 {
    (PI * (hour - 6.0) / 12.0).sin().max(0.0)
}

/// Carbon intensity of the solar-heavy synthetic grid at hour `h`, gCO2/kWh.
pub fn carbon_solar_heavy(hour: f64) -> f64 {
    430.0 - 260.0 * solar_shape(hour) + 70.0 * (-((hour - 19.5) / 1.5).powi(2)).exp()
}

/// Power of a 1 kW-peak PV array at hour `h`, W.
pub fn solar_1kw(hour: f64) -> f64 {
    1000.0 * solar_shape(hour)
}

/// Time-of-use electricity price at hour `h`, per kWh.
pub fn price_tou(hour: f64) -> f64 {
    match hour {
        h if h < 6.0 => 0.10,
        h if (17.0..21.0).contains(&h) => 0.35,
        _ => 0.18,
    }
}

/// A `timestamp,value` CSV of `f` sampled at the middle of `slots` slots of `slot_s` seconds
/// from midnight of 2026-06-01, values rounded to 0.01.
pub fn to_csv(f: impl Fn(f64) -> f64, slots: usize, slot_s: f64) -> String {
    let mut out = String::from("timestamp,value\n");
    for t in 0..slots {
        let start_s = t as f64 * slot_s;
        let hour = ((start_s + slot_s / 2.0) / 3600.0) % 24.0;
        let day = 1 + (start_s / 86400.0) as usize;
        let minute_of_day = ((start_s % 86400.0) / 60.0) as usize;
        let value = (f(hour) * 100.0).round() / 100.0;
        let _ = writeln!(
            out,
            "2026-06-{day:02}T{:02}:{:02},{value}",
            minute_of_day / 60,
            minute_of_day % 60
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_have_the_documented_levels() {
        assert!((carbon_solar_heavy(12.0) - 170.0).abs() < 1.0);
        assert!(carbon_solar_heavy(19.5) > 480.0);
        assert!((carbon_solar_heavy(2.0) - 430.0).abs() < 1e-6);
        assert_eq!(solar_1kw(3.0), 0.0);
        assert!((solar_1kw(12.0) - 1000.0).abs() < 1e-9);
        assert_eq!(price_tou(18.0), 0.35);
        let csv = to_csv(solar_1kw, 24, 3600.0);
        assert!(csv.starts_with("timestamp,value\n2026-06-01T00:00,0\n"));
        assert!(csv.contains("2026-06-01T12:00,991.44\n"));
        assert_eq!(csv.lines().count(), 25);
    }
}
