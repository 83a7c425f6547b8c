//! Registry credentials as Docker keeps them, so a `docker login` (or `kiln component
//! login`) is all a user needs: the Docker config file, its credential helpers, and
//! saving a login into that file.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`. For a
//! registry, `credHelpers[registry]` names a `docker-credential-<helper>` program to ask
//! first, then `credsStore` names one for all registries, then `auths[registry]` holds
//! base64 `user:password` (or `username` and `password`) in the file itself.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use tempfile::NamedTempFile;

use crate::error::io_err;
use crate::{Error, RegistryAuth};

/// Docker Hub's name in the config file, as `docker login` writes it.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The parts of a Docker config file that hold credentials.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

/// One `auths` entry: `auth` is base64 `user:password`; older files spell both out.
#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// What a credential helper prints for `get`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// Credentials for `registry` (`host[:port]`) from the Docker config file, looked up as
/// Docker does: `credHelpers[registry]`, then `credsStore`, then `auths[registry]` (also
/// under keys written as `https://host/` or `http://host`, and Docker Hub's
/// `https://index.docker.io/v1/`). No file, no entry, or a helper that has no credentials
/// for it is `Ok(None)`; a malformed file is an error naming it.
pub fn credentials_for(registry: &str) -> Result<Option<RegistryAuth>, Error> {
    match config_path() {
        Some(path) => credentials_in(&path, registry),
        None => Ok(None),
    }
}

/// Saves a login as `auths[registry].auth` in the Docker config file, creating it (mode
/// 0600, in a new directory if need be) or keeping its other keys; other spellings of the
/// same registry are dropped so the new login is the one found. Returns the file's path.
pub fn store_login(registry: &str, auth: &RegistryAuth) -> Result<PathBuf, Error> {
    let path = config_path().ok_or(Error::NoDockerConfig)?;
    store_login_in(&path, registry, auth)?;
    Ok(path)
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
fn config_path() -> Option<PathBuf> {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    match set("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => set("HOME").map(|home| PathBuf::from(home).join(".docker/config.json")),
    }
}

fn credentials_in(path: &Path, registry: &str) -> Result<Option<RegistryAuth>, Error> {
    let Some(config) = read_config(path)? else {
        return Ok(None);
    };
    let config: DockerConfig = serde_json::from_value(Value::Object(config))
        .map_err(|e| bad_config(path, e.to_string()))?;
    if let Some((_, helper)) = lookup(&config.cred_helpers, registry) {
        if let Some(auth) = ask_helper(helper, registry)? {
            return Ok(Some(auth));
        }
    }
    if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        if let Some(auth) = ask_helper(store, registry)? {
            return Ok(Some(auth));
        }
    }
    match lookup(&config.auths, registry) {
        Some((key, entry)) => decode_entry(path, key, entry),
        None => Ok(None),
    }
}

fn store_login_in(path: &Path, registry: &str, auth: &RegistryAuth) -> Result<(), Error> {
    let mut config = read_config(path)?.unwrap_or_default();
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| bad_config(path, "\"auths\" is not an object".into()))?;
    let key = match host_of(registry) {
        "docker.io" => DOCKER_HUB_KEY.to_string(),
        _ => registry.to_string(),
    };
    auths.retain(|k, _| *k == key || host_of(k) != host_of(registry));
    let entry = auths
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    let entry = entry.as_object_mut().expect("made an object above");
    entry.remove("username");
    entry.remove("password");
    let encoded = BASE64.encode(format!("{}:{}", auth.username, auth.password));
    entry.insert("auth".into(), Value::String(encoded));
    let mut bytes = serde_json::to_vec_pretty(&config).expect("JSON values serialize");
    bytes.push(b'\n');
    write_private(path, &bytes)
}

/// The config file as a JSON object; `None` if there is no file.
fn read_config(path: &Path) -> Result<Option<Map<String, Value>>, Error> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(bad_config(path, "it is not a JSON object".into())),
        Err(e) => Err(bad_config(path, e.to_string())),
    }
}

/// The entry for `registry`: under its own name first, else under any key naming the
/// same host (`https://host/`, `http://host`, Docker Hub's several names).
fn lookup<'a, V>(map: &'a BTreeMap<String, V>, registry: &str) -> Option<(&'a str, &'a V)> {
    let exact = map.get_key_value(registry);
    let same_host = || map.iter().find(|(k, _)| host_of(k) == host_of(registry));
    exact.or_else(same_host).map(|(k, v)| (k.as_str(), v))
}

/// The `host[:port]` a config key names, with Docker Hub's names as `docker.io`.
fn host_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"));
    let host = rest.unwrap_or(key).split('/').next().unwrap_or_default();
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        host => host,
    }
}

fn decode_entry(path: &Path, key: &str, entry: &AuthEntry) -> Result<Option<RegistryAuth>, Error> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let bad = |reason: &str| bad_config(path, format!("auths[{key:?}].auth {reason}"));
        let decoded = BASE64
            .decode(auth.trim())
            .map_err(|_| bad("is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| bad("is not UTF-8 text"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| bad("is not base64 of user:password"))?;
        return Ok(Some(RegistryAuth {
            username: username.into(),
            password: password.into(),
        }));
    }
    Ok(match (&entry.username, &entry.password) {
        (Some(username), Some(password)) if !username.is_empty() => Some(RegistryAuth {
            username: username.clone(),
            password: password.clone(),
        }),
        _ => None,
    })
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin. A helper that
/// says it has no credentials for the registry gives `None`.
fn ask_helper(helper: &str, registry: &str) -> Result<Option<RegistryAuth>, Error> {
    let program = format!("docker-credential-{helper}");
    let failed = |reason: String| Error::CredentialHelper {
        helper: helper.into(),
        registry: registry.into(),
        reason,
    };
    let server = match host_of(registry) {
        "docker.io" => DOCKER_HUB_KEY,
        _ => registry,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run {program}: {e}")))?;
    // A helper that exits without reading its input is judged by its exit status.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(format!("waiting for {program}: {e}")))?;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let said = said + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(format!("it {}: {}", out.status, said.trim())));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| failed(format!("its answer is not the expected JSON: {e}")))?;
    Ok((!answer.secret.is_empty()).then_some(RegistryAuth {
        username: answer.username,
        password: answer.secret,
    }))
}

/// Replaces `path` with `bytes` through a temporary file beside it, readable and writable
/// by the owner only (it holds passwords); creates the directory (0700) if need be.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let what = || format!("writing {}", path.display());
    // Writing through a symlinked config file keeps the link.
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(format!("creating {}", dir.display())))?;
    let written = NamedTempFile::with_prefix_in(".config.json-", dir).and_then(|mut temp| {
        temp.write_all(bytes)?;
        temp.as_file()
            .set_permissions(Permissions::from_mode(0o600))?;
        temp.as_file().sync_all()?;
        temp.persist(&path).map(drop).map_err(|e| e.error)
    });
    written.map_err(io_err(what()))
}

fn bad_config(path: &Path, reason: String) -> Error {
    Error::DockerConfig {
        path: path.into(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(username: &str, password: &str) -> RegistryAuth {
        RegistryAuth {
            username: username.into(),
            password: password.into(),
        }
    }

    fn found(path: &Path, registry: &str) -> Option<(String, String)> {
        let auth = credentials_in(path, registry).unwrap();
        auth.map(|a| (a.username, a.password))
    }

    #[test]
    fn keys_name_the_same_host_in_several_spellings() {
        for key in [
            "ghcr.io",
            "https://ghcr.io",
            "https://ghcr.io/",
            "http://ghcr.io/v2/",
        ] {
            assert_eq!(host_of(key), "ghcr.io", "{key}");
        }
        for key in ["docker.io", DOCKER_HUB_KEY, "registry-1.docker.io"] {
            assert_eq!(host_of(key), "docker.io", "{key}");
        }
        assert_eq!(host_of("https://127.0.0.1:5000/"), "127.0.0.1:5000");
    }

    #[test]
    fn auths_entries_decode_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let config = serde_json::json!({ "auths": {
            "https://a.example/": { "auth": BASE64.encode("alice:pa:ss") },
            "b.example": { "username": "bob", "password": "pw" },
            "https://index.docker.io/v1/": { "auth": BASE64.encode("hub:tok") },
            "c.example": { "auth": "%%%" },
        }});
        fs::write(&path, config.to_string()).unwrap();
        assert_eq!(
            found(&path, "a.example"),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(found(&path, "b.example"), Some(("bob".into(), "pw".into())));
        assert_eq!(
            found(&path, "docker.io"),
            Some(("hub".into(), "tok".into()))
        );
        assert_eq!(found(&path, "d.example"), None);
        let e = credentials_in(&path, "c.example").unwrap_err();
        assert!(matches!(e, Error::DockerConfig { .. }), "{e}");
    }

    #[test]
    fn missing_is_none_and_malformed_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(found(&path, "a.example"), None);
        fs::write(&path, "{ not json").unwrap();
        let e = credentials_in(&path, "a.example").unwrap_err();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }

    #[test]
    fn a_login_replaces_other_spellings_and_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/config.json");
        store_login_in(&path, "docker.io", &auth("first", "1")).unwrap();
        let config = serde_json::json!({
            "auths": { "docker.io": { "auth": BASE64.encode("old:0") }, "x.example": {} },
            "psFormat": "table",
        });
        fs::write(&path, config.to_string()).unwrap();
        store_login_in(&path, "docker.io", &auth("second", "2")).unwrap();
        assert_eq!(
            found(&path, "docker.io"),
            Some(("second".into(), "2".into()))
        );
        let written: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(written["psFormat"], "table");
        let mut keys: Vec<&String> = written["auths"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, [DOCKER_HUB_KEY, "x.example"]);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
