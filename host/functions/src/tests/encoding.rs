use std::io::Read;

use base64::Engine;

use super::{check, check_err, check_str, ok};

#[test]
fn base64() {
    check_str(r#"base64encode("Hello World")"#, "SGVsbG8gV29ybGQ=");
    check_str(r#"base64decode("SGVsbG8gV29ybGQ=")"#, "Hello World");
    check_str(r#"base64decode("SGVsbG8g\nV29ybGQ=")"#, "Hello World");
    check_err(
        r#"base64decode("not base64!")"#,
        &["failed to decode base64 data"],
    );
    check_err(r#"base64decode("/w==")"#, &["not valid UTF-8"]);
    check_str(
        r#"textencodebase64("Hello World", "UTF-16LE")"#,
        "SABlAGwAbABvACAAVwBvAHIAbABkAA==",
    );
    check_str(
        r#"textdecodebase64("SABlAGwAbABvACAAVwBvAHIAbABkAA==", "UTF-16LE")"#,
        "Hello World",
    );
    check_err(
        r#"textencodebase64("x", "EBCDIC")"#,
        &["not a supported encoding"],
    );
}

#[test]
fn base64gzip_round_trips() {
    let encoded = ok(r#"base64gzip("hello world")"#);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().expect("a string"))
        .expect("base64");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("gzip");
    assert_eq!(text, "hello world");
}

#[test]
fn csvdecode() {
    check(
        r#"csvdecode("a,b,c\n1,2,3\n4,5,6")"#,
        r#"[{a = "1", b = "2", c = "3"}, {a = "4", b = "5", c = "6"}]"#,
    );
    check(
        r#"csvdecode("a,b\n\"x,y\",2\n")"#,
        r#"[{a = "x,y", b = "2"}]"#,
    );
    check(r#"csvdecode("a,b")"#, "[]");
    check_err(r#"csvdecode("")"#, &["missing header line"]);
    check_err(
        r#"csvdecode("a,b\n1,2,3")"#,
        &["line 2: wrong number of fields"],
    );
    check_err(r#"csvdecode("a,a\n1,2")"#, &["duplicate column name \"a\""]);
}

#[test]
fn json() {
    check(
        r#"jsondecode("{\"hello\": \"world\"}")"#,
        r#"{hello = "world"}"#,
    );
    check(r#"jsondecode("true")"#, "true");
    check(r#"jsondecode("[1, 2.5, null]")"#, "[1, 2.5, null]");
    check_err(r#"jsondecode("{")"#, &["\"str\""]);
    check_str(r#"jsonencode({"hello" = "world"})"#, r#"{"hello":"world"}"#);
    check_str(
        r#"jsonencode({b = [1, 2.5], a = null})"#,
        r#"{"a":null,"b":[1,2.5]}"#,
    );
    check_str(r#"jsonencode("<a&b>\n")"#, r#""\u003ca\u0026b\u003e\n""#);
}

#[test]
fn urlencode() {
    check_str(r#"urlencode("Hello World!")"#, "Hello+World%21");
    check_str(r#"urlencode("☃")"#, "%E2%98%83");
    check_str(
        r#"urlencode("foo:bar@localhost?foo=bar&bar=baz")"#,
        "foo%3Abar%40localhost%3Ffoo%3Dbar%26bar%3Dbaz",
    );
}

#[test]
fn yamldecode() {
    check(r#"yamldecode("hello: world")"#, r#"{hello = "world"}"#);
    check(r#"yamldecode("true")"#, "true");
    check(
        r#"yamldecode("{a: &foo [1, 2, 3], b: *foo}")"#,
        "{a = [1, 2, 3], b = [1, 2, 3]}",
    );
    check(
        r#"yamldecode("a: yes\nb: 'yes'\nc: 0x1F\nd: 1.5e3\ne: ~\nf: 0b101\ng: 007\nh: 1_000\ni: .5\nj: 1.2.3\n")"#,
        r#"{a = true, b = "yes", c = "0x1F", d = 1500, e = null, f = 5, g = 7, h = 1000, i = 0.5, j = "1.2.3"}"#,
    );
    check(
        r#"yamldecode("base: &b {p: 1, q: 2}\nitem:\n  <<: *b\n  q: 3\n")"#,
        "{base = {p = 1, q = 2}, item = {p = 1, q = 3}}",
    );
    // YAML 1.1, as go-cty-yaml reads it: a plain `y` is true, even as a key.
    check(r#"yamldecode("y: 1")"#, r#"{"true" = 1}"#);
    check(r#"yamldecode("num: !!str 12")"#, r#"{num = "12"}"#);
    check(
        r#"yamldecode("[2001-12-14, 2001-12-14t21:59:43.10-05:00, 2002-1-2 3:04:05, '2001-12-14']")"#,
        r#"["2001-12-14T00:00:00Z", "2001-12-14T21:59:43-05:00", "2002-01-02T03:04:05Z", "2001-12-14"]"#,
    );
    check_err(r#"yamldecode("a: !custom x")"#, &["unsupported tag"]);
    check_err(r#"yamldecode("? ~\n: 1")"#, &["mapping key cannot be null"]);
    check_err(r#"yamldecode("a: .nan")"#, &["NaN is not supported"]);
    check(r#"yamldecode("")"#, "null");
    check_err(
        r#"yamldecode("a: 1\n---\nb: 2\n")"#,
        &["only one YAML document"],
    );
    check_err(
        r#"yamldecode("{a: &foo [1, *foo, 3]}")"#,
        &["unknown anchor"],
    );
    check_err(r#"yamldecode("a: [1")"#, &["\"src\""]);
}

#[test]
fn yamlencode() {
    check_str(
        r#"yamlencode({"a" = "b", "c" = "d"})"#,
        "\"a\": \"b\"\n\"c\": \"d\"\n",
    );
    check_str(
        r#"yamlencode({"foo" = [1, 2, 3], "bar" = "baz"})"#,
        "\"bar\": \"baz\"\n\"foo\":\n- 1\n- 2\n- 3\n",
    );
    check_str(
        r#"yamlencode({"foo" = [1, {"a" = "b", "c" = "d"}, 3], "bar" = "baz"})"#,
        "\"bar\": \"baz\"\n\"foo\":\n- 1\n- \"a\": \"b\"\n  \"c\": \"d\"\n- 3\n",
    );
    check_str("yamlencode(true)", "true\n...\n");
    check_str("yamlencode(0)", "0\n...\n");
    check_str("yamlencode(null)", "null\n...\n");
    check_str(r#"yamlencode("")"#, "\"\"\n");
    check_str(r#"yamlencode("hello\nworld")"#, "|-\n  hello\n  world\n");
    check_str("yamlencode({})", "{}\n");
    check_str("yamlencode([])", "[]\n");
    check_str(r#"yamlencode(["b"])"#, "- \"b\"\n");
    check_str(
        r#"yamlencode({a = {b = "line\n"}, c = [[1, 2], []]})"#,
        "\"a\":\n  \"b\": |\n    line\n\"c\":\n- - 1\n  - 2\n- []\n",
    );
    check_str(r#"yamlencode("tab\there\n")"#, "\"tab\\there\\n\"\n");
    // What Packer 1.6.6 writes for the same value.
    check_str(
        r#"yamlencode({b = "x", a = [1, {c = "d"}], e = "l1\nl2", f = {}, g = "tab\there"})"#,
        "\"a\":\n- 1\n- \"c\": \"d\"\n\"b\": \"x\"\n\"e\": |-\n  l1\n  l2\n\"f\": {}\n\"g\": \"tab\\there\"\n",
    );
}
