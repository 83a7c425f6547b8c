//! Text that came from somewhere Kiln does not trust, made safe to print.
//!
//! A component's messages and errors, and the output of remote commands, reach the
//! person's terminal, a CI log or `-machine-readable` records. Raw control characters
//! there would let them rewrite what the person sees: `\r` and cursor moves overwrite
//! other builds' lines or the final summary, line erases hide a warning, OSC sequences
//! retitle the window. So:
//!
//! - A component's text is [`escape_controls`]ed where it leaves the sandbox: every
//!   control character but newline and tab is shown escaped (`\x1b`, `\r`, `\u{9b}`).
//! - A remote command's line keeps what a terminal would end up showing of it: the text
//!   after its last carriage return ([`remote_line`]). Remote programs print `\r` to redraw
//!   a progress line, and colors, which are harmless; they are not Kiln's to escape.
//! - Every line Kiln prints passes [`terminal_line`]: control characters are escaped,
//!   except tab and well-formed color sequences (SGR, `ESC [ ... m`), which are kept when
//!   the output is colored and dropped otherwise. Colors cannot move the cursor, so a
//!   remote command cannot fake a line of another build; its line still carries its
//!   build's prefix.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` is a control character to neutralize: C0 (but for `\n` and `\t`), DEL
/// and C1 (`U+0080`–`U+009F`; some terminals read `U+009B` as a CSI).
fn is_control(c: char) -> bool {
    c != '\n' && c != '\t' && c.is_control()
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '\r' => out.push_str("\\r"),
        '\u{1b}' => out.push_str("\\x1b"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `text` with every control character other than newline and tab shown escaped.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_control(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What a terminal would show of one line of a remote command's output: the text after
/// its last carriage return (a program redrawing its progress line), trailing ones
/// ignored.
pub fn remote_line(line: &str) -> &str {
    let line = line.trim_end_matches('\r');
    match line.rfind('\r') {
        Some(at) => &line[at + 1..],
        None => line,
    }
}

/// The percentage a progress line shows, if it shows one: the number before its last
/// `%` (`  45%`, `###  12.3%`), or a fraction of it (`(12.34/100%)`, as `qemu-img
/// convert -p` prints). Between 0 and 100; `None` for any other line.
pub fn percent(line: &str) -> Option<f64> {
    // The number that ends `text`, and what comes before it.
    fn number(text: &str) -> Option<(f64, &str)> {
        let start = text
            .bytes()
            .rposition(|b| !(b.is_ascii_digit() || b == b'.'))
            .map_or(0, |i| i + 1);
        Some((text[start..].parse().ok()?, &text[..start]))
    }
    if line.len() > 512 {
        return None;
    }
    let (n, before) = number(&line[..line.rfind('%')?])?;
    let value = match before.strip_suffix('/') {
        Some(rest) if n > 0.0 => number(rest)?.0 / n * 100.0,
        Some(_) => return None,
        None => n,
    };
    (0.0..=100.0).contains(&value).then_some(value)
}

/// The length of the well-formed SGR sequence (`ESC [ digits and ; m`) at the start of
/// `rest`, if there is one.
fn sgr_len(rest: &str) -> Option<usize> {
    let body = rest.strip_prefix("\u{1b}[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

/// One line as Kiln prints it: control characters escaped but tab, and color sequences
/// kept when `color`, dropped otherwise. A newline inside is escaped too: the caller
/// prints one line at a time.
pub fn terminal_line(line: &str, color: bool) -> Cow<'_, str> {
    if !line.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' {
            if let Some(n) = sgr_len(rest) {
                if color {
                    out.push_str(&rest[..n]);
                }
                rest = &rest[n..];
                continue;
            }
        }
        if c == '\n' {
            out.push_str("\\n");
        } else if c.is_control() && c != '\t' {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// At most `max` bytes of `text` (cut at a character boundary), and a note saying how
/// many bytes were dropped and `why`.
pub fn cut<'a>(text: &'a str, max: usize, why: &str) -> Cow<'a, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{} [... {} more bytes cut: {why}]",
        &text[..end],
        text.len() - end
    ))
}

/// A message shortened for a summary line: its first line, at most `max` characters,
/// with `...` where something was left out.
pub fn summary(text: &str, max: usize) -> Cow<'_, str> {
    let first = text.lines().next().unwrap_or("");
    let chars = first.chars().count();
    if first.len() == text.len() && chars <= max {
        return Cow::Borrowed(text);
    }
    let mut out: String = first.chars().take(max).collect();
    out.push_str(" ...");
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_give_their_percentage() {
        assert_eq!(percent("    (12.50/100%)"), Some(12.5));
        assert_eq!(percent("    (100.00/100%)"), Some(100.0));
        assert_eq!(percent("######    45.0%"), Some(45.0));
        assert_eq!(percent(" 1,234,567  45%  1.2MB/s  0:00:01"), Some(45.0));
        assert_eq!(percent("3/4%"), Some(75.0));
        assert_eq!(percent("no number %"), None);
        assert_eq!(percent("no percent 12"), None);
        assert_eq!(percent("over 250%"), None);
        assert_eq!(percent("1/0%"), None);
        assert_eq!(percent("é45%"), Some(45.0));
        assert_eq!(percent(&"9".repeat(600)), None);
    }

    #[test]
    fn component_text_keeps_newlines_and_tabs_only() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            escape_controls("a\rb\x1b[2Kc\x1b]0;title\x07d\u{9b}31me\x7f"),
            "a\\rb\\x1b[2Kc\\x1b]0;title\\x07d\\u{9b}31me\\x7f"
        );
    }

    #[test]
    fn remote_lines_keep_what_a_terminal_shows() {
        assert_eq!(remote_line("10%\r20%\r100%"), "100%");
        assert_eq!(remote_line("done\r"), "done");
        assert_eq!(remote_line("plain"), "plain");
    }

    #[test]
    fn printed_lines_keep_colors_only_when_colored() {
        let colored = "\x1b[1;32mok\x1b[0m";
        assert_eq!(terminal_line(colored, true), colored);
        assert_eq!(terminal_line(colored, false), "ok");
        // Cursor moves, erases, titles and bare escapes are shown, never obeyed.
        assert_eq!(
            terminal_line("a\x1b[1A\x1b[2Kb\x1b]0;x\x07\x1b", true),
            "a\\x1b[1A\\x1b[2Kb\\x1b]0;x\\x07\\x1b"
        );
        assert_eq!(terminal_line("x\ny\r", false), "x\\ny\\r");
        assert_eq!(terminal_line("tab\there", false), "tab\there");
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        assert_eq!(cut("short", 10, "limit"), "short");
        assert_eq!(
            cut("héllo world", 2, "the limit"),
            "h [... 11 more bytes cut: the limit]"
        );
        assert_eq!(summary("one line", 20), "one line");
        assert_eq!(summary("first\nsecond", 20), "first ...");
        assert_eq!(summary("abcdefgh", 3), "abc ...");
    }
}
