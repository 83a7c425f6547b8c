use super::*;

/// Taps from a space-separated list of QKeyCode names; `+name` is shifted.
fn keys(spec: &str) -> Vec<Action> {
    spec.split_whitespace()
        .map(|token| {
            let (name, shift) = match token.strip_prefix('+') {
                Some(name) => (name, true),
                None => (token, false),
            };
            // Find the name in the known tables to get a 'static str.
            let key = SPECIALS
                .iter()
                .map(|&(_, key)| key)
                .chain(LETTERS)
                .chain(DIGITS)
                .chain([
                    "spc",
                    "minus",
                    "equal",
                    "bracket_left",
                    "bracket_right",
                    "backslash",
                    "semicolon",
                    "apostrophe",
                    "grave_accent",
                    "comma",
                    "dot",
                    "slash",
                ])
                .find(|&key| key == name)
                .unwrap_or_else(|| panic!("unknown key {name} in test"));
            Action::Tap { key, shift }
        })
        .collect()
}

fn tap(key: &'static str) -> Action {
    Action::Tap { key, shift: false }
}

fn hold(key: &'static str, down: bool) -> Action {
    Action::Hold { key, down }
}

fn wait_ms(ms: u64) -> Action {
    Action::Wait(Duration::from_millis(ms))
}

fn vars() -> Vec<(&'static str, String)> {
    vec![
        ("HTTPIP", "10.0.2.2".to_owned()),
        ("HTTPPort", "8080".to_owned()),
        ("Name", "ubuntu".to_owned()),
    ]
}

const INSTALLER: &str = "<esc><wait>linux /install/vmlinuz auto \
    url=http://{{ .HTTPIP }}:{{ .HTTPPort }}/preseed.cfg<enter>";

#[test]
fn renders_installer_line() {
    assert_eq!(
        render(INSTALLER, &vars()).unwrap(),
        "<esc><wait>linux /install/vmlinuz auto \
         url=http://10.0.2.2:8080/preseed.cfg<enter>"
    );
}

#[test]
fn parses_rendered_installer_line() {
    let actions = parse(&render(INSTALLER, &vars()).unwrap()).unwrap();
    let mut expected = vec![tap("esc"), Action::Wait(Duration::from_secs(1))];
    expected.extend(keys(
        "l i n u x spc slash i n s t a l l slash v m l i n u z spc a u t o spc \
         u r l equal h t t p +semicolon slash slash \
         1 0 dot 0 dot 2 dot 2 +semicolon 8 0 8 0 \
         slash p r e s e e d dot c f g",
    ));
    expected.push(tap("ret"));
    assert_eq!(actions, expected);
}

#[test]
fn render_whitespace_is_optional_and_text_is_kept() {
    let extra = {
        let mut v = vars();
        v.push(("Hostname", "box".to_owned()));
        v
    };
    assert_eq!(
        render(
            "{{.HTTPIP}}|{{ .HTTPPort}}|{{.Name }}|{{\t.Hostname\t}}| } }} { {",
            &extra
        )
        .unwrap(),
        "10.0.2.2|8080|ubuntu|box| } }} { {"
    );
    assert_eq!(
        render("no variables <enter>", &[]).unwrap(),
        "no variables <enter>"
    );
    assert_eq!(render("", &vars()).unwrap(), "");
}

#[test]
fn render_honours_trim_markers() {
    assert_eq!(render("a  {{- .Name -}}  b", &vars()).unwrap(), "aubuntub");
    // Without a space after it, `-` is not a trim marker.
    assert!(render("a {{-.Name}} b", &vars())
        .unwrap_err()
        .to_string()
        .starts_with("unsupported template expression `{{ -.Name }}`"));
}

#[test]
fn render_rejects_unknown_variable() {
    let err = render("http://{{ .HTTPAddr }}/ks.cfg", &vars())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown variable `.HTTPAddr` in boot_command; \
         known variables: .HTTPIP, .HTTPPort, .Name"
    );
    // Variable names are case-sensitive, as in Go templates.
    assert!(render("{{ .httpip }}", &vars())
        .unwrap_err()
        .to_string()
        .starts_with("unknown variable `.httpip`"));
    assert_eq!(
        render("{{ .X }}", &[]).unwrap_err().to_string(),
        "unknown variable `.X` in boot_command; known variables: none"
    );
}

#[test]
fn render_rejects_unclosed_braces() {
    let err = render("url=http://{{ .HTTPIP :8080<enter>", &vars())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unclosed `{{` in boot_command: `{{ .HTTPIP :8080<enter>` has no matching `}}`; \
         known variables: .HTTPIP, .HTTPPort, .Name"
    );
}

#[test]
fn render_rejects_other_expressions() {
    let err = render(r#"{{ user "x" }}"#, &vars())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        r#"unsupported template expression `{{ user "x" }}` in boot_command: only variables such as `{{ .HTTPIP }}` can be used; known variables: .HTTPIP, .HTTPPort, .Name"#
    );
    assert!(render("{{ }}", &vars())
        .unwrap_err()
        .to_string()
        .starts_with("unsupported template expression `{{  }}`"));
}

#[test]
fn parses_every_special_key() {
    let cases = [
        ("<bs>", "backspace"),
        ("<del>", "delete"),
        ("<enter>", "ret"),
        ("<return>", "ret"),
        ("<esc>", "esc"),
        ("<tab>", "tab"),
        ("<spacebar>", "spc"),
        ("<insert>", "insert"),
        ("<home>", "home"),
        ("<end>", "end"),
        ("<pageUp>", "pgup"),
        ("<pageDown>", "pgdn"),
        ("<up>", "up"),
        ("<down>", "down"),
        ("<left>", "left"),
        ("<right>", "right"),
        ("<menu>", "menu"),
        ("<f1>", "f1"),
        ("<f2>", "f2"),
        ("<f3>", "f3"),
        ("<f4>", "f4"),
        ("<f5>", "f5"),
        ("<f6>", "f6"),
        ("<f7>", "f7"),
        ("<f8>", "f8"),
        ("<f9>", "f9"),
        ("<f10>", "f10"),
        ("<f11>", "f11"),
        ("<f12>", "f12"),
    ];
    for (text, key) in cases {
        assert_eq!(parse(text).unwrap(), vec![tap(key)], "{text}");
        let upper = text.to_ascii_uppercase();
        assert_eq!(parse(&upper).unwrap(), vec![tap(key)], "{upper}");
    }
    assert_eq!(
        parse("<Enter><PAGEup><pagedown><F12><Bs>").unwrap(),
        vec![
            tap("ret"),
            tap("pgup"),
            tap("pgdn"),
            tap("f12"),
            tap("backspace")
        ]
    );
}

#[test]
fn parses_modifiers_and_their_on_off_forms() {
    let cases = [
        ("leftAlt", "alt"),
        ("rightAlt", "alt_r"),
        ("leftCtrl", "ctrl"),
        ("rightCtrl", "ctrl_r"),
        ("leftShift", "shift"),
        ("rightShift", "shift_r"),
        ("leftSuper", "meta_l"),
        ("rightSuper", "meta_r"),
    ];
    for (name, key) in cases {
        assert_eq!(parse(&format!("<{name}>")).unwrap(), vec![tap(key)]);
        assert_eq!(
            parse(&format!("<{name}On>")).unwrap(),
            vec![hold(key, true)]
        );
        assert_eq!(
            parse(&format!("<{name}Off>")).unwrap(),
            vec![hold(key, false)]
        );
    }
    assert_eq!(
        parse("<leftCtrlOn><leftAltOn><del><leftAltOff><leftCtrlOff>").unwrap(),
        vec![
            hold("ctrl", true),
            hold("alt", true),
            tap("delete"),
            hold("alt", false),
            hold("ctrl", false),
        ]
    );
    assert_eq!(
        parse("<LEFTSHIFTON>x<leftshiftoff>").unwrap(),
        vec![hold("shift", true), tap("x"), hold("shift", false)]
    );
}

#[test]
fn parses_waits() {
    let cases = [
        ("<wait>", Duration::from_secs(1)),
        ("<Wait>", Duration::from_secs(1)),
        ("<wait5>", Duration::from_secs(5)),
        ("<wait10>", Duration::from_secs(10)),
        ("<WAIT3>", Duration::from_secs(3)),
        ("<wait1m30s>", Duration::from_secs(90)),
        ("<wait500ms>", Duration::from_millis(500)),
        ("<wait2h>", Duration::from_secs(7200)),
        ("<wait1.5h>", Duration::from_secs(5400)),
        ("<wait0.5s>", Duration::from_millis(500)),
        ("<wait.5s>", Duration::from_millis(500)),
        ("<wait2.5>", Duration::from_millis(2500)),
        ("<wait+3s>", Duration::from_secs(3)),
        ("<wait250us>", Duration::from_micros(250)),
        ("<wait250µs>", Duration::from_micros(250)),
        ("<wait100ns>", Duration::from_nanos(100)),
        ("<wait1h2m3s4ms>", Duration::from_millis(3_723_004)),
        ("<wait0>", Duration::ZERO),
    ];
    for (text, duration) in cases {
        assert_eq!(parse(text).unwrap(), vec![Action::Wait(duration)], "{text}");
    }
    assert_eq!(
        parse("a<wait500ms>b").unwrap(),
        vec![tap("a"), wait_ms(500), tap("b")]
    );
}

#[test]
fn rejects_malformed_waits() {
    assert_eq!(
        parse("ab<wait5x>"),
        Err(BootCommandError::BadWait {
            special: "wait5x".into(),
            position: 3,
            reason: WaitError::UnknownUnit { unit: "x".into() },
        })
    );
    assert_eq!(
        parse("ab<wait5x>").unwrap_err().to_string(),
        "bad duration in `<wait5x>` at position 3: unknown unit `x` (use h, m, s, ms, us, µs or ns); \
         write a Go duration such as <wait500ms> or <wait1m30s>, or seconds such as <wait5>"
    );
    let errors = [
        ("<wait1m30>", "missing unit after `30`"),
        ("<wait1..5s>", "`1..5` is not a number"),
        ("<wait.s>", "`.` is not a number"),
        ("<wait5 s>", "unknown unit ` s`"),
        ("<wait5S>", "unknown unit `S`"),
        ("<wait-5s>", "a wait cannot be negative"),
        ("<wait+>", "missing number"),
        ("<wait3000000h>", "the duration is too long"),
        (
            "<wait99999999999999999999999999999999999999999h>",
            "the duration is too long",
        ),
    ];
    for (text, reason) in errors {
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("bad duration in `{text}` at position 1: {reason}")),
            "{text}: {err}"
        );
    }
}

#[test]
fn types_lowercase_digits_and_unshifted_symbols() {
    assert_eq!(
        parse("az09 -=[]\\;',./`").unwrap(),
        keys(
            "a z 0 9 spc minus equal bracket_left bracket_right backslash \
             semicolon apostrophe comma dot slash grave_accent"
        )
    );
}

#[test]
fn types_shifted_symbols_and_uppercase() {
    assert_eq!(
        parse("!@#$%^&*()_+{}|:\"~<>?AZ").unwrap(),
        keys(
            "+1 +2 +3 +4 +5 +6 +7 +8 +9 +0 +minus +equal +bracket_left +bracket_right \
             +backslash +semicolon +apostrophe +grave_accent +comma +dot +slash +a +z"
        )
    );
}

#[test]
fn every_printable_ascii_character_is_one_tap() {
    for byte in 0x20u8..0x7f {
        let text = char::from(byte).to_string();
        let actions = parse(&text).unwrap();
        assert_eq!(actions.len(), 1, "{text:?}");
        assert!(matches!(actions[0], Action::Tap { .. }), "{text:?}");
    }
}

#[test]
fn types_whitespace_and_line_endings() {
    assert_eq!(
        parse("a b\nc\td\r\ne\rf").unwrap(),
        keys("a spc b ret c tab d ret e ret f")
    );
}

#[test]
fn types_unrecognised_angle_brackets_literally() {
    assert_eq!(parse("<foo>").unwrap(), keys("+comma f o o +dot"));
    assert_eq!(parse("a < b").unwrap(), keys("a spc +comma spc b"));
    assert_eq!(parse("<").unwrap(), keys("+comma"));
    assert_eq!(parse("<>").unwrap(), keys("+comma +dot"));
    assert_eq!(parse("<enter").unwrap(), keys("+comma e n t e r"));
    assert_eq!(parse("<<enter>").unwrap(), keys("+comma ret"));
    assert_eq!(parse("<a<tab>>").unwrap(), keys("+comma a tab +dot"));
    assert_eq!(
        parse("<enterOnn>").unwrap(),
        keys("+comma e n t e r +o n n +dot")
    );
    assert_eq!(
        parse("<waitress>").unwrap(),
        keys("+comma w a i t r e s s +dot")
    );
    assert_eq!(parse("<On>").unwrap(), keys("+comma +o n +dot"));
}

#[test]
fn rejects_non_ascii_characters() {
    assert_eq!(
        parse("<enter>café").unwrap_err().to_string(),
        "boot_command cannot type 'é' (U+00E9) at position 11: \
         it can only type US-keyboard ASCII"
    );
    assert!(parse("<entér>")
        .unwrap_err()
        .to_string()
        .contains("'é' (U+00E9) at position 5"));
}

#[test]
fn rejects_control_characters() {
    assert_eq!(
        parse("a\u{7}").unwrap_err().to_string(),
        "boot_command cannot type control character U+0007 at position 2: \
         it can only type US-keyboard ASCII (use a special such as <enter> for other keys)"
    );
}

#[test]
fn empty_command_does_nothing() {
    assert_eq!(parse("").unwrap(), Vec::new());
}
