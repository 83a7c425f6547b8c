//! HCL2 text: bodies of attributes and blocks, laid out as `packer fmt` (hclwrite)
//! lays them out, with the `=` of neighbouring one-line attributes aligned.

use crate::hcl_string::quote;

/// An HCL2 expression, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `null`, `true`, `42`: printed as is.
    Raw(String),
    /// A quoted template; the text is already escaped (`$${` for a literal `${`).
    Template(String),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `{ key = value }`, keys in order.
    Object(Vec<(String, Expr)>),
}

/// An item of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `key = value`
    Attr(String, Expr),
    /// `ident "label" { ... }`
    Block(Block),
    /// `# ...` lines.
    Comment(String),
    /// An empty line.
    Blank,
}

/// A block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Its type.
    pub ident: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// Its body.
    pub body: Vec<Item>,
}

/// Whether `s` can be written bare as an HCL2 identifier (argument or object key).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Expr {
    /// The expression's text; continuation lines are indented by `indent` levels.
    pub fn print(&self, indent: usize) -> String {
        match self {
            Expr::Raw(r) => r.clone(),
            Expr::Template(t) => format!("\"{t}\""),
            Expr::List(items) => {
                let parts: Vec<String> = items.iter().map(|e| e.print(indent)).collect();
                format!("[{}]", parts.join(", "))
            }
            Expr::Object(members) if members.is_empty() => "{}".into(),
            Expr::Object(members) => {
                let pad = "  ".repeat(indent + 1);
                let items: Vec<Item> = members
                    .iter()
                    .map(|(k, v)| {
                        let key = if is_identifier(k) && !is_keyword(k) {
                            k.clone()
                        } else {
                            quote(k)
                        };
                        Item::Attr(key, v.clone())
                    })
                    .collect();
                let mut out = String::from("{\n");
                write_body(&mut out, &items, indent + 1);
                out.push_str(&pad[2..]);
                out.push('}');
                out
            }
        }
    }
}

/// Words that mean something else where an object key is expected.
fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "true" | "false" | "null" | "for" | "if" | "in" | "endif" | "endfor"
    )
}

/// Writes `items` at `indent` levels.
pub fn write_body(out: &mut String, items: &[Item], indent: usize) {
    let pad = "  ".repeat(indent);
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Item::Attr(..) => {
                // A run of one-line attributes is aligned on `=`.
                let mut run = Vec::new();
                while let Some(Item::Attr(k, v)) = items.get(i) {
                    let text = v.print(indent);
                    let one_line = !text.contains('\n');
                    if !one_line && !run.is_empty() {
                        break;
                    }
                    run.push((k, text));
                    i += 1;
                    if !one_line {
                        break;
                    }
                }
                let width = if run.len() > 1 {
                    run.iter()
                        .map(|(k, _)| k.chars().count())
                        .max()
                        .unwrap_or(0)
                } else {
                    0
                };
                for (k, text) in run {
                    let gap = width.saturating_sub(k.chars().count());
                    out.push_str(&format!("{pad}{k}{} = {text}\n", " ".repeat(gap)));
                }
                continue;
            }
            Item::Block(b) => write_block(out, b, indent),
            Item::Comment(c) => {
                for line in c.lines() {
                    if line.is_empty() {
                        out.push_str(&format!("{pad}#\n"));
                    } else {
                        out.push_str(&format!("{pad}# {line}\n"));
                    }
                }
            }
            Item::Blank => out.push('\n'),
        }
        i += 1;
    }
}

/// Writes block `b` at `indent` levels.
pub fn write_block(out: &mut String, b: &Block, indent: usize) {
    let pad = "  ".repeat(indent);
    out.push_str(&pad);
    out.push_str(&b.ident);
    for l in &b.labels {
        out.push(' ');
        out.push_str(&quote(l));
    }
    if b.body.is_empty() {
        out.push_str(" {\n");
        out.push_str(&pad);
        out.push_str("}\n");
        return;
    }
    out.push_str(" {\n");
    write_body(out, &b.body, indent + 1);
    out.push_str(&pad);
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_runs_of_one_line_attributes() {
        let items = vec![
            Item::Attr("a".into(), Expr::Raw("1".into())),
            Item::Attr("long_name".into(), Expr::Template("x".into())),
            Item::Attr(
                "tags".into(),
                Expr::Object(vec![("k".into(), Expr::Template("v".into()))]),
            ),
            Item::Attr("b".into(), Expr::List(vec![Expr::Raw("true".into())])),
        ];
        let mut out = String::new();
        write_body(&mut out, &items, 1);
        assert_eq!(
            out,
            "  a         = 1\n  long_name = \"x\"\n  tags = {\n    k = \"v\"\n  }\n  b = [true]\n"
        );
    }

    #[test]
    fn identifiers_are_written_bare() {
        assert!(is_identifier("root-device-type"));
        assert!(!is_identifier("1x") && !is_identifier("a b") && !is_identifier(""));
    }
}
