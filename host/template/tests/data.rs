//! `data` blocks: the null and http data sources, run while the template loads.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use kiln_template::{load, LoadOptions};

fn options() -> LoadOptions {
    LoadOptions {
        var_args: vec![],
        env: vec![],
        cwd: std::env::current_dir().unwrap(),
        defer_remote_data: false,
    }
}

fn load_text(dir: &Path, text: &str) -> Result<kiln_template::Loaded, String> {
    let path = dir.join("t.pkr.hcl");
    std::fs::write(&path, text).unwrap();
    load(&path, &options()).map_err(|errs| {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// A one-request HTTP server on loopback: answers with `status` and `body`, and hands
/// back the request's header lines.
fn serve_once(status: &str, body: &str) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/release.txt", listener.local_addr().unwrap());
    let (status, body) = (status.to_owned(), body.to_owned());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            lines.push(line.trim().to_owned());
        }
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nX-Release: 12\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        lines
    });
    (url, handle)
}

#[test]
fn null_data_sources_chain_and_feed_locals_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_text(
        dir.path(),
        r#"
variable "suite" {
  default = "bookworm"
}
data "null" "second" {
  input = "${data.null.first.output}-slim"
}
data "null" "first" {
  input = "debian:${var.suite}"
}
locals {
  image = data.null.second.output
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  provisioner "shell-local" {
    inline = ["echo ${local.image}", "echo ${data.null.first.input}"]
  }
}
"#,
    )
    .unwrap();
    assert_eq!(
        loaded.plan.builds[0].provisioners[0].block.config["inline"],
        serde_json::json!(["echo debian:bookworm-slim", "echo debian:bookworm"])
    );
}

#[test]
fn http_data_source_fetches_body_and_headers_and_sends_request_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (url, server) = serve_once("200 OK", "12.4\n");
    let loaded = load_text(
        dir.path(),
        &format!(
            r#"
data "http" "release" {{
  url = "{url}"
  request_headers = {{
    Accept = "text/plain"
  }}
}}
source "null" "a" {{
  communicator = "none"
}}
build {{
  sources = ["source.null.a"]
  provisioner "shell-local" {{
    inline = ["echo ${{trimspace(data.http.release.body)}} ${{data.http.release.response_headers["X-Release"]}}"]
  }}
}}
"#
        ),
    )
    .unwrap();
    let request = server.join().unwrap();
    assert!(request[0].starts_with("GET /release.txt "), "{request:?}");
    assert!(
        request
            .iter()
            .any(|l| l.eq_ignore_ascii_case("accept: text/plain")),
        "{request:?}"
    );
    assert_eq!(
        loaded.plan.builds[0].provisioners[0].block.config["inline"],
        serde_json::json!(["echo 12.4 12"])
    );
}

#[test]
fn http_errors_and_unknown_types_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let (url, server) = serve_once("404 Not Found", "nope");
    let err = load_text(
        dir.path(),
        &format!("data \"http\" \"x\" {{\n  url = \"{url}\"\n}}\n"),
    )
    .unwrap_err();
    server.join().unwrap();
    assert!(err.contains("t.pkr.hcl:2:3"), "{err}");
    assert!(err.contains("Response code: 404"), "{err}");

    let err = load_text(dir.path(), "data \"amazon-parameterstore\" \"x\" {\n}\n").unwrap_err();
    assert!(
        err.contains(
            "t.pkr.hcl:1:6: Kiln does not run the data source type \"amazon-parameterstore\""
        ),
        "{err}"
    );
    // amazon-ami is run, and checked as Packer checks it: owners are required.
    let err = load_text(
        dir.path(),
        "data \"amazon-ami\" \"x\" {\n  region = \"us-east-1\"\n  filters = {\n    name = \"a\"\n  }\n}\n",
    )
    .unwrap_err();
    assert!(
        err.contains("t.pkr.hcl:1:1: data \"amazon-ami\" \"x\": For security reasons, you must declare an owner."),
        "{err}"
    );

    let err = load_text(
        dir.path(),
        "data \"null\" \"a\" {\n  input = data.null.b.output\n}\ndata \"null\" \"b\" {\n  input = data.null.a.output\n}\n",
    )
    .unwrap_err();
    assert!(err.contains("Cycle in data sources"), "{err}");
}
