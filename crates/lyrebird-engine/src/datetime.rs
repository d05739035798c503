//! Dates in templates: reading a moment from a template value and formatting it with either a
//! Java/Velocity pattern (`yyyy-M-d H:mm:ss`, as in the greet example of docs/templates.md) or a
//! strftime pattern (`%Y-%m-%d`), told apart by the presence of `%`.
//!
//! Template code passes moments around as RFC 3339 strings (`now()` gives one, the arithmetic
//! filters return one), and also accepts Unix timestamps in seconds.

use std::fmt::Write;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::fake::MONTHS;

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The moment `text` names: an RFC 3339 date-time, or a Unix timestamp in (fractional) seconds.
pub(crate) fn parse(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(moment) = OffsetDateTime::parse(text.trim(), &Rfc3339) {
        return Ok(moment);
    }
    text.trim()
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is neither an RFC 3339 date-time nor a Unix timestamp"))
        .and_then(from_unix_seconds)
}

pub(crate) fn from_unix_seconds(seconds: f64) -> Result<OffsetDateTime, String> {
    if !seconds.is_finite() {
        return Err(format!("{seconds} is not a timestamp"));
    }
    OffsetDateTime::from_unix_timestamp_nanos((seconds * 1e9) as i128)
        .map_err(|_| format!("the timestamp {seconds} is out of range"))
}

pub(crate) fn rfc3339(moment: OffsetDateTime) -> String {
    moment
        .format(&Rfc3339)
        .unwrap_or_else(|_| moment.unix_timestamp().to_string())
}

/// Parses a UTC offset written `+02:00`, `-0530`, `+02` or `Z`.
pub(crate) fn parse_offset(text: &str) -> Result<UtcOffset, String> {
    let invalid = || format!("{text:?} is not a UTC offset such as +02:00");
    if text == "Z" {
        return Ok(UtcOffset::UTC);
    }
    let (sign, digits) = match text.split_at_checked(1) {
        Some(("+", rest)) => (1, rest),
        Some(("-", rest)) => (-1, rest),
        _ => return Err(invalid()),
    };
    let digits = digits.replace(':', "");
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return Err(invalid());
    }
    let hours: i8 = digits[..2].parse().map_err(|_| invalid())?;
    let minutes: i8 = match &digits[2..] {
        "" => 0,
        minutes => minutes.parse().map_err(|_| invalid())?,
    };
    if hours > 18 || minutes > 59 {
        return Err(invalid());
    }
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).map_err(|_| invalid())
}

/// Formats `moment` with a Java-style pattern, or a strftime pattern when it contains `%`.
pub(crate) fn format(moment: OffsetDateTime, pattern: &str) -> Result<String, String> {
    if pattern.contains('%') {
        strftime(moment, pattern)
    } else {
        java(moment, pattern)
    }
}

fn java(moment: OffsetDateTime, pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            for quoted in chars.by_ref() {
                if quoted == '\'' {
                    break;
                }
                out.push(quoted);
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            continue;
        }
        let mut width = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            width += 1;
        }
        java_field(&mut out, moment, c, width)?;
    }
    Ok(out)
}

fn java_field(
    out: &mut String,
    moment: OffsetDateTime,
    letter: char,
    width: usize,
) -> Result<(), String> {
    let padded = |out: &mut String, value: i64| {
        let _ = write!(out, "{value:0width$}");
    };
    match letter {
        'y' | 'u' if width == 2 => padded(out, i64::from(moment.year()).rem_euclid(100)),
        'y' | 'u' => padded(out, i64::from(moment.year())),
        'M' | 'L' => match width {
            1 | 2 => padded(out, i64::from(u8::from(moment.month()))),
            3 => out.push_str(&month_name(moment)[..3]),
            _ => out.push_str(month_name(moment)),
        },
        'd' => padded(out, i64::from(moment.day())),
        'D' => padded(out, i64::from(moment.ordinal())),
        'H' => padded(out, i64::from(moment.hour())),
        'k' => padded(out, hour_1_24(moment)),
        'h' => padded(out, hour_1_12(moment)),
        'm' => padded(out, i64::from(moment.minute())),
        's' => padded(out, i64::from(moment.second())),
        'S' => {
            let nanos = format!("{:09}", moment.nanosecond());
            out.push_str(&nanos[..width.min(9)]);
            out.extend(std::iter::repeat_n('0', width.saturating_sub(9)));
        }
        'a' => out.push_str(if moment.hour() < 12 { "AM" } else { "PM" }),
        'E' if width >= 4 => out.push_str(weekday_name(moment)),
        'E' => out.push_str(&weekday_name(moment)[..3]),
        'Z' => out.push_str(&offset(moment.offset(), false)),
        'X' if moment.offset().is_utc() => out.push('Z'),
        'X' if width == 1 => {
            let _ = write!(out, "{:+03}", moment.offset().whole_hours());
        }
        'X' => out.push_str(&offset(moment.offset(), width >= 3)),
        other => {
            return Err(format!(
                "unknown date pattern letter {other:?} (quote literal text in '...')"
            ));
        }
    }
    Ok(())
}

fn strftime(moment: OffsetDateTime, pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err("a date pattern ends with a lone %".to_owned());
        };
        let java_equivalent = match spec {
            'Y' => "yyyy",
            'y' => "yy",
            'm' => "MM",
            'd' => "dd",
            'e' => "d",
            'H' => "HH",
            'I' => "hh",
            'M' => "mm",
            'S' => "ss",
            'f' => "SSSSSS",
            'p' => "a",
            'b' => "MMM",
            'B' => "MMMM",
            'a' => "EEE",
            'A' => "EEEE",
            'j' => "DDD",
            'z' => "Z",
            'F' => "yyyy-MM-dd",
            'T' => "HH:mm:ss",
            's' => {
                let _ = write!(out, "{}", moment.unix_timestamp());
                continue;
            }
            '%' => {
                out.push('%');
                continue;
            }
            other => return Err(format!("unknown date pattern %{other}")),
        };
        out.push_str(&java(moment, java_equivalent)?);
    }
    Ok(out)
}

fn month_name(moment: OffsetDateTime) -> &'static str {
    MONTHS[usize::from(u8::from(moment.month())) - 1]
}

fn weekday_name(moment: OffsetDateTime) -> &'static str {
    WEEKDAYS[usize::from(moment.weekday().number_days_from_monday())]
}

fn hour_1_12(moment: OffsetDateTime) -> i64 {
    match i64::from(moment.hour()) % 12 {
        0 => 12,
        hour => hour,
    }
}

fn hour_1_24(moment: OffsetDateTime) -> i64 {
    match moment.hour() {
        0 => 24,
        hour => i64::from(hour),
    }
}

fn offset(offset: UtcOffset, colon: bool) -> String {
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let separator = if colon { ":" } else { "" };
    format!("{sign}{:02}{separator}{:02}", hours.abs(), minutes.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const LEAP_DAY: OffsetDateTime = datetime!(2016-02-29 16:39:54.123456789 UTC);

    #[test]
    fn the_greet_examples_velocity_pattern_formats() {
        assert_eq!(
            format(LEAP_DAY, "yyyy-M-d H:mm:ss").unwrap(),
            "2016-2-29 16:39:54"
        );
    }

    #[test]
    fn java_letters_cover_names_padding_and_literals() {
        let text = format(
            LEAP_DAY,
            "EEEE, d MMMM yy 'at' hh:mm a (EEE MMM) SSS Z X ''D''",
        )
        .unwrap();
        assert_eq!(
            text,
            "Monday, 29 February 16 at 04:39 PM (Mon Feb) 123 +0000 Z '60'"
        );
        assert_eq!(format(LEAP_DAY, "k").unwrap(), "16");
        assert!(format(LEAP_DAY, "yyyy-qq").unwrap_err().contains("'q'"));
    }

    #[test]
    fn strftime_patterns_format() {
        assert_eq!(
            format(LEAP_DAY, "%Y-%m-%d %H:%M:%S %a %b %j %s %%").unwrap(),
            "2016-02-29 16:39:54 Mon Feb 060 1456763994 %"
        );
        assert_eq!(
            format(LEAP_DAY, "%F %T.%f").unwrap(),
            "2016-02-29 16:39:54.123456"
        );
        assert!(format(LEAP_DAY, "%Q").is_err());
    }

    #[test]
    fn offsets_parse_in_the_usual_spellings() {
        assert_eq!(
            parse_offset("+02:00").unwrap(),
            UtcOffset::from_hms(2, 0, 0).unwrap()
        );
        assert_eq!(
            parse_offset("-0530").unwrap(),
            UtcOffset::from_hms(-5, -30, 0).unwrap()
        );
        assert_eq!(parse_offset("+09").unwrap().whole_hours(), 9);
        assert!(parse_offset("Z").unwrap().is_utc());
        for bad in ["", "02:00", "+2", "+25:00", "+ab:cd", "+02:00:00"] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn moments_parse_from_rfc3339_or_unix_seconds() {
        assert_eq!(parse("2016-02-29T16:39:54.123456789Z").unwrap(), LEAP_DAY);
        assert_eq!(parse("1456763994").unwrap().unix_timestamp(), 1_456_763_994);
        assert!(parse("yesterday").is_err());
        assert!(from_unix_seconds(f64::NAN).is_err());
        assert_eq!(rfc3339(parse("0").unwrap()), "1970-01-01T00:00:00Z");
    }
}
