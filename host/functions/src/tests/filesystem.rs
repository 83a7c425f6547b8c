use std::fs;

use hcl::Value;

use super::{check, check_err, check_str, context, eval_in, lit};

/// A template directory with a few files, and a context whose `path.root` is it.
struct Dir {
    dir: tempfile::TempDir,
    ctx: hcl::eval::Context<'static>,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("files/sub/deeper")).expect("mkdir");
        for (path, text) in [
            ("hello.txt", "Hello World"),
            ("files/a.txt", "a"),
            ("files/b.md", "b"),
            ("files/.hidden.txt", "h"),
            ("files/sub/c.txt", "c"),
            ("files/sub/deeper/d.txt", "d"),
            (
                "backends.tpl",
                "%{ for addr in ip_addrs ~}\nbackend ${addr}:${port}\n%{ endfor ~}\n",
            ),
            ("single.tpl", "${list}"),
            ("recursive.tpl", "${templatefile(\"recursive.tpl\", {})}"),
            (
                "functions.tpl",
                "${upper(name)} ${try(missing, \"fallback\")}",
            ),
        ] {
            fs::write(root.join(path), text).expect("write");
        }
        fs::write(root.join("binary.bin"), [0xff, 0xfe]).expect("write");
        let ctx = context(Some(&root.display().to_string()));
        Dir { dir, ctx }
    }

    fn root(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn eval(&self, src: &str) -> Result<Value, String> {
        eval_in(src, &self.ctx)
    }

    #[track_caller]
    fn check(&self, src: &str, want: &str) {
        assert_eq!(
            self.eval(src).unwrap_or_else(|e| panic!("{src}: {e}")),
            lit(want),
            "{src}"
        );
    }

    #[track_caller]
    fn check_err(&self, src: &str, part: &str) {
        match self.eval(src) {
            Ok(v) => panic!("{src} evaluated to {v:?}"),
            Err(e) => assert!(e.contains(part), "{src}: {e:?} lacks {part:?}"),
        }
    }
}

#[test]
fn paths() {
    check_str(r#"basename("foo/bar/baz.txt")"#, "baz.txt");
    check_str(r#"basename("foo/bar/")"#, "bar");
    check_str(r#"basename("/")"#, "/");
    check_str(r#"basename("")"#, ".");
    check_str(r#"dirname("foo/bar/baz.txt")"#, "foo/bar");
    check_str(r#"dirname("foo")"#, ".");
    check_str(r#"dirname("/foo")"#, "/");
    check_str(r#"dirname("foo/bar/")"#, "foo/bar");
    check_str(r#"abspath("/a/./b/../c//")"#, "/a/c");
    let cwd = std::env::current_dir().expect("cwd");
    check_str(r#"abspath("x/y")"#, &format!("{}/x/y", cwd.display()));
    if let Ok(home) = std::env::var("HOME") {
        check_str(
            r#"pathexpand("~/.ssh/id_rsa")"#,
            &format!("{home}/.ssh/id_rsa"),
        );
    }
    check_str(r#"pathexpand("/etc/hosts")"#, "/etc/hosts");
    check_err(
        r#"pathexpand("~someone/x")"#,
        &["cannot expand user-specific home dir"],
    );
}

#[test]
fn file_functions_resolve_against_the_template_directory() {
    let d = Dir::new();
    d.check(r#"file("hello.txt")"#, r#""Hello World""#);
    d.check(
        &format!(r#"file("{}/hello.txt")"#, d.root()),
        r#""Hello World""#,
    );
    d.check(r#"filebase64("binary.bin")"#, r#""//4=""#);
    d.check(r#"fileexists("hello.txt")"#, "true");
    d.check(r#"fileexists("nope.txt")"#, "false");
    d.check_err(r#"fileexists("files")"#, "is not a regular file");
    d.check_err(r#"file("nope.txt")"#, "no file exists at");
    d.check_err(r#"file("binary.bin")"#, "not valid UTF-8");
}

#[test]
fn fileset() {
    let d = Dir::new();
    d.check(
        r#"fileset(path.root, "files/*.txt")"#,
        r#"["files/.hidden.txt", "files/a.txt"]"#,
    );
    d.check(
        r#"fileset("files", "**/*.txt")"#,
        r#"[".hidden.txt", "a.txt", "sub/c.txt", "sub/deeper/d.txt"]"#,
    );
    d.check(
        r#"fileset("files", "*.{txt,md}")"#,
        r#"[".hidden.txt", "a.txt", "b.md"]"#,
    );
    d.check(r#"fileset("files", "[ab].*")"#, r#"["a.txt", "b.md"]"#);
    d.check(r#"fileset("files", "?.md")"#, r#"["b.md"]"#);
    d.check(r#"fileset("files", "sub/*")"#, r#"["sub/c.txt"]"#);
    d.check(r#"fileset("files/sub", "../*.md")"#, r#"["../b.md"]"#);
    d.check(r#"fileset(path.root, "hello.txt")"#, r#"["hello.txt"]"#);
    d.check(r#"fileset("missing", "*")"#, "[]");
}

#[test]
fn templatefile() {
    let d = Dir::new();
    d.check(
        r#"templatefile("backends.tpl", { port = 8080, ip_addrs = ["10.0.0.1", "10.0.0.2"] })"#,
        r#""backend 10.0.0.1:8080\nbackend 10.0.0.2:8080\n""#,
    );
    d.check(r#"templatefile("single.tpl", { list = [1, 2] })"#, "[1, 2]");
    d.check(
        r#"templatefile("functions.tpl", { name = "kiln" })"#,
        r#""KILN fallback""#,
    );
    d.check_err(r#"templatefile("backends.tpl", { port = 1 })"#, "ip_addrs");
    d.check_err(
        r#"templatefile("recursive.tpl", {})"#,
        "cannot recursively call templatefile",
    );
    d.check_err(r#"templatefile("backends.tpl", "x")"#, "must be a map");
    d.check_err(
        r#"templatefile("single.tpl", { "not valid" = 1 })"#,
        "invalid template variable name",
    );
}

#[test]
fn a_relative_path_root_is_not_joined_twice() {
    let dir = tempfile::tempdir_in(".").expect("tempdir");
    let rel = dir
        .path()
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    fs::write(dir.path().join("x.txt"), "x").expect("write");
    let ctx = context(Some(&rel));
    for src in [
        r#"file("x.txt")"#,
        r#"file("${path.root}/x.txt")"#,
        r#"file("./x.txt")"#,
    ] {
        assert_eq!(eval_in(src, &ctx), Ok(Value::from("x")), "{src}");
    }
    assert_eq!(
        eval_in(r#"fileset(path.root, "*.txt")"#, &ctx),
        Ok(lit(r#"["x.txt"]"#))
    );
}

#[test]
fn without_path_root_relative_paths_use_the_working_directory() {
    check("fileexists(\"Cargo.toml\")", "true");
}
