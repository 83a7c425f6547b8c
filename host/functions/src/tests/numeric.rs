use super::{check, check_err};

#[test]
fn abs_ceil_floor_signum() {
    check("abs(23)", "23");
    check("abs(0)", "0");
    check("abs(-12.4)", "12.4");
    check("ceil(5)", "5");
    check("ceil(5.1)", "6");
    check("floor(4.9)", "4");
    check("floor(-4.1)", "-5");
    check("signum(-13)", "-1");
    check("signum(0)", "0");
    check("signum(344)", "1");
}

#[test]
fn strings_convert_to_numbers() {
    check("abs(\"-3\")", "3");
    check_err(
        "abs(\"three\")",
        &["\"num\"", "cannot convert \"three\" to number"],
    );
    check_err(
        "abs([1])",
        &["\"num\" parameter: number required, got list"],
    );
    check_err("abs(null)", &["must not be null"]);
}

#[test]
fn log_and_pow() {
    check("log(50, 10)", "1.6989700043360185");
    check("log(16, 2)", "4");
    check("log(1, 10)", "0");
    check("pow(3, 2)", "9");
    check("pow(4, 0)", "1");
    check_err("log(0, 10)", &["not a finite number"]);
}

#[test]
fn max_and_min() {
    check("max(12, 54, 3)", "54");
    check("max([12, 54, 3]...)", "54");
    check("min(12, 54, 3)", "3");
    check("min(-1.5, 2)", "-1.5");
    check_err("max()", &["at least one number"]);
}

#[test]
fn parseint() {
    check("parseint(\"100\", 10)", "100");
    check("parseint(\"FF\", 16)", "255");
    check("parseint(\"-10\", 16)", "-16");
    check("parseint(\"1011111011101111\", 2)", "48879");
    check("parseint(\"aA\", 62)", "656");
    check_err(
        "parseint(\"12\", 2)",
        &["cannot parse \"12\" as a base 2 integer"],
    );
    check_err("parseint(\"1\", 63)", &["between 2 and 62"]);
    check_err("parseint(12, 10)", &["first argument must be a string"]);
}

#[test]
fn sum() {
    check("sum([10, 13, 6, 4.5])", "33.5");
    check_err("sum([])", &["cannot sum an empty list"]);
}
