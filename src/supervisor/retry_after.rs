//! Parsing the `Retry-After` header of a 429 or 503 upgrade response.
//!
//! RFC 9110 §10.2.3 allows delta-seconds (`120`) or an HTTP-date. All three
//! date formats that recipients must accept are understood: IMF-fixdate
//! (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`)
//! and asctime (`Sun Nov  6 08:49:37 1994`). Anything else is `None`: a bad
//! header means "no hint", never an error that stops reconnecting.

use core::time::Duration;

/// A parsed `Retry-After` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait this many seconds.
    Seconds(u64),
    /// Retry at this wall-clock time, in seconds since the Unix epoch.
    At(u64),
}

impl RetryAfter {
    /// Parses a header value; `None` when it is neither form.
    ///
    /// ```
    /// use wstether::RetryAfter;
    /// assert_eq!(RetryAfter::parse("120"), Some(RetryAfter::Seconds(120)));
    /// assert_eq!(RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(RetryAfter::At(784_111_777)));
    /// assert_eq!(RetryAfter::parse("soon"), None);
    /// ```
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // Absurd values saturate; the supervisor clamps them anyway.
            let secs = value.bytes().fold(0u64, |acc, b| {
                acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            });
            return Some(RetryAfter::Seconds(secs));
        }
        parse_http_date(value).map(RetryAfter::At)
    }

    /// How long to wait from `now_unix_secs` (the caller's wall clock); a date
    /// in the past means no wait.
    pub fn delay(self, now_unix_secs: u64) -> Duration {
        match self {
            RetryAfter::Seconds(secs) => Duration::from_secs(secs),
            RetryAfter::At(at) => Duration::from_secs(at.saturating_sub(now_unix_secs)),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the Unix epoch for an HTTP-date, or `None`.
fn parse_http_date(value: &str) -> Option<u64> {
    let mut tokens = value.split([' ', ',', '-']).filter(|t| !t.is_empty());
    let weekday = tokens.next()?;
    if weekday.len() < 3 || !weekday.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let first = tokens.next()?;
    let (day, month, year, time) = if first.bytes().all(|b| b.is_ascii_digit()) {
        // IMF-fixdate and RFC 850: day month year time GMT
        let month = tokens.next()?;
        let year = tokens.next()?;
        let time = tokens.next()?;
        if tokens.next()? != "GMT" {
            return None;
        }
        (first, month, year, time)
    } else {
        // asctime: month day time year
        let day = tokens.next()?;
        let time = tokens.next()?;
        let year = tokens.next()?;
        (day, first, year, time)
    };
    if tokens.next().is_some() {
        return None;
    }
    let day = number(day, 1, 2)?;
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let year = match year.len() {
        // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
        2 => {
            let yy = number(year, 2, 2)?;
            if yy < 70 {
                2000 + yy
            } else {
                1900 + yy
            }
        }
        4 => number(year, 4, 4)?,
        _ => return None,
    };
    let mut clock = time.split(':');
    let hour = number(clock.next()?, 2, 2)?;
    let minute = number(clock.next()?, 2, 2)?;
    let second = number(clock.next()?, 2, 2)?;
    if clock.next().is_some() || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn number(token: &str, min_len: usize, max_len: usize) -> Option<u64> {
    if token.len() < min_len || token.len() > max_len || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

fn is_leap(year: u64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date on or after it (Howard Hinnant's algorithm).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_date_formats_agree() {
        let expected = Some(RetryAfter::At(784_111_777));
        assert_eq!(RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
        assert_eq!(RetryAfter::parse("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
        assert_eq!(RetryAfter::parse("Sun Nov  6 08:49:37 1994"), expected);
    }

    #[test]
    fn leap_days_and_the_epoch() {
        assert_eq!(
            RetryAfter::parse("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(RetryAfter::At(0))
        );
        assert_eq!(
            RetryAfter::parse("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(RetryAfter::At(1_709_164_800))
        );
        assert_eq!(RetryAfter::parse("Fri, 29 Feb 2023 00:00:00 GMT"), None);
    }

    #[test]
    fn garbage_is_no_hint() {
        for bad in [
            "",
            " ",
            "-5",
            "1.5",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sun,,,",
            "Sun, 06 Nov 1969 08:49:37 GMT",
        ] {
            assert_eq!(RetryAfter::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            RetryAfter::parse("99999999999999999999999"),
            Some(RetryAfter::Seconds(u64::MAX))
        );
    }

    #[test]
    fn delay_from_a_date_never_goes_negative() {
        assert_eq!(RetryAfter::At(100).delay(160), Duration::ZERO);
        assert_eq!(RetryAfter::At(160).delay(100), Duration::from_secs(60));
    }
}
