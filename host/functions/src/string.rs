//! String functions: chomp, endswith, indent, join, lower, regex, regexall, regex_replace,
//! replace, split, startswith, strcontains, strrev, substr, title, trim, trimprefix,
//! trimspace, trimsuffix, upper. (`format` and `formatlist` are in [`super::format`].)
//!
//! Patterns (`regex`, `regexall`, `regex_replace`) use the `regex` crate, whose syntax is RE2's, like Go's `regexp`; one
//! difference: `\d`, `\w`, `\s` and `\b` also match non-ASCII letters and digits.

use hcl::eval::FuncArgs;
use hcl::{Map, Value};
use regex::Regex;
use unicode_segmentation::UnicodeSegmentation;

use super::args::{self, invalid, string, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    chomp(1) endswith(2) indent(2) join(1..) lower(1) regex(2) regexall(2) regex_replace(3)
    replace(3) split(2) startswith(2) strcontains(2) strrev(1) substr(3) title(1) trim(2)
    trimprefix(2) trimspace(1) trimsuffix(2) upper(1)
};

fn text(s: impl Into<String>) -> Result<Value> {
    Ok(Value::String(s.into()))
}

fn upper(args: FuncArgs) -> Result<Value> {
    text(string(&args[0], "str")?.to_uppercase())
}

fn lower(args: FuncArgs) -> Result<Value> {
    text(string(&args[0], "str")?.to_lowercase())
}

/// Removes every trailing newline (`\n`, `\r\n` or `\r`).
fn chomp(args: FuncArgs) -> Result<Value> {
    text(string(&args[0], "str")?.trim_end_matches(['\r', '\n']))
}

fn indent(args: FuncArgs) -> Result<Value> {
    let spaces = args::int(&args[0], "spaces")?;
    let pad =
        " ".repeat(usize::try_from(spaces).map_err(|_| invalid("spaces", "must not be negative"))?);
    text(string(&args[1], "str")?.replace('\n', &format!("\n{pad}")))
}

fn join(args: FuncArgs) -> Result<Value> {
    let sep = string(&args[0], "separator")?;
    let lists = &args[1..];
    if lists.is_empty() {
        return Err("at least one list is required".to_owned());
    }
    let mut items = Vec::new();
    for (li, list) in lists.iter().enumerate() {
        for (ei, item) in args::list(list, "lists")?.iter().enumerate() {
            if item.is_null() {
                return Err(match lists.len() {
                    1 => format!("element {ei} is null; cannot concatenate null values"),
                    _ => format!(
                        "element {ei} of list {} is null; cannot concatenate null values",
                        li + 1
                    ),
                });
            }
            items.push(string(item, "lists")?);
        }
    }
    text(items.join(&sep))
}

/// Go's `strings.Split`: an empty separator splits between characters.
fn split(args: FuncArgs) -> Result<Value> {
    let sep = string(&args[0], "separator")?;
    let s = string(&args[1], "str")?;
    let parts: Vec<Value> = match sep.is_empty() {
        true => s.chars().map(|c| Value::from(c.to_string())).collect(),
        false => s.split(sep.as_str()).map(Value::from).collect(),
    };
    Ok(Value::Array(parts))
}

fn strrev(args: FuncArgs) -> Result<Value> {
    text(
        string(&args[0], "str")?
            .graphemes(true)
            .rev()
            .collect::<String>(),
    )
}

/// `substr(str, offset, length)`, counting grapheme clusters; a negative offset counts
/// from the end, a negative length takes the rest.
fn substr(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    let offset = args::int(&args[1], "offset")?;
    let length = args::int(&args[2], "length")?;
    let graphemes: Vec<&str> = s.graphemes(true).collect();
    let total = graphemes.len() as i64;
    let start = match offset < 0 {
        true => (offset + total).max(0),
        false => offset,
    };
    if start >= total || length == 0 {
        return text("");
    }
    let end = match length < 0 {
        true => total,
        false => (start + length).min(total),
    };
    text(graphemes[start as usize..end as usize].concat())
}

/// Go's `strings.Title`: upper-cases each letter that follows a separator.
fn title(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    let mut out = String::with_capacity(s.len());
    let mut after_separator = true;
    for c in s.chars() {
        match after_separator {
            true => out.extend(c.to_uppercase()),
            false => out.push(c),
        }
        after_separator = is_separator(c);
    }
    text(out)
}

fn is_separator(c: char) -> bool {
    match c.is_ascii() {
        true => !(c.is_ascii_alphanumeric() || c == '_'),
        false => c.is_whitespace(),
    }
}

fn trim(args: FuncArgs) -> Result<Value> {
    let cutset = string(&args[1], "cutset")?;
    text(string(&args[0], "str")?.trim_matches(|c| cutset.contains(c)))
}

fn trimprefix(args: FuncArgs) -> Result<Value> {
    let (s, prefix) = (string(&args[0], "str")?, string(&args[1], "prefix")?);
    text(s.strip_prefix(prefix.as_str()).unwrap_or(&s))
}

fn trimsuffix(args: FuncArgs) -> Result<Value> {
    let (s, suffix) = (string(&args[0], "str")?, string(&args[1], "suffix")?);
    text(s.strip_suffix(suffix.as_str()).unwrap_or(&s))
}

fn trimspace(args: FuncArgs) -> Result<Value> {
    text(string(&args[0], "str")?.trim())
}

fn startswith(args: FuncArgs) -> Result<Value> {
    let (s, prefix) = (string(&args[0], "str")?, string(&args[1], "prefix")?);
    Ok(Value::Bool(s.starts_with(&prefix)))
}

fn endswith(args: FuncArgs) -> Result<Value> {
    let (s, suffix) = (string(&args[0], "str")?, string(&args[1], "suffix")?);
    Ok(Value::Bool(s.ends_with(&suffix)))
}

fn strcontains(args: FuncArgs) -> Result<Value> {
    let (s, substr) = (string(&args[0], "str")?, string(&args[1], "substr")?);
    Ok(Value::Bool(s.contains(&substr)))
}

/// `replace(str, substr, replacement)`: every occurrence of `substr`, taken literally.
///
/// Terraform treats a `substr` wrapped in slashes as a pattern; Packer's `replace` (cty's)
/// does not, so `replace(path, "/usr/", "/opt/")` replaces the directory. Packer offers
/// patterns through `regex_replace`.
fn replace(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    let substr = string(&args[1], "substr")?;
    text(s.replace(&substr, &string(&args[2], "replace")?))
}

fn regex_replace(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    let re = compile(&string(&args[1], "pattern")?, "pattern")?;
    text(re.replace_all(&s, string(&args[2], "replace")?.as_str()))
}

fn regex(args: FuncArgs) -> Result<Value> {
    let re = compile(&string(&args[0], "pattern")?, "pattern")?;
    let shape = Shape::of(&re)?;
    let s = string(&args[1], "string")?;
    let caps = re
        .captures(&s)
        .ok_or_else(|| "pattern did not match any part of the given string".to_owned())?;
    Ok(shape.value(&caps))
}

fn regexall(args: FuncArgs) -> Result<Value> {
    let re = compile(&string(&args[0], "pattern")?, "pattern")?;
    let shape = Shape::of(&re)?;
    let s = string(&args[1], "string")?;
    Ok(Value::Array(
        re.captures_iter(&s)
            .map(|caps| shape.value(&caps))
            .collect(),
    ))
}

fn compile(pattern: &str, param: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| invalid(param, format!("invalid regexp pattern: {e}")))
}

/// What a match yields, decided by the pattern's capture groups.
enum Shape {
    /// No groups: the matched text.
    Whole,
    /// Unnamed groups: a list of their texts (null where a group did not take part).
    Unnamed(usize),
    /// Named groups: an object of their texts.
    Named(Vec<String>),
}

impl Shape {
    fn of(re: &Regex) -> Result<Shape> {
        let groups: Vec<Option<&str>> = re.capture_names().skip(1).collect();
        let named: Vec<String> = groups.iter().flatten().map(|n| n.to_string()).collect();
        match (groups.len(), named.len()) {
            (0, _) => Ok(Shape::Whole),
            (n, 0) => Ok(Shape::Unnamed(n)),
            (n, m) if n == m => Ok(Shape::Named(named)),
            _ => Err(invalid(
                "pattern",
                "invalid regexp pattern: cannot mix both named and unnamed capture groups",
            )),
        }
    }

    fn value(&self, caps: &regex::Captures<'_>) -> Value {
        let group = |m: Option<regex::Match<'_>>| m.map_or(Value::Null, |m| m.as_str().into());
        match self {
            Shape::Whole => group(caps.get(0)),
            Shape::Unnamed(n) => Value::Array((1..=*n).map(|i| group(caps.get(i))).collect()),
            Shape::Named(names) => Value::Object(
                names
                    .iter()
                    .map(|n| (n.clone(), group(caps.name(n))))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}
