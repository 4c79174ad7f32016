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
    /// For perfdata: as given, with each number written plainly (`+5`,
    /// `.5`, `005` and `-0` become `5`, `0.5`, `5` and `0`), so that every
    /// consumer parses it.
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

    /// Whether no value from `lo` to `hi` raises the alert: what a bound
    /// that only knows the interval a value lies in can prove.
    pub fn quiet_over(&self, lo: f64, hi: f64) -> bool {
        if self.inside {
            // Alerts inside [start, end]: quiet if the interval lies wholly
            // outside it.
            self.end.is_some_and(|e| lo > e) || self.start.is_some_and(|s| hi < s)
        } else {
            self.start.is_none_or(|s| lo >= s) && self.end.is_none_or(|e| hi <= e)
        }
    }
}

/// What a range is over, for saying in words what raised its alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// The used percentage: `more than 90% used`.
    UsedPct,
    /// A count of free ports: `fewer than 500 free`.
    Free,
    /// Seconds until full: `full within 600 s`.
    FullIn,
}

impl Range {
    /// The values that raise this range's alert, in words, for the status
    /// line: `more than 90% used`, `fewer than 500 free`, `full within
    /// 600 s`. The quantities are never negative, so a bound at or below
    /// zero is no bound.
    pub fn describe(&self, quantity: Quantity) -> String {
        let low = self.start.filter(|s| *s > 0.0).map(plain);
        let high = self.end.map(plain);
        let (fewer, more) = match quantity {
            Quantity::Free => ("fewer than", "more than"),
            _ => ("less than", "more than"),
        };
        let (unit, suffix) = match quantity {
            Quantity::UsedPct => ("%", " used"),
            Quantity::Free => ("", " free"),
            Quantity::FullIn => (" s", ""),
        };
        let n = |v: &str| format!("{v}{unit}");
        let words = match (self.inside, low, high) {
            (false, None, Some(e)) => format!("{more} {}", n(&e)),
            (false, Some(s), None) => format!("{fewer} {}", n(&s)),
            (false, Some(s), Some(e)) => format!("{fewer} {} or {more} {}", n(&s), n(&e)),
            (true, None, Some(e)) if quantity == Quantity::FullIn => {
                return format!("full within {}", n(&e));
            }
            (true, None, Some(e)) => format!("at most {}", n(&e)),
            (true, Some(s), None) => format!("at least {}", n(&s)),
            (true, Some(s), Some(e)) => format!("from {s} to {}", n(&e)),
            (_, None, None) => self.to_string(),
        };
        match quantity {
            Quantity::FullIn => format!("full in {words}"),
            _ => format!("{words}{suffix}"),
        }
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
        let (start, end, plain) = match body.split_once(':') {
            None => {
                let end = number(body).map_err(bad)?;
                (Some(0.0), Some(end), plain(end))
            }
            Some((s, e)) => {
                if s.is_empty() && e.is_empty() {
                    return Err(bad("it has neither start nor end"));
                }
                let start = match s {
                    "" => Some(0.0),
                    "~" => None,
                    _ => Some(number(s).map_err(|why| bad(&format!("the start is {why}")))?),
                };
                let end = match e {
                    "" => None,
                    _ => Some(number(e).map_err(|why| bad(&format!("the end is {why}")))?),
                };
                let end_text = end.map_or(String::new(), plain);
                let text = match (s, start) {
                    // `:10` is `10`, the form every consumer reads (an empty
                    // end was refused above).
                    ("", _) => end_text,
                    (_, Some(n)) => format!("{}:{end_text}", plain(n)),
                    (_, None) => format!("~:{end_text}"),
                };
                (start, end, text)
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
            text: format!("{}{plain}", if inside { "@" } else { "" }),
        })
    }
}

/// A threshold over a free amount, read as operators of check_disk read
/// one: a plain number `N` alerts when fewer than `N` are free (the range
/// `N:`), while a range written out with `:` or `@` keeps its meaning.
/// Read by the grammar alone, `500` would alert when more than 500 ports
/// are free: a page at night with every port free.
pub fn free_count(text: &str) -> Result<Range, String> {
    if text.contains(':') || text.starts_with('@') {
        return text.parse();
    }
    let bad = |why: &str| format!("invalid threshold {text:?}: {why}");
    if number(text).map_err(bad)? < 0.0 {
        return Err(bad("a count of free ports is not negative"));
    }
    format!("{text}:").parse()
}

/// A plain decimal: optional sign, digits, optional fraction. No exponent,
/// no `inf`, no `nan`, no white space, and nothing too large for an `f64`
/// (which would parse as infinity).
fn number(s: &str) -> Result<f64, &'static str> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let decimal = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !decimal(int) || !decimal(frac) || digits.ends_with('.')
    {
        return Err("not a number");
    }
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err("a number too large"),
    }
}

/// A number as perfdata want it: plain decimal, no sign on zero, no
/// exponent (Rust's `Display` for `f64` never writes one).
fn plain(n: f64) -> String {
    if n == 0.0 {
        "0".to_string()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap()
    }

    #[test]
    fn quiet_over_an_interval_means_no_value_in_it_alerts() {
        let ranges = ["70", "10:80", "@10:20", "@~:5", "100:", "~:50", "@90:", "0"];
        for text in ranges {
            let range = r(text);
            for lo in 0..=110 {
                for hi in lo..=110 {
                    let (lo, hi) = (f64::from(lo), f64::from(hi));
                    let any =
                        (0..=100).any(|i| range.alerts(lo + (hi - lo) * f64::from(i) / 100.0));
                    assert_eq!(range.quiet_over(lo, hi), !any, "{text} over [{lo}, {hi}]");
                }
            }
        }
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
    fn perfdata_get_plain_numbers() {
        for (given, written) in [
            ("+5", "5"),
            (".5", "0.5"),
            ("00010", "10"),
            ("-0", "0"),
            ("@-0.50:+7", "@-0.5:7"),
            ("~:010", "~:10"),
            (":10", "10"),
            ("10:", "10:"),
            ("70", "70"),
            ("99.95", "99.95"),
        ] {
            assert_eq!(r(given).to_string(), written, "{given}");
        }
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
    fn a_plain_free_count_alerts_below_it() {
        let f = |s: &str| free_count(s).unwrap();
        // 500 free of 28232: the plain number alerts below it, not above.
        assert!(f("500").alerts(499.0) && !f("500").alerts(500.0) && !f("500").alerts(28232.0));
        assert_eq!(f("500").to_string(), "500:");
        assert_eq!(f("+0500").to_string(), "500:");
        // Written-out ranges keep their Nagios meaning.
        assert_eq!(f("500:").to_string(), "500:");
        assert!(f("@0:499").alerts(10.0) && !f("@0:499").alerts(500.0));
        assert!(f("~:100").alerts(101.0) && !f("~:100").alerts(5.0));
        assert!(f("100:200").alerts(99.0) && f("100:200").alerts(201.0));
        assert_eq!(f("@500").to_string(), "@500");
        for bad in ["", "abc", "1e3", "-", "-5", "10:5", " 5"] {
            assert!(free_count(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ranges_in_words() {
        use Quantity::*;
        let d = |range: &str, q| r(range).describe(q);
        assert_eq!(d("90", UsedPct), "more than 90% used");
        assert_eq!(d("@90:", UsedPct), "at least 90% used");
        assert_eq!(d("@70:80", UsedPct), "from 70 to 80% used");
        assert_eq!(d("500:", Free), "fewer than 500 free");
        assert_eq!(d("@0:499", Free), "at most 499 free");
        assert_eq!(d("100:200", Free), "fewer than 100 or more than 200 free");
        assert_eq!(d("~:10", Free), "more than 10 free");
        assert_eq!(d("@600", FullIn), "full within 600 s");
        assert_eq!(d("@~:3600", FullIn), "full within 3600 s");
        assert_eq!(d("60:", FullIn), "full in less than 60 s");
    }

    #[test]
    fn rejects_numbers_too_large_for_a_float() {
        let huge = format!("1{}", "0".repeat(400));
        for bad in [huge.clone(), format!("{huge}:"), format!("~:-{huge}")] {
            assert!(bad.parse::<Range>().is_err(), "{bad:?} accepted");
        }
    }
}
