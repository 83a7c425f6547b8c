//! `data "TYPE" "NAME" { ... }` blocks for the data sources Kiln runs itself, on the
//! host, while the template loads: `null` (its `input` passed through as `output`, for
//! tests and for naming values) and `http` (a GET whose body and headers become
//! values). Their results are `data.TYPE.NAME.ATTRIBUTE` in locals, sources and builds.
//!
//! Data sources may use variables and other data sources; they are evaluated in
//! dependency order, after variables and before locals, as in Packer.

use std::collections::BTreeMap;
use std::time::Duration;

use hcl::edit::structure::Block;
use hcl::edit::Span;
use kiln_core::plan::ConfigBlock;
use kiln_core::Diagnostic;

use crate::values::EvalScope;
use crate::At;

/// The data source types Kiln runs.
pub const TYPES: &[&str] = &["amazon-ami", "http", "null"];

/// One `data` block, as written.
pub struct DataDef<'a> {
    pub at: At<'a>,
    pub block: &'a Block,
    pub ty: String,
    pub name: String,
}

/// Evaluates every data block; the result is the `data` object (`data.TYPE.NAME`).
pub fn resolve(
    defs: &[DataDef<'_>],
    scope: &EvalScope,
    defer_remote: bool,
    errors: &mut Vec<Diagnostic>,
) -> hcl::Map<String, hcl::Value> {
    let mut done: BTreeMap<(String, String), hcl::Value> = BTreeMap::new();
    let mut pending: Vec<usize> = (0..defs.len()).collect();
    let mut seen = BTreeMap::new();
    for d in defs {
        let key = (d.ty.clone(), d.name.clone());
        if let Some(first) = seen.insert(key, d.at.loc(d.block.ident.span())) {
            errors.push(
                d.at.err(
                    d.block.ident.span(),
                    format!("Duplicate data source \"{}.{}\"", d.ty, d.name),
                )
                .with_hint(format!("The first definition is at {first}.")),
            );
            return hcl::Map::new();
        }
    }
    while !pending.is_empty() {
        let waiting: Vec<String> = pending
            .iter()
            .map(|i| format!("data.{}.{}", defs[*i].ty, defs[*i].name))
            .collect();
        let ready: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|i| {
                let own = format!("data.{}.{}", defs[*i].ty, defs[*i].name);
                let text = defs[*i].block.body.to_string();
                !waiting.iter().any(|w| *w != own && refers_to(&text, w))
            })
            .collect();
        if ready.is_empty() {
            let d = &defs[pending[0]];
            errors.push(
                d.at.err(
                    d.block.ident.span(),
                    format!(
                        "Cycle in data sources: \"data.{}.{}\" needs a data source that needs it",
                        d.ty, d.name
                    ),
                )
                .with_hint(format!(
                    "These data sources depend on each other: {}.",
                    waiting.join(", ")
                )),
            );
            break;
        }
        let mut ctx = scope.context();
        ctx.declare_var("data", object(&done));
        for i in &ready {
            let d = &defs[*i];
            let mut config = ConfigBlock {
                location: d.at.loc(d.block.ident.span()),
                ..Default::default()
            };
            let before = errors.len();
            crate::eval_body(&d.at, &d.block.body, &ctx, &[], errors, &mut config);
            if errors.len() > before {
                continue;
            }
            match run(&d.ty, &config, &scope.cwd, defer_remote) {
                Ok(v) => {
                    done.insert((d.ty.clone(), d.name.clone()), v);
                }
                Err((field, message)) => errors.push(Diagnostic::error(
                    format!("data \"{}\" \"{}\": {message}", d.ty, d.name),
                    Some(config.location_of(field.as_deref())),
                )),
            }
        }
        pending.retain(|i| !ready.contains(i));
    }
    match object(&done) {
        hcl::Value::Object(m) => m,
        _ => unreachable!("object() builds an object"),
    }
}

/// The blocks of `body` that are `data` blocks with a known type; a block of an unknown
/// type goes to `unknown` (type and place), reported once for all of them by
/// [`unknown_types`].
pub fn collect<'a>(
    at: At<'a>,
    block: &'a Block,
    errors: &mut Vec<Diagnostic>,
    unknown: &mut Vec<(String, kiln_core::Location)>,
) -> Option<DataDef<'a>> {
    let labels = match at.labels(block, &["type", "name"]) {
        Ok(l) => l,
        Err(d) => {
            errors.push(d);
            return None;
        }
    };
    if !TYPES.contains(&labels[0].as_str()) {
        unknown.push((labels[0].clone(), at.loc(block.labels[0].span())));
        return None;
    }
    Some(DataDef {
        at,
        block,
        ty: labels[0].clone(),
        name: labels[1].clone(),
    })
}

/// Whether `text` mentions `reference` as a whole traversal prefix.
fn refers_to(text: &str, reference: &str) -> bool {
    text.match_indices(reference).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + reference.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
    })
}

/// `data.TYPE.NAME` as nested objects.
fn object(done: &BTreeMap<(String, String), hcl::Value>) -> hcl::Value {
    let mut by_type: hcl::Map<String, hcl::Value> = hcl::Map::new();
    for ((ty, name), v) in done {
        let entry = by_type
            .entry(ty.clone())
            .or_insert_with(|| hcl::Value::Object(hcl::Map::new()));
        if let hcl::Value::Object(m) = entry {
            m.insert(name.clone(), v.clone());
        }
    }
    hcl::Value::Object(by_type)
}

/// Why the http data source's GET failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpDataError {
    /// The HTTP client could not be set up.
    #[error(transparent)]
    Client(reqwest::Error),
    /// The request could not be sent or got no response.
    #[error("GET {url}: {error}")]
    Request { url: String, error: reqwest::Error },
    /// The server answered with a status other than 200.
    #[error("GET {url}: HTTP request error. Response code: {status}")]
    Status { url: String, status: u16 },
    /// The response body could not be read.
    #[error("GET {url}: {error}")]
    Body { url: String, error: reqwest::Error },
    /// The thread making the request panicked.
    #[error("the HTTP request panicked")]
    Panicked,
}

type Failure = (Option<String>, String);

fn run(
    ty: &str,
    config: &ConfigBlock,
    cwd: &std::path::Path,
    defer_remote: bool,
) -> Result<hcl::Value, Failure> {
    let c = &config.config;
    if ty == "amazon-ami" {
        return amazon_ami(c, cwd, defer_remote);
    }
    let known: &[&str] = match ty {
        "null" => &["input"],
        _ => &["url", "request_headers"],
    };
    if let Some(k) = c.keys().find(|k| !known.contains(&k.as_str())) {
        return Err((
            Some(k.clone()),
            format!(
                "unknown argument \"{k}\" (expected one of: {})",
                known.join(", ")
            ),
        ));
    }
    let string = |key: &str| -> Result<String, Failure> {
        match c.get(key) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err((Some(key.to_owned()), format!("{key} must be a string"))),
            None => Err((None, format!("the argument \"{key}\" is required"))),
        }
    };
    let mut out = hcl::Map::new();
    match ty {
        "null" => {
            let input = string("input")?;
            out.insert("input".to_owned(), hcl::Value::from(input.clone()));
            out.insert("output".to_owned(), hcl::Value::from(input));
        }
        _ => {
            let url = string("url")?;
            let mut headers = Vec::new();
            match c.get("request_headers") {
                None => {}
                Some(serde_json::Value::Object(m)) => {
                    for (k, v) in m {
                        let v = v.as_str().ok_or_else(|| {
                            (
                                Some("request_headers".to_owned()),
                                format!("request header {k} must be a string"),
                            )
                        })?;
                        headers.push((k.clone(), v.to_owned()));
                    }
                }
                Some(_) => {
                    return Err((
                        Some("request_headers".to_owned()),
                        "request_headers must be a map of strings".to_owned(),
                    ))
                }
            }
            let (body, response_headers) =
                http_get(&url, &headers).map_err(|e| (Some("url".to_owned()), e.to_string()))?;
            out.insert("url".to_owned(), hcl::Value::from(url));
            out.insert("body".to_owned(), hcl::Value::from(body));
            out.insert(
                "response_headers".to_owned(),
                hcl::Value::Object(
                    response_headers
                        .into_iter()
                        .map(|(k, v)| (k, hcl::Value::from(v)))
                        .collect(),
                ),
            );
        }
    }
    Ok(hcl::Value::Object(out))
}

/// A GET of `url`: the body as text and the response headers (names as Go's
/// canonical form, values of repeated headers joined with ", "). Anything but 200 is
/// an error, as in Packer's http data source.
fn http_get(
    url: &str,
    headers: &[(String, String)],
) -> Result<(String, BTreeMap<String, String>), HttpDataError> {
    let url = url.to_owned();
    let headers = headers.to_vec();
    // reqwest's blocking client runs its own runtime, which must not be created on a
    // thread already inside one (kiln's commands are async).
    std::thread::scope(|s| {
        s.spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(HttpDataError::Client)?;
            let mut req = client.get(&url);
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            let resp = req.send().map_err(|error| HttpDataError::Request {
                url: url.clone(),
                error,
            })?;
            let status = resp.status();
            if status.as_u16() != 200 {
                return Err(HttpDataError::Status {
                    url,
                    status: status.as_u16(),
                });
            }
            let mut out: BTreeMap<String, String> = BTreeMap::new();
            for (name, value) in resp.headers() {
                let name = canonical_header(name.as_str());
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                out.entry(name)
                    .and_modify(|v| {
                        v.push_str(", ");
                        v.push_str(&value);
                    })
                    .or_insert(value);
            }
            let body = resp
                .text()
                .map_err(|error| HttpDataError::Body { url, error })?;
            Ok((body, out))
        })
        .join()
        .unwrap_or(Err(HttpDataError::Panicked))
    })
}

/// `content-type` → `Content-Type`.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The one error for every `data` block of a type Kiln does not run, each listed with
/// its place.
pub fn unknown_types(unknown: &[(String, kiln_core::Location)]) -> Option<Diagnostic> {
    let (_, first) = unknown.first()?;
    let mut types: Vec<&str> = unknown.iter().map(|(t, _)| t.as_str()).collect();
    let mut seen = std::collections::BTreeSet::new();
    types.retain(|t| seen.insert(*t));
    let mut hint = vec!["Used at:".to_owned()];
    for ty in &types {
        let at: Vec<String> = unknown
            .iter()
            .filter(|(t, _)| t == ty)
            .map(|(_, l)| l.to_string())
            .collect();
        hint.push(format!("  data \"{ty}\": {}", at.join(", ")));
    }
    hint.push(format!(
        "Kiln runs these data sources: {}. Move other values into \
         variables.",
        TYPES.join(", ")
    ));
    let names: Vec<String> = types.iter().map(|t| format!("\"{t}\"")).collect();
    Some(
        Diagnostic::error(
            format!(
                "Kiln does not run {} {}",
                if names.len() == 1 {
                    "the data source type"
                } else {
                    "the data source types"
                },
                names.join(", ")
            ),
            Some(first.clone()),
        )
        .with_hint(hint.join("\n")),
    )
}

/// `data "amazon-ami"`: the one image its filters and owners pick (the newest with
/// `most_recent`), as `id`, `name`, `creation_date`, `owner`, `owner_name`, `tags`.
/// Deferred (`kiln validate` without `-evaluate-datasources`, as Packer's validate
/// leaves data sources unevaluated), its values are placeholders of the right shape.
fn amazon_ami(
    c: &serde_json::Map<String, serde_json::Value>,
    cwd: &std::path::Path,
    defer_remote: bool,
) -> Result<hcl::Value, Failure> {
    let failure = |e: kiln_core::config::FieldError| (e.field.clone(), e.to_string());
    let mut block = c.clone();
    let access = kiln_amazon::AccessConfig::take(&mut block, cwd).map_err(failure)?;
    let filter = kiln_amazon::ami::AmiFilter::from_block("", &block).map_err(failure)?;
    if filter.owners.is_empty() && filter.filters.is_empty() {
        return Err((None, "The `filters` must be specified".into()));
    }
    if filter.owners.is_empty() {
        return Err((
            Some("owners".into()),
            "For security reasons, you must declare an owner.".into(),
        ));
    }
    let image = if defer_remote {
        kiln_amazon::ec2::Image {
            id: "ami-00000000000000000".into(),
            name: "unevaluated".into(),
            creation_date: "1970-01-01T00:00:00.000Z".into(),
            owner_id: "000000000000".into(),
            owner_alias: Some("unevaluated".into()),
            ..Default::default()
        }
    } else {
        kiln_amazon::ami::pick_blocking(&access, &filter).map_err(|e| (None, e))?
    };
    let mut out = hcl::Map::new();
    out.insert("id".into(), hcl::Value::from(image.id));
    out.insert("name".into(), hcl::Value::from(image.name));
    out.insert(
        "creation_date".into(),
        hcl::Value::from(image.creation_date),
    );
    out.insert("owner".into(), hcl::Value::from(image.owner_id));
    out.insert(
        "owner_name".into(),
        hcl::Value::from(image.owner_alias.unwrap_or_default()),
    );
    out.insert(
        "tags".into(),
        hcl::Value::Object(
            image
                .tags
                .into_iter()
                .map(|(k, v)| (k, hcl::Value::from(v)))
                .collect(),
        ),
    );
    Ok(hcl::Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_whole_names() {
        assert!(refers_to("x = data.null.a.output", "data.null.a"));
        assert!(!refers_to("x = data.null.ab.output", "data.null.a"));
        assert!(!refers_to("x = mydata.null.a", "data.null.a"));
        assert_eq!(canonical_header("content-type"), "Content-Type");
    }
}
