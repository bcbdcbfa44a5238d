//! The duration strings of the attributes: `"250ms"`, `"3s"`, `"1m30s"`, `"1.5s"`, `"2h"`.
//!
//! A duration is one or more groups of a number (digits, optionally with a decimal
//! fraction) directly followed by a unit. Groups follow each other without spaces. The
//! parser works on the literal's value and returns whole nanoseconds, so the expansion can
//! emit `Duration::from_nanos(N)` and no parsing is left for run time.

/// The accepted units, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 60 * 60 * 1_000_000_000),
];

/// Spellings people reach for, and the unit they mean.
const LONG_UNITS: &[(&str, &str)] = &[
    ("nanos", "ns"),
    ("nsec", "ns"),
    ("micros", "us"),
    ("usec", "us"),
    ("millis", "ms"),
    ("msec", "ms"),
    ("msecs", "ms"),
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("min", "m"),
    ("mins", "m"),
    ("minute", "m"),
    ("minutes", "m"),
    ("hr", "h"),
    ("hrs", "h"),
    ("hour", "h"),
    ("hours", "h"),
    ("d", "h"),
    ("day", "h"),
    ("days", "h"),
];

/// What a duration string looks like, appended to every error.
pub(crate) const HELP: &str = "a duration is a number with a unit, like \"250ms\", \"3s\", \"1m30s\" or \"2h\" (units: ns, us, ms, s, m, h)";

/// Parses a duration string into nanoseconds. The error is a sentence without the help
/// suffix; callers add [`HELP`].
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    if text.trim().is_empty() {
        return Err("the duration is empty".to_owned());
    }
    if text.trim_start().starts_with('-') {
        return Err("a duration cannot be negative".to_owned());
    }
    if text.chars().any(char::is_whitespace) {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        // Say what is wrong with the text itself first ("5 parsecs": the unit), and only
        // then complain about the spaces.
        return match parse_compact(&compact) {
            Ok(_) => Err(format!(
                "durations are written without spaces: \"{compact}\""
            )),
            Err(e) => Err(e),
        };
    }
    parse_compact(text)
}

fn parse_compact(text: &str) -> Result<u64, String> {
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if number.is_empty() {
            return Err(format!("`{unit}` needs a number in front of it"));
        }
        if unit.is_empty() {
            return Err(format!(
                "`{number}` has no unit; write \"{number}ms\" or \"{number}s\""
            ));
        }
        let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(unknown_unit(unit));
        };
        let group = group_nanos(number, unit, unit_nanos)?;
        total = total
            .checked_add(group)
            .ok_or_else(|| format!("\"{text}\" is too long: durations go up to about 584 years"))?;
        rest = after;
    }
    Ok(total)
}

fn unknown_unit(unit: &str) -> String {
    let lower = unit.to_ascii_lowercase();
    if let Some((_, short)) = LONG_UNITS.iter().find(|(long, _)| *long == lower) {
        if *short == "h" && lower.starts_with('d') {
            return format!("unknown unit `{unit}`; days are not a unit here, use hours: \"24h\"");
        }
        return format!("unknown unit `{unit}`; did you mean `{short}`?");
    }
    if let Some((short, _)) = UNITS.iter().find(|(name, _)| *name == lower) {
        return format!("unknown unit `{unit}`; units are lowercase: `{short}`");
    }
    format!("unknown unit `{unit}`")
}

/// Nanoseconds of one `number` + `unit` group, exact or an error.
fn group_nanos(number: &str, unit: &str, unit_nanos: u64) -> Result<u64, String> {
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(format!("`{number}` is not a number"));
    }
    if number.ends_with('.') || number.starts_with('.') {
        return Err(format!(
            "`{number}` is not written like a number; write \"{}{unit}\"",
            fix_number(whole, fraction)
        ));
    }
    let too_long = || format!("\"{number}{unit}\" is too long: durations go up to about 584 years");
    let whole: u64 = whole.parse().map_err(|_| too_long())?;
    let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(too_long)?;
    // The fraction: digits d1 d2 .. dk mean (d1..dk) / 10^k units; it must come out as a
    // whole number of nanoseconds.
    let mut scale = unit_nanos;
    for digit in fraction.bytes().map(|b| u64::from(b - b'0')) {
        if scale % 10 != 0 {
            return Err(format!(
                "\"{number}{unit}\" is finer than a nanosecond, the smallest step of a duration"
            ));
        }
        scale /= 10;
        nanos = nanos.checked_add(digit * scale).ok_or_else(too_long)?;
    }
    Ok(nanos)
}

fn fix_number(whole: &str, fraction: &str) -> String {
    match (whole.is_empty(), fraction.is_empty()) {
        (true, _) => format!("0.{fraction}"),
        (false, true) => whole.to_owned(),
        (false, false) => format!("{whole}.{fraction}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    #[test]
    fn single_groups() {
        assert_eq!(parse("250ms"), Ok(250 * MS));
        assert_eq!(parse("3s"), Ok(3 * S));
        assert_eq!(parse("2h"), Ok(7200 * S));
        assert_eq!(parse("7ns"), Ok(7));
        assert_eq!(parse("7us"), Ok(7_000));
        assert_eq!(parse("7µs"), Ok(7_000));
        assert_eq!(parse("0s"), Ok(0));
    }

    #[test]
    fn several_groups() {
        assert_eq!(parse("1m30s"), Ok(90 * S));
        assert_eq!(parse("1h1m1s1ms"), Ok(3661 * S + MS));
    }

    #[test]
    fn fractions() {
        assert_eq!(parse("1.5s"), Ok(1500 * MS));
        assert_eq!(parse("0.25s"), Ok(250 * MS));
        assert_eq!(parse("1.000000001s"), Ok(S + 1));
        assert_eq!(parse("0.5m"), Ok(30 * S));
        let err = parse("1.5ns").unwrap_err();
        assert!(err.contains("finer than a nanosecond"), "{err}");
        assert!(parse("1.2.3s").is_err());
        assert!(parse(".5s").unwrap_err().contains("\"0.5s\""));
        assert!(parse("5.s").unwrap_err().contains("\"5s\""));
    }

    #[test]
    fn missing_pieces() {
        assert_eq!(parse(""), Err("the duration is empty".to_owned()));
        assert!(parse("100").unwrap_err().contains("has no unit"));
        assert!(parse("ms").unwrap_err().contains("needs a number"));
        assert!(parse("1m30").unwrap_err().contains("`30` has no unit"));
    }

    #[test]
    fn bad_units() {
        assert_eq!(parse("5 parsecs"), Err("unknown unit `parsecs`".to_owned()));
        assert!(parse("5secs").unwrap_err().contains("did you mean `s`?"));
        assert!(parse("5min").unwrap_err().contains("did you mean `m`?"));
        assert!(parse("2days").unwrap_err().contains("\"24h\""));
        assert!(parse("5S").unwrap_err().contains("lowercase"));
        assert!(parse("5 s").unwrap_err().contains("without spaces: \"5s\""));
        assert!(parse("-5s").unwrap_err().contains("negative"));
        assert!(parse("5s-").unwrap_err().contains("unknown unit `s-`"));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert!(
            parse("99999999999999999999s")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse("6000000h").unwrap_err().contains("too long"));
        assert!(parse("5000000h5000000h").unwrap_err().contains("too long"));
        assert_eq!(parse("18446744073709551615ns"), Ok(u64::MAX));
    }
}
