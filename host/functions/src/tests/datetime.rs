use super::{check, check_err, check_str, ok};

#[test]
fn formatdate() {
    let t = "2018-01-02T23:12:01Z";
    check_str(
        &format!(r#"formatdate("DD MMM YYYY hh:mm ZZZ", "{t}")"#),
        "02 Jan 2018 23:12 UTC",
    );
    check_str(
        &format!(r#"formatdate("EEEE, DD-MMM-YY hh:mm:ss ZZZ", "{t}")"#),
        "Tuesday, 02-Jan-18 23:12:01 UTC",
    );
    check_str(
        r#"formatdate("EEE, DD MMM YYYY hh:mm:ss ZZZ", "2018-01-02T23:12:01-08:00")"#,
        "Tue, 02 Jan 2018 23:12:01 -0800",
    );
    check_str(
        &format!(r#"formatdate("MMM DD, YYYY", "{t}")"#),
        "Jan 02, 2018",
    );
    check_str(&format!(r#"formatdate("HH:mmaa", "{t}")"#), "11:12pm");
    check_str(
        r#"formatdate("h'h'mm", "2018-01-02T23:12:01-08:00")"#,
        "23h12",
    );
    check_str(
        &format!(r#"formatdate("YYYY-MM-DD'T'hh:mm:ssZ", "{t}")"#),
        "2018-01-02T23:12:01Z",
    );
    check_str(
        r#"formatdate("M/D/YY h:m:s AA ZZZZ ZZZZZ Z", "2018-03-04T05:06:07+05:30")"#,
        "3/4/18 5:6:7 AM +0530 +05:30 +05:30",
    );
    check_str(
        &format!(r#"formatdate("MMMM 'o''clock' ''", "{t}")"#),
        "January o'clock '",
    );
    check_err(
        &format!(r#"formatdate("YYY", "{t}")"#),
        &["invalid date format verb \"YYY\""],
    );
    check_err(&format!(r#"formatdate("at", "{t}")"#), &["must be \"aa\""]);
    check_err(
        &format!(r#"formatdate("'open", "{t}")"#),
        &["unterminated literal"],
    );
    check_err(
        r#"formatdate("YYYY", "2018-01-02")"#,
        &["not a valid RFC3339 timestamp"],
    );
}

#[test]
fn timeadd() {
    check_str(
        r#"timeadd("2017-11-22T00:00:00Z", "10m")"#,
        "2017-11-22T00:10:00Z",
    );
    check_str(
        r#"timeadd("2017-11-22T00:00:00Z", "-1h30m")"#,
        "2017-11-21T22:30:00Z",
    );
    check_str(
        r#"timeadd("2017-11-22T00:00:00+02:00", "1.5s")"#,
        "2017-11-22T00:00:01+02:00",
    );
    check_str(
        r#"timeadd("2017-11-22T00:00:00Z", "0")"#,
        "2017-11-22T00:00:00Z",
    );
    check_err(
        r#"timeadd("2017-11-22T00:00:00Z", "10 minutes")"#,
        &["invalid duration"],
    );
    check_err(
        r#"timeadd("2017-11-22T00:00:00Z", "")"#,
        &["invalid duration"],
    );
}

#[test]
fn timestamp_and_legacy_functions() {
    let now = ok("timestamp()");
    let now = now.as_str().expect("a string");
    assert!(chrono::DateTime::parse_from_rfc3339(now).is_ok(), "{now}");
    assert!(now.ends_with('Z'), "{now}");
    let start = ok("legacy_isotime()");
    assert_eq!(ok("legacy_strftime()"), start);
    assert_eq!(ok(r#"legacy_isotime("2006-01-02T15:04:05Z07:00")"#), start);
    check_err(r#"legacy_isotime("a", "b")"#, &["too many values"]);
}

#[test]
fn parse_timestamps() {
    check(
        r#"rfc3339_parse("2023-07-25T23:43:16-04:00")"#,
        r#"{
            year = 2023, year_day = 206, day = 25, month = 7, month_name = "July",
            weekday = 2, weekday_name = "Tuesday", hour = 23, minute = 43, second = 16,
            unix = 1690342996, iso_year = 2023, iso_week = 30
        }"#,
    );
    check(
        r#"unix_timestamp_parse(1690328596)"#,
        r#"{
            year = 2023, year_day = 206, day = 25, month = 7, month_name = "July",
            weekday = 2, weekday_name = "Tuesday", hour = 23, minute = 43, second = 16,
            iso_year = 2023, iso_week = 30, rfc3339 = "2023-07-25T23:43:16Z"
        }"#,
    );
    check_err(
        r#"rfc3339_parse("yesterday")"#,
        &["is not a valid RFC3339 timestamp"],
    );
}
