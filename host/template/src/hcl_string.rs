//! HCL2 quoted strings, escaped as Packer's hclwrite escapes them: what `inspect` prints
//! of values and what `hcl2_upgrade` writes.

/// `s` as the inside of an HCL2 quoted template, meaning exactly `s`: quotes,
/// backslashes and control characters escaped, and `${` / `%{` doubled so that they are
/// not read as interpolation or directives.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// `s` as an HCL2 quoted string literal.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_hcl_would_read_as_syntax() {
        assert_eq!(
            escape("a \"b\" \\ ${x} %{y} $z\n\u{1}"),
            "a \\\"b\\\" \\\\ $${x} %%{y} $z\\n\\u0001"
        );
        assert_eq!(quote("q\"${x}"), "\"q\\\"$${x}\"");
    }
}
