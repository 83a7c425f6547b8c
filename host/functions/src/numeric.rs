//! Numeric functions: abs, ceil, floor, log, max, min, parseint, pow, signum, sum.

use hcl::eval::FuncArgs;
use hcl::Value;

use super::args::{self, invalid, num, number, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    abs(1) ceil(1) floor(1) log(2) max(0..) min(0..) parseint(2) pow(2) signum(1) sum(1)
};

fn abs(args: FuncArgs) -> Result<Value> {
    num(number(&args[0], "num")?.abs())
}

fn ceil(args: FuncArgs) -> Result<Value> {
    num(number(&args[0], "num")?.ceil())
}

fn floor(args: FuncArgs) -> Result<Value> {
    num(number(&args[0], "num")?.floor())
}

fn log(args: FuncArgs) -> Result<Value> {
    let (n, base) = (number(&args[0], "num")?, number(&args[1], "base")?);
    num(n.ln() / base.ln())
}

fn pow(args: FuncArgs) -> Result<Value> {
    num(number(&args[0], "num")?.powf(number(&args[1], "power")?))
}

fn signum(args: FuncArgs) -> Result<Value> {
    let n = number(&args[0], "num")?;
    num(match n {
        n if n > 0.0 => 1.0,
        n if n < 0.0 => -1.0,
        _ => 0.0,
    })
}

fn max(args: FuncArgs) -> Result<Value> {
    extreme(&args, f64::max)
}

fn min(args: FuncArgs) -> Result<Value> {
    extreme(&args, f64::min)
}

fn extreme(args: &[Value], pick: fn(f64, f64) -> f64) -> Result<Value> {
    let mut nums = args.iter().map(|a| number(a, "numbers"));
    let first = nums
        .next()
        .ok_or_else(|| "must pass at least one number".to_owned())??;
    num(nums.try_fold(first, |acc, n| n.map(|n| pick(acc, n)))?)
}

/// `sum(list)`: Packer's own.
fn sum(args: FuncArgs) -> Result<Value> {
    let items = args::list(&args[0], "list")?;
    if items.is_empty() {
        return Err(invalid("list", "cannot sum an empty list"));
    }
    let total = items.iter().try_fold(0.0, |acc, item| match item {
        Value::Null => Err(invalid(
            "list",
            "argument must be list, set, or tuple of number values",
        )),
        _ => number(item, "list").map(|n| acc + n),
    })?;
    num(total)
}

/// `parseint(string, base)`: digits `0-9a-zA-Z`; up to base 36 letters are
/// case-insensitive, above it upper-case letters count from 36.
fn parseint(args: FuncArgs) -> Result<Value> {
    let text = match &args[0] {
        Value::String(s) => s.as_str(),
        other => {
            return Err(invalid(
                "number",
                format!("first argument must be a string, not {}", args::kind(other)),
            ))
        }
    };
    let base = args::int(&args[1], "base")?;
    if !(2..=62).contains(&base) {
        return Err(invalid(
            "base",
            "base must be a whole number between 2 and 62 inclusive",
        ));
    }
    let cannot = || {
        invalid(
            "number",
            format!("cannot parse {text:?} as a base {base} integer"),
        )
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() {
        return Err(cannot());
    }
    let mut value: u128 = 0;
    for c in digits.chars() {
        let digit = digit_value(c, base as u32).ok_or_else(cannot)?;
        value = value
            .checked_mul(base as u128)
            .and_then(|v| v.checked_add(u128::from(digit)))
            .ok_or_else(|| invalid("number", format!("{text:?} is too large")))?;
    }
    Ok(
        match (negative, i64::try_from(value), u64::try_from(value)) {
            (true, Ok(v), _) => Value::from(-v),
            (false, _, Ok(v)) => Value::from(v),
            (true, _, _) => num(-(value as f64))?,
            (false, _, _) => num(value as f64)?,
        },
    )
}

fn digit_value(c: char, base: u32) -> Option<u32> {
    let d = match c {
        '0'..='9' => c as u32 - '0' as u32,
        'a'..='z' => c as u32 - 'a' as u32 + 10,
        'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
        'A'..='Z' => c as u32 - 'A' as u32 + 36,
        _ => return None,
    };
    (d < base).then_some(d)
}
