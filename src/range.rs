//! Nagios threshold ranges, `[@][start:][end]`, parsed strictly: anything
//! the Monitoring Plugins Perl library would reject is an error here too.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    /// `None` is minus infinity (`~`).
    start: Option<f64>,
    /// `None` is plus infinity (nothing after the colon).
    end: Option<f64>,
    /// `@`: alert inside the range instead of outside.
    inside: bool,
    /// As given, for perfdata.
    text: String,
}

impl Range {
    /// Whether `value` raises the alert this range stands for.
    pub fn alerts(&self, value: f64) -> bool {
        let above_start = self.start.is_none_or(|s| value >= s);
        let below_end = self.end.is_none_or(|e| value <= e);
        let within = above_start && below_end;
        within == self.inside
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Range {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| format!("invalid range {text:?}: {why}");
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(bad("it is empty"));
        }
        let (start, end) = match body.split_once(':') {
            None => (
                Some(0.0),
                Some(number(body).ok_or_else(|| bad("not a number"))?),
            ),
            Some((s, e)) => {
                let start = match s {
                    "" => Some(0.0),
                    "~" => None,
                    _ => Some(number(s).ok_or_else(|| bad("the start is not a number or ~"))?),
                };
                let end = match e {
                    "" => None,
                    _ => Some(number(e).ok_or_else(|| bad("the end is not a number"))?),
                };
                if s.is_empty() && e.is_empty() {
                    return Err(bad("it has neither start nor end"));
                }
                (start, end)
            }
        };
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(bad("the start is greater than the end"));
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_string(),
        })
    }
}

/// A plain decimal: optional sign, digits, optional fraction. No exponent,
/// no `inf`, no `nan`, no white space, and nothing too large for an `f64`
/// (which would parse as infinity).
fn number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !plain(int) || !plain(frac) || digits.ends_with('.') {
        return None;
    }
    s.parse().ok().filter(|n: &f64| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap()
    }

    #[test]
    fn the_reference_examples() {
        // `10` alerts below 0 or above 10
        assert!(r("10").alerts(-1.0) && r("10").alerts(10.5));
        assert!(!r("10").alerts(0.0) && !r("10").alerts(10.0));
        // `10:` below 10
        assert!(r("10:").alerts(9.9) && !r("10:").alerts(1e9));
        // `~:10` above 10
        assert!(r("~:10").alerts(11.0) && !r("~:10").alerts(-1e9));
        // `10:20` outside
        assert!(r("10:20").alerts(9.0) && r("10:20").alerts(21.0) && !r("10:20").alerts(15.0));
        // `@10:20` inside, endpoints included
        assert!(r("@10:20").alerts(10.0) && r("@10:20").alerts(20.0) && !r("@10:20").alerts(21.0));
    }

    #[test]
    fn accepts_decimals_signs_and_an_empty_start() {
        assert!(r("70.5").alerts(70.6));
        assert!(r("-5:-1").alerts(0.0));
        assert!(r(":10").alerts(11.0));
        assert!(!r("~:").alerts(-1e9));
        assert_eq!(r("@500:").to_string(), "@500:");
    }

    #[test]
    fn rejects_malformed_ranges() {
        for bad in [
            "", "@", ":", "~", "abc", "10:5", "1e3", "inf", "nan", "1:2:3", " 10", "10 ", "10,20",
            "--1", "1.", ".", "@@1", "~10", "10:~", "0x10",
        ] {
            assert!(bad.parse::<Range>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rejects_numbers_too_large_for_a_float() {
        let huge = format!("1{}", "0".repeat(400));
        for bad in [huge.clone(), format!("{huge}:"), format!("~:-{huge}")] {
            assert!(bad.parse::<Range>().is_err(), "{bad:?} accepted");
        }
    }
}
