use super::*;

#[test]
fn go_durations() {
    let d = |s: &str| parse_go_duration(s).map_err(|e| e.to_string());
    assert_eq!(d("30s"), Ok(Some(Duration::from_secs(30))));
    assert_eq!(d("1h30m"), Ok(Some(Duration::from_secs(5400))));
    assert_eq!(d("1.5s"), Ok(Some(Duration::from_millis(1500))));
    assert_eq!(d("0"), Ok(None));
    assert_eq!(d("-5s"), Ok(None));
    assert_eq!(d("5"), Err("time: missing unit in duration \"5\"".into()));
    assert_eq!(
        d("5d"),
        Err("time: unknown unit \"d\" in duration \"5d\"".into())
    );
    assert_eq!(d(""), Err("time: invalid duration \"\"".into()));
}

#[test]
fn go_duration_strings() {
    let s = |n: u64| go_duration_string(Duration::from_nanos(n));
    assert_eq!(s(60_000_000_000), "1m0s");
    assert_eq!(s(5_400_500_000_000), "1h30m0.5s");
    assert_eq!(s(5), "5ns");
    assert_eq!(s(1_500_000), "1.5ms");
    assert_eq!(s(3_000_000_000), "3s");
}

#[test]
fn versions_compare_like_go_version() {
    let v = |s: &str| parse_version(s).unwrap();
    assert!(v("1.6.6") >= v("1.6"));
    assert!(v("1.6.6") < v("1.7.0"));
    assert!(v("1.6.6") > v("1.6.6-dev"));
    assert!(v("v1.5.0") < v("1.6.6"));
    assert!(parse_version("abc").is_none());
}
