use super::{check, check_err, check_str};

#[test]
fn chomp_indent_join() {
    check_str(r#"chomp("hello\n")"#, "hello");
    check_str(r#"chomp("hello\r\n")"#, "hello");
    check_str(r#"chomp("hello\n\n")"#, "hello");
    check_str(
        r#""items: ${indent(2, "[\n  foo,\n  bar,\n]\n")}""#,
        "items: [\n    foo,\n    bar,\n  ]\n  ",
    );
    check_str(r#"join(", ", ["foo", "bar", "baz"])"#, "foo, bar, baz");
    check_str(r#"join(", ", ["foo"])"#, "foo");
    check_str(r#"join("-", ["a"], [1, true])"#, "a-1-true");
    check_err(r#"join(",", ["a", null])"#, &["element 1 is null"]);
}

#[test]
fn case_and_title() {
    check_str(r#"upper("hello")"#, "HELLO");
    check_str(r#"lower("HELLO")"#, "hello");
    check_str(r#"title("hello world")"#, "Hello World");
    check_str(r#"title("o'neil is_here-now")"#, "O'Neil Is_here-Now");
}

#[test]
fn regex_and_regexall() {
    check_str(
        r#"regex("[a-z]+", "53453453.345345aaabbbccc23454")"#,
        "aaabbbccc",
    );
    check(
        r#"regex("(\\d\\d\\d\\d)-(\\d\\d)-(\\d\\d)", "2019-02-01")"#,
        r#"["2019", "02", "01"]"#,
    );
    check(
        r#"regex("^(?:(?P<scheme>[^:/?#]+):)?(?://(?P<authority>[^/?#]*))?", "https://terraform.io/docs/")"#,
        r#"{ authority = "terraform.io", scheme = "https" }"#,
    );
    check(r#"regex("(a)|(b)", "b")"#, r#"[null, "b"]"#);
    check_err(
        r#"regex("[a-z]+", "53453453.34534523454")"#,
        &["pattern did not match any part of the given string"],
    );
    check_err(
        r#"regex("(?P<a>x)(y)", "xy")"#,
        &["cannot mix both named and unnamed"],
    );
    check_err(
        r#"regex("(", "x")"#,
        &["\"pattern\"", "invalid regexp pattern"],
    );
    check(
        r#"regexall("[a-z]+", "1234abcd5678efgh9")"#,
        r#"["abcd", "efgh"]"#,
    );
    check(r#"length(regexall("[a-z]+", "123456789")) > 0"#, "false");
}

#[test]
fn replace_and_regex_replace() {
    check_str(r#"replace("1 + 2 + 3", "+", "-")"#, "1 - 2 - 3");
    // Literal, as in Packer (Terraform would read "/w.*d/" as a pattern).
    check_str(
        r#"replace("hello world", "/w.*d/", "everybody")"#,
        "hello world",
    );
    check_str(r#"replace("/usr/bin", "/usr/", "/opt/")"#, "/opt/bin");
    check_str(r#"replace("a/b", "/", "\\")"#, "a\\b");
    check_str(
        r#"regex_replace("2019-02-01", "(\\d+)-(\\d+)-(\\d+)", "$3/$2/$1")"#,
        "01/02/2019",
    );
    check_str(
        r#"regex_replace("hello world", "(?P<w>w)orld", "$${w}ide")"#,
        "hello wide",
    );
}

#[test]
fn split_strrev_substr() {
    check(r#"split(",", "foo,bar,baz")"#, r#"["foo", "bar", "baz"]"#);
    check(r#"split(",", "foo")"#, r#"["foo"]"#);
    check(r#"split(",", "")"#, r#"[""]"#);
    check(r#"split("", "abc")"#, r#"["a", "b", "c"]"#);
    check_str(r#"strrev("hello")"#, "olleh");
    check_str(r#"strrev("a ☃")"#, "☃ a");
    check_str(r#"substr("hello world", 1, 4)"#, "ello");
    check_str(r#"substr("🤔🤷", 0, 1)"#, "🤔");
    check_str(r#"substr("hello world", -5, -1)"#, "world");
    check_str(r#"substr("hello world", 6, 10)"#, "world");
    check_str(r#"substr("hello", 10, 1)"#, "");
    check_err(
        r#"substr("hello", 1.5, 1)"#,
        &["\"offset\"", "whole number"],
    );
}

#[test]
fn trims_and_tests() {
    check_str(r#"trim("?!hello?!", "!?")"#, "hello");
    check_str(r#"trim("foobar", "far")"#, "oob");
    check_str(r#"trim("   hello! world.!  ", "! ")"#, "hello! world.");
    check_str(r#"trimprefix("helloworld", "hello")"#, "world");
    check_str(r#"trimprefix("helloworld", "cat")"#, "helloworld");
    check_str(r#"trimsuffix("helloworld", "world")"#, "hello");
    check_str(r#"trimspace("  hello\n\n")"#, "hello");
    check(r#"startswith("hello world", "hello")"#, "true");
    check(r#"endswith("hello world", "hello")"#, "false");
    check(r#"strcontains("hello world", "wor")"#, "true");
}

#[test]
fn format_verbs() {
    check_str(r#"format("Hello, %s!", "Ander")"#, "Hello, Ander!");
    check_str(r#"format("There are %d lights", 4)"#, "There are 4 lights");
    check_str(r#"format("%d", "12")"#, "12");
    check_str(
        r#"format("%5.2f|%-6.1f|%08.3f", 3.14159, 2.25, -3.14159)"#,
        " 3.14|2.2   |-003.142",
    );
    check_str(
        r#"format("%x %X %#x %o %b %+d % d", 255, 255, 255, 8, 5, 3, 3)"#,
        "ff FF 0xff 10 101 +3  3",
    );
    check_str(r#"format("%05d|%-5d|%.3d", 42, 42, 7)"#, "00042|42   |007");
    check_str(
        r#"format("%e %E", 1234.5, 0.000123)"#,
        "1.234500e+03 1.230000E-04",
    );
    check_str(
        r#"format("%g %g %g %.3g", 1234567, 100000, 0.00001, 3.14159)"#,
        "1.234567e+06 100000 1e-05 3.14",
    );
    check_str(
        r#"format("%v %v %v %v", "s", 1.5, true, 1000000)"#,
        "s 1.5 true 1e+06",
    );
    check_str(r#"format("%v|%#v", ["a", 1], "q")"#, r#"["a",1]|"q""#);
    check_str(r#"format("%q", "a\"b<")"#, r#""a\"b\u003c""#);
    check_str(r#"format("%t %%", true)"#, "true %");
    check_str(
        r#"format("%5s|%-5s|%.2s|%05s", "ab", "ab", "abc", "ab")"#,
        "   ab|ab   |ab|000ab",
    );
    check_str(r#"format("%[2]s %[1]s %s", "a", "b")"#, "b a b");
    check_str(r#"format("%v", null)"#, "null");
    // What Packer 1.6.6 writes for the same verbs.
    check_str(
        r#"format("%b %o %X %#o %#b %.0d|", 5, 8, 255, 8, 5, 0)"#,
        "101 10 FF 010 0b101 |",
    );
    check_str(
        r#"format("%f %.1f %e %.2e %g %G %E", 1.5, 0.05, 0, 123456789, 0.0000123, 1e21, 1e-7)"#,
        "1.500000 0.1 0.000000e+00 1.23e+08 1.23e-05 1E+21 1.000000E-07",
    );
    check_str(r#"format("%5t|%t", true, "false")"#, "true|false");
}

#[test]
fn format_errors() {
    check_err(
        r#"format("%d", "x")"#,
        &["unsupported value for \"%d\" at 0"],
    );
    check_err(r#"format("%d", 1.5)"#, &["an integer is required"]);
    check_err(
        r#"format("%s")"#,
        &["not enough arguments for \"%s\" at 0: need index 1 but have 0 total"],
    );
    check_err(
        r#"format("a", 1)"#,
        &["too many arguments; no verbs in format string"],
    );
    check_err(
        r#"format("%s", "a", 1)"#,
        &["too many arguments; only 1 used by format string"],
    );
    check_err(r#"format("%s", null)"#, &["null value cannot be formatted"]);
    check_err(r#"format("%z", 1)"#, &["unsupported format verb 'z'"]);
    check_err(
        r#"format("%", 1)"#,
        &["invalid format string starting at offset 0"],
    );
    check_err(r#"format("%s", ["a"])"#, &["string required"]);
}

#[test]
fn formatlist() {
    check(
        r#"formatlist("Hello, %s!", ["Valentina", "Ander", "Olivia", "Sam"])"#,
        r#"["Hello, Valentina!", "Hello, Ander!", "Hello, Olivia!", "Hello, Sam!"]"#,
    );
    check(
        r#"formatlist("%s, %s!", "Salutations", ["Valentina", "Ander", "Olivia", "Sam"])"#,
        r#"["Salutations, Valentina!", "Salutations, Ander!", "Salutations, Olivia!", "Salutations, Sam!"]"#,
    );
    check(r#"formatlist("x")"#, r#"["x"]"#);
    check(r#"formatlist("%s", [])"#, "[]");
    check_err(
        r#"formatlist("%s%s", ["a"], ["b", "c"])"#,
        &["argument 2 has length 2, which is inconsistent with argument 1 of length 1"],
    );
    check_err(
        r#"formatlist("%d", ["a"])"#,
        &["error on format iteration 0"],
    );
}
