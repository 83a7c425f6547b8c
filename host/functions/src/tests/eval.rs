//! `try`, `can`, `convert`, `env` and the declared-but-unsupported functions.

use hcl::eval::Context;

use super::super::{declare, names};
use super::{check, check_err, check_str, eval_in, ok};

#[test]
fn try_sees_its_arguments_errors() {
    check_str(r#"try(local.missing, "fallback")"#, "fallback");
    check_str(r#"try(local.obj.a, "fallback")"#, "x");
    check_str(r#"try(local.obj.missing, local.obj.a)"#, "x");
    check(r#"try(local.missing, null)"#, "null");
    check_str(r#"upper(try(local.missing, "nested"))"#, "NESTED");
    check_str(r#"try(try(local.nope, local.also_nope), "deep")"#, "deep");
    check_err(
        r#"try(local.missing, local.obj.gone)"#,
        &["`try`", "no expression succeeded", "missing", "gone"],
    );
    check_err("try()", &["at least one argument is required"]);
}

#[test]
fn can_turns_errors_into_false() {
    check(r#"can(regex("^ami-", "ami-123"))"#, "true");
    check(r#"can(regex("^ami-", "xyz-123"))"#, "false");
    check("can(local.missing)", "false");
    check("can(local.obj.a)", "true");
    check(r#"can(local.obj.a) && !can(local.missing)"#, "true");
    check_err("can(1, 2)", &["expected 1 argument"]);
}

#[test]
fn try_inside_templates_and_collections() {
    check_str(r#""${try(local.missing, "d")}-x""#, "d-x");
    check_str(
        r#""${try(local.missing, "a")}\n\t\"x\" \\""#,
        "a\n\t\"x\" \\",
    );
    check_str(r#""${try(local.missing, "alone")}""#, "alone");
    check(
        r#"[try(local.missing, 1), { k = can(local.missing) }]"#,
        "[1, { k = false }]",
    );
    check_str(
        "<<EOT\n${try(local.missing, \"h\")}\nline\nEOT",
        "h\nline\n",
    );
    check_str(
        r#""%{ if can(local.missing) }yes%{ else }no%{ endif }""#,
        "no",
    );
    check_str(
        r#""${"$"}{literal} ${try(local.missing, "\"q\"")}""#,
        "${literal} \"q\"",
    );
}

#[test]
fn only_the_selected_branch_of_a_conditional_runs_try() {
    check_str(
        r#"true ? "a" : try(local.missing, local.also_missing)"#,
        "a",
    );
    check_err(
        r#"false ? "a" : try(local.missing)"#,
        &["no expression succeeded"],
    );
}

#[test]
fn inside_for_expressions_try_and_can_are_left_to_hcl() {
    check(r#"[for x in ["a", "b"] : try(x, "z")]"#, r#"["a", "b"]"#);
    check(r#"[for x in ["a"] : can(x)]"#, "[true]");
    // The collection is evaluated outside the loop, so it may use try.
    check(r#"[for x in try(local.missing, [1, 2]) : x * 2]"#, "[2, 4]");
    // The documented limit: an error inside the loop is not caught.
    check_err(r#"[for x in [1] : try(local.missing, x)]"#, &["missing"]);
}

#[test]
fn convert_takes_type_expressions() {
    check(
        r#"convert(["a", 1, true], list(string))"#,
        r#"["a", "1", "true"]"#,
    );
    check(r#"convert("5", number)"#, "5");
    check(r#"convert("true", bool)"#, "true");
    check(r#"convert(5, string)"#, r#""5""#);
    check(r#"convert({a = 1}, map(string))"#, r#"{a = "1"}"#);
    check(r#"convert([3, 1, 3], set(number))"#, "[1, 3]");
    check(
        r#"convert(["1", 2], tuple([number, string]))"#,
        r#"[1, "2"]"#,
    );
    check(
        r#"convert({a = "1", extra = 2}, object({a = number, b = optional(string, "dflt"), c = optional(bool)}))"#,
        r#"{a = 1, b = "dflt", c = null}"#,
    );
    check(r#"convert(null, list(string))"#, "null");
    check(r#"convert({x = [1]}, any)"#, "{x = [1]}");
    check(r#"[for v in ["1"] : convert(v, number)]"#, "[1]");
    check_err(
        r#"convert("x", number)"#,
        &["cannot convert \"x\" to number"],
    );
    check_err(
        r#"convert("maybe", bool)"#,
        &["only the strings \"true\" or \"false\""],
    );
    check_err(
        r#"convert([[1]], list(string))"#,
        &["element 0: string required, got list"],
    );
    check_err(
        r#"convert({}, object({a = string}))"#,
        &["attribute \"a\" is required"],
    );
    check_err(
        r#"convert(1, strin)"#,
        &["the keyword \"strin\" is not a valid type specification"],
    );
    check_err(r#"convert(1, list)"#, &["requires an argument"]);
    check_err(
        r#"convert(1, optional(string))"#,
        &["only allowed for an object's attributes"],
    );
}

#[test]
fn env_is_declared_only_on_request() {
    let with_env = ok(r#"env("PATH")"#);
    assert_eq!(
        with_env,
        hcl::Value::from(std::env::var("PATH").unwrap_or_default())
    );
    check_str(r#"env("KILN_SURELY_UNSET_VARIABLE")"#, "");
    let mut ctx = Context::new();
    declare(&mut ctx, false);
    let e = eval_in(r#"env("PATH")"#, &ctx).expect_err("env is undeclared");
    assert!(e.contains("undefined function `env`"), "{e}");
    assert!(names().any(|n| n == "env"));
}

#[test]
fn unsupported_functions_say_why() {
    check_err(
        r#"vault("secret/data/x", "key")"#,
        &[
            "`vault`",
            "not supported by Kiln: it reaches an external service",
        ],
    );
    check_err(
        r#"aws_secretsmanager("name", "key")"#,
        &["pass the value in a variable instead"],
    );
    check_err(r#"consul_key("k")"#, &["external service"]);
    check_err(r#"rsadecrypt("x", "key")"#, &["not supported by Kiln"]);
}

#[test]
fn hcl_checks_arity() {
    check_err(
        r#"upper("a", "b")"#,
        &["`upper`", "expected 1 positional arguments, got 2"],
    );
}
