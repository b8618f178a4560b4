//! RFC 3339 timestamps for events, without a date-time dependency.
//!
//! Format: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds, truncated like
//! `date +%6N`). Suricata writes `2021-01-01T10:00:00.123456+0000`: the same
//! fields, but its `%z` offset has no colon, which RFC 3339 §5.6 requires
//! (`time-numoffset = ("+" / "-") time-hour ":" time-minute`). We write `Z`
//! instead so every consumer that parses RFC 3339 reads our lines; tools that
//! parse Suricata's form with a lenient ISO 8601 parser read both.
//!
//! Days-to-civil-date conversion: the fact used is Howard Hinnant's
//! "civil_from_days" result (<https://howardhinnant.github.io/date_algorithms.html>):
//! counting in 400-year eras (146 097 days each) that start on 1 March makes
//! the leap day the last day of the counted year, so month and day follow
//! from the day-of-year by one linear formula. The code below is our own.

use crate::capture::Timestamp;

/// Length of a formatted timestamp: `2020-01-17T20:43:36.559976Z`.
pub const RFC3339_LEN: usize = 27;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// Days in a 400-year Gregorian era.
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT_DAYS: i64 = 719_468;

/// A civil date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilDate {
    pub year: i64,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
}

/// The civil date of day `days` counted from 1970-01-01 (negative before).
pub fn civil_from_days(days: i64) -> CivilDate {
    // Shift so that day 0 is 0000-03-01 and eras are whole 400-year blocks.
    let z = days + EPOCH_SHIFT_DAYS;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z.rem_euclid(DAYS_PER_ERA); // 0..=146096
                                                 // Year of era: remove the leap days (every 4 years, except every 100,
                                                 // except the era's last day, which is the 400-year leap day).
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 31,30,31,30,31,31,30,31,30,31,31,28/29.
    // (153 days per 5 months; the +2 places each month boundary.)
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    CivilDate {
        year,
        month: month as u8,
        day: day as u8,
    }
}

/// Format `ts` as RFC 3339 into a fixed buffer.
pub fn format_rfc3339(ts: Timestamp) -> [u8; RFC3339_LEN] {
    let nanos = ts.nanos();
    let secs = nanos.div_euclid(NANOS_PER_SEC);
    let micros = (nanos.rem_euclid(NANOS_PER_SEC) / 1_000) as u32;
    let days = secs.div_euclid(SECS_PER_DAY);
    let sec_of_day = secs.rem_euclid(SECS_PER_DAY) as u32;
    let date = civil_from_days(days);

    let mut out = *b"0000-00-00T00:00:00.000000Z";
    // i64 nanoseconds span 1677..2262, so the year always has four digits.
    put_digits(&mut out[0..4], date.year.clamp(0, 9999) as u32);
    put_digits(&mut out[5..7], u32::from(date.month));
    put_digits(&mut out[8..10], u32::from(date.day));
    put_digits(&mut out[11..13], sec_of_day / 3600);
    put_digits(&mut out[14..16], sec_of_day / 60 % 60);
    put_digits(&mut out[17..19], sec_of_day % 60);
    put_digits(&mut out[20..26], micros);
    out
}

/// Append `ts` as RFC 3339 to `buf`.
pub fn write_rfc3339(buf: &mut Vec<u8>, ts: Timestamp) {
    buf.extend_from_slice(&format_rfc3339(ts));
}

/// Write `value`'s last `dst.len()` decimal digits, zero-padded.
fn put_digits(dst: &mut [u8], mut value: u32) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// A timestamp that serialises as its RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub Timestamp);

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = format_rfc3339(self.0);
        // Only ASCII digits and punctuation were written.
        let text = std::str::from_utf8(&bytes).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(ts: Timestamp) -> String {
        String::from_utf8(format_rfc3339(ts).to_vec()).unwrap()
    }

    /// Expected strings from GNU date: `date -u -d @SECS +%FT%T.%6NZ`.
    #[test]
    fn matches_gnu_date() {
        let cases: &[(i64, u32, &str)] = &[
            (1_579_293_816, 559_976_000, "2020-01-17T20:43:36.559976Z"),
            // Sub-microsecond digits are truncated, as date's %6N does.
            (1_579_293_816, 559_976_900, "2020-01-17T20:43:36.559976Z"),
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (-1, 0, "1969-12-31T23:59:59.000000Z"),
            // -86400.5 s: the fraction counts forward from the second below.
            (-86_401, 500_000_000, "1969-12-30T23:59:59.500000Z"),
            // 2000 is a leap year (divisible by 400).
            (951_782_400, 0, "2000-02-29T00:00:00.000000Z"),
            (951_868_799, 999_999_000, "2000-02-29T23:59:59.999999Z"),
            // 1900 and 2100 are not leap years (divisible by 100).
            (-2_208_988_800, 0, "1900-01-01T00:00:00.000000Z"),
            (4_107_542_399, 0, "2100-02-28T23:59:59.000000Z"),
            (1_709_251_199, 0, "2024-02-29T23:59:59.000000Z"),
        ];
        for &(secs, nanos, want) in cases {
            assert_eq!(fmt(Timestamp::from_secs_nanos(secs, nanos)), want, "{secs}");
        }
    }

    /// The extremes of `Timestamp` (i64 nanoseconds), against
    /// `date -u -d @-9223372036.854775808` and `@9223372036.854775807`.
    #[test]
    fn extremes_of_the_range() {
        assert_eq!(fmt(Timestamp(i64::MIN)), "1677-09-21T00:12:43.145224Z");
        assert_eq!(fmt(Timestamp(i64::MAX)), "2262-04-11T23:47:16.854775Z");
    }

    #[test]
    fn civil_dates_around_leap_days() {
        // 1972-02-29 is day 789 (date -u -d 1972-02-29 +%s / 86400).
        let d = civil_from_days(789);
        assert_eq!((d.year, d.month, d.day), (1972, 2, 29));
        let d = civil_from_days(790);
        assert_eq!((d.year, d.month, d.day), (1972, 3, 1));
        // 1600-02-29 (400-year leap day, pre-1970): -135081 days.
        let d = civil_from_days(-135_081);
        assert_eq!((d.year, d.month, d.day), (1600, 2, 29));
    }

    #[test]
    fn serialises_as_a_json_string() {
        let v = serde_json::to_string(&Rfc3339(Timestamp::from_secs_nanos(0, 1_000))).unwrap();
        assert_eq!(v, "\"1970-01-01T00:00:00.000001Z\"");
    }
}
