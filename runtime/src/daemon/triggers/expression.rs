//! EventBridge Scheduler's schedule expressions — `cron(…)`, `rate(…)`, `at(…)` — parsed once
//! when a schedule is made, and the times they fire: in the schedule's time zone, between its
//! start and end dates. Cron field semantics (`L`, `W`, `#`, steps, ranges) are croner's; the
//! AWS dialect around them (six fields with a year, Quartz weekdays 1-7 = SUN-SAT, `?` in
//! exactly one of the day fields) is checked here.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The units `rate(N unit)` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Minute,
    Hour,
    Day,
}

/// A parsed schedule expression.
#[derive(Debug, Clone)]
pub enum Expression {
    Cron(Box<croner::Cron>),
    Rate(u32, RateUnit),
    /// A one-time schedule at this wall-clock time in the schedule's time zone.
    At(NaiveDateTime),
}

/// When a schedule may fire: its expression, time zone and bounds.
#[derive(Debug, Clone)]
pub struct Timing {
    pub expression: Expression,
    pub zone: Tz,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Where `rate(…)` counts from when there is no start date: when the schedule was made.
    pub created: DateTime<Utc>,
}

/// AWS's words for an expression it cannot use.
fn invalid(text: &str, why: &str) -> String {
    format!("Invalid Schedule Expression {text}: {why}")
}

impl Expression {
    pub fn parse(text: &str) -> Result<Expression, String> {
        let t = text.trim();
        let inner = |prefix: &str| t.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')).map(str::trim);
        if let Some(body) = inner("cron(") {
            return cron(body)
                .map(|c| Expression::Cron(Box::new(c)))
                .map_err(|e| invalid(text, &e));
        }
        if let Some(body) = inner("rate(") {
            return rate(body).map_err(|e| invalid(text, &e));
        }
        if let Some(body) = inner("at(") {
            return NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S")
                .map(Expression::At)
                .map_err(|_| invalid(text, "at(…) takes a time as yyyy-mm-ddThh:mm:ss"));
        }
        Err(invalid(
            text,
            "expected cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)",
        ))
    }

    /// Whether the schedule fires once only (`at(…)`).
    pub fn one_time(&self) -> bool {
        matches!(self, Expression::At(_))
    }
}

fn cron(body: &str) -> Result<croner::Cron, String> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    let [minutes, hours, dom, month, dow, year] = fields[..] else {
        return Err(format!(
            "a cron expression has six fields (minutes hours day-of-month month day-of-week year), this one has {}",
            fields.len()
        ));
    };
    // AWS: a value or `*` in one day field needs `?` in the other (never both, never neither).
    match (dom == "?", dow == "?") {
        (true, true) => return Err("day-of-month and day-of-week cannot both be '?'".into()),
        (false, false) => {
            return Err("use '?' in either day-of-month or day-of-week: they cannot both be given".into());
        }
        _ => {}
    }
    for (name, f) in [("minutes", minutes), ("hours", hours), ("month", month), ("year", year)] {
        if f.contains(['?', 'L', 'W', '#']) && !(name == "month" && f.chars().any(|c| c.is_ascii_alphabetic())) {
            return Err(format!("'{f}' is not allowed in the {name} field"));
        }
    }
    // AWS's years run 1970-2199.
    for part in year.split([',', '-', '/']) {
        if let Ok(y) = part.parse::<u32>()
            && !(1970..=2199).contains(&y)
            && !year.contains(&format!("/{part}"))
        {
            return Err(format!("the year {y} is outside 1970-2199"));
        }
    }
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Required)
        .alternative_weekdays(true)
        // AWS writes steps from a start without a range: `0/15`.
        .sloppy_ranges(true)
        .build();
    parser
        .parse(&format!("0 {minutes} {hours} {dom} {month} {dow} {year}"))
        .map_err(|e| e.to_string())
}

fn rate(body: &str) -> Result<Expression, String> {
    let mut words = body.split_whitespace();
    let (Some(value), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err("rate(…) takes a value and a unit: rate(5 minutes)".into());
    };
    let n: u32 = value
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("the value '{value}' is not a positive whole number"))?;
    let unit = match unit {
        "minute" | "minutes" => RateUnit::Minute,
        "hour" | "hours" => RateUnit::Hour,
        "day" | "days" => RateUnit::Day,
        other => return Err(format!("unknown unit '{other}': use minute(s), hour(s) or day(s)")),
    };
    Ok(Expression::Rate(n, unit))
}

/// A time zone by its IANA name (`America/New_York`), as `ScheduleExpressionTimezone` takes it.
pub fn zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("Invalid ScheduleExpressionTimezone {name}: not an IANA time zone name"))
}

impl Timing {
    /// The first time the schedule fires strictly after `after`, or `None` when it fires no
    /// more (past its end date, a one-time schedule's time gone by).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Never before the start date: search from just before it.
        let from = match self.start {
            Some(s) if s > after => s - Duration::milliseconds(1),
            _ => after,
        };
        let next = match &self.expression {
            Expression::Cron(c) => {
                let local = from.with_timezone(&self.zone);
                c.find_next_occurrence(&local, false).ok()?.with_timezone(&Utc)
            }
            Expression::Rate(n, unit) => {
                let step = match unit {
                    RateUnit::Minute => Duration::minutes(*n as i64),
                    RateUnit::Hour => Duration::hours(*n as i64),
                    RateUnit::Day => Duration::days(*n as i64),
                };
                // A start date is the first time; without one, a period after creation.
                let (anchor, first) = match self.start {
                    Some(s) => (s, s),
                    None => (self.created, self.created + step),
                };
                if from < first {
                    first
                } else {
                    let periods = (from - anchor).num_milliseconds() / step.num_milliseconds() + 1;
                    anchor + step * periods as i32
                }
            }
            Expression::At(t) => {
                let at = self.zone.from_local_datetime(t).earliest()?.with_timezone(&Utc);
                if at <= from {
                    return None;
                }
                at
            }
        };
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn timing(expr: &str, zone_name: &str) -> Timing {
        Timing {
            expression: Expression::parse(expr).unwrap(),
            zone: zone(zone_name).unwrap(),
            start: None,
            end: None,
            created: utc("2026-01-01T00:00:00Z"),
        }
    }

    /// The next `n` times after `from`, as RFC 3339 in UTC.
    fn times(t: &Timing, from: &str, n: usize) -> Vec<String> {
        let mut at = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            let Some(next) = t.next_after(at) else { break };
            out.push(next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            at = next;
        }
        out
    }

    /// The examples in EventBridge Scheduler's user guide ("Schedule types": cron
    /// expressions), with what each is documented to mean.
    #[test]
    fn aws_documented_cron_examples() {
        // 10:15 AM UTC every day.
        let t = timing("cron(15 10 * * ? *)", "UTC");
        assert_eq!(
            times(&t, "2026-12-07T10:15:00Z", 2),
            ["2026-12-08T10:15:00Z", "2026-12-09T10:15:00Z"]
        );
        // 6:00 PM Monday through Friday (2026-12-11 is a Friday).
        let t = timing("cron(0 18 ? * MON-FRI *)", "UTC");
        assert_eq!(
            times(&t, "2026-12-11T18:00:00Z", 2),
            ["2026-12-14T18:00:00Z", "2026-12-15T18:00:00Z"]
        );
        // 8:00 AM on the first day of the month.
        let t = timing("cron(0 8 1 * ? *)", "UTC");
        assert_eq!(
            times(&t, "2026-12-07T00:00:00Z", 2),
            ["2027-01-01T08:00:00Z", "2027-02-01T08:00:00Z"]
        );
        // Every 10 minutes on weekdays.
        let t = timing("cron(0/10 * ? * MON-FRI *)", "UTC");
        assert_eq!(
            times(&t, "2026-12-11T23:45:00Z", 3),
            ["2026-12-11T23:50:00Z", "2026-12-14T00:00:00Z", "2026-12-14T00:10:00Z"]
        );
        // Every 5 minutes between 8:00 AM and 5:55 PM on weekdays.
        let t = timing("cron(0/5 8-17 ? * MON-FRI *)", "UTC");
        assert_eq!(
            times(&t, "2026-12-07T17:50:00Z", 2),
            ["2026-12-07T17:55:00Z", "2026-12-08T08:00:00Z"]
        );
        // 9:00 AM on the first Monday of each month (Quartz numbering: 2 = MON).
        let t = timing("cron(0 9 ? * 2#1 *)", "UTC");
        assert_eq!(
            times(&t, "2026-12-07T12:00:00Z", 2),
            ["2027-01-04T09:00:00Z", "2027-02-01T09:00:00Z"]
        );
        // The seeds' `cron(0/1 * ? * * *)`: every minute.
        let t = timing("cron(0/1 * ? * * *)", "UTC");
        assert_eq!(
            times(&t, "2026-12-07T12:00:30Z", 2),
            ["2026-12-07T12:01:00Z", "2026-12-07T12:02:00Z"]
        );
    }

    #[test]
    fn last_and_weekday_specifiers() {
        // The last day of the month.
        let t = timing("cron(0 0 L * ? *)", "UTC");
        assert_eq!(
            times(&t, "2027-02-01T00:00:00Z", 2),
            ["2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z"]
        );
        // The weekday nearest the 15th (2027-05-15 is a Saturday: Friday the 14th).
        let t = timing("cron(0 12 15W * ? *)", "UTC");
        assert_eq!(times(&t, "2027-05-01T00:00:00Z", 1), ["2027-05-14T12:00:00Z"]);
        // The last Friday of the month (6 = FRI).
        let t = timing("cron(0 12 ? * 6L *)", "UTC");
        assert_eq!(times(&t, "2026-12-01T00:00:00Z", 1), ["2026-12-25T12:00:00Z"]);
        // Years bound the schedule.
        let t = timing("cron(0 0 1 1 ? 2027-2028)", "UTC");
        assert_eq!(
            times(&t, "2026-06-01T00:00:00Z", 3),
            ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn time_zones_follow_local_time_across_daylight_saving() {
        // 9:00 in New York: 14:00 UTC in winter, 13:00 UTC in summer (DST began 2027-03-14).
        let t = timing("cron(0 9 * * ? *)", "America/New_York");
        assert_eq!(
            times(&t, "2027-03-12T15:00:00Z", 3),
            ["2027-03-13T14:00:00Z", "2027-03-14T13:00:00Z", "2027-03-15T13:00:00Z"]
        );
        let t = timing("at(2027-07-01T09:30:00)", "Europe/Paris");
        assert_eq!(times(&t, "2026-12-07T00:00:00Z", 2), ["2027-07-01T07:30:00Z"]);
    }

    #[test]
    fn rates_count_from_the_start_date_or_creation_and_stop_at_the_end() {
        let mut t = timing("rate(5 minutes)", "UTC");
        assert_eq!(
            times(&t, "2025-06-01T00:00:00Z", 2),
            ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]
        );
        assert_eq!(times(&t, "2026-01-01T01:02:03Z", 1), ["2026-01-01T01:05:00Z"]);
        t.start = Some(utc("2026-02-01T12:00:00Z"));
        t.end = Some(utc("2026-02-01T12:10:00Z"));
        assert_eq!(
            times(&t, "2026-01-15T00:00:00Z", 5),
            ["2026-02-01T12:00:00Z", "2026-02-01T12:05:00Z", "2026-02-01T12:10:00Z"]
        );
        assert_eq!(
            times(&timing("rate(1 day)", "UTC"), "2026-01-01T00:00:00Z", 1),
            ["2026-01-02T00:00:00Z"]
        );
    }

    #[test]
    fn aws_dialect_errors_name_what_is_wrong() {
        for (expr, why) in [
            ("cron(0 10 * * * *)", "either day-of-month or day-of-week"),
            ("cron(0 10 ? * ? *)", "cannot both be '?'"),
            ("cron(0 10 * * ?)", "six fields"),
            ("cron(0 10 * * ? 1969)", "outside 1970-2199"),
            ("cron(61 10 * * ? *)", "Invalid Schedule Expression"),
            ("rate(0 minutes)", "positive whole number"),
            ("rate(5 weeks)", "unknown unit 'weeks'"),
            ("at(2026-13-01T00:00:00)", "yyyy-mm-ddThh:mm:ss"),
            ("every 5 minutes", "expected cron("),
        ] {
            let e = Expression::parse(expr).unwrap_err();
            assert!(e.contains(why) && e.contains(expr), "{expr}: {e}");
        }
        assert!(zone("Mars/Olympus").unwrap_err().contains("Mars/Olympus"));
    }
}
