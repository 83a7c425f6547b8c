//! Credentials, found where AWS users keep them: the template's `access_key` /
//! `secret_key` / `token`, then the environment (`AWS_ACCESS_KEY_ID`, ...), then a
//! profile of the shared credentials and config files (`~/.aws/credentials`,
//! `~/.aws/config`), a profile's `role_arn` with its `source_profile`, and last the
//! template's `assume_role`. Secrets are never printed: [`Credentials`]'s `Debug` shows
//! the access key id alone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::AwsError;

/// One set of AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (not secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// Where they came from, for messages (`environment`, `profile "dev"`, ...).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Where to look, from the template's access options and the environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `access_key`, `secret_key`, `token`.
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub token: Option<String>,
    /// `profile` (else `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// `shared_credentials_file` (else `AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/credentials`).
    pub shared_credentials_file: Option<PathBuf>,
}

/// A profile's settings from both files, the credentials file's winning.
#[derive(Debug, Default, Clone)]
pub struct Profile {
    pub name: String,
    pub values: BTreeMap<String, String>,
}

impl Profile {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// The profile's name: the template's, else `AWS_PROFILE`, else `default`.
pub fn profile_name(sources: &Sources) -> String {
    sources
        .profile
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| env("AWS_PROFILE"))
        .or_else(|| env("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".to_owned())
}

fn credentials_file(sources: &Sources) -> Option<PathBuf> {
    sources
        .shared_credentials_file
        .clone()
        .or_else(|| env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from))
        .or_else(|| home().map(|h| h.join(".aws/credentials")))
}

fn config_file() -> Option<PathBuf> {
    env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/config")))
}

/// The sections of an AWS INI file (`[name]` → key = value), comments and blank lines
/// skipped. `config` files name profiles `[profile NAME]` (and `[default]`).
pub fn parse_ini(text: &str, config_file: bool) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            let name = if config_file {
                match name.strip_prefix("profile ") {
                    Some(n) => n.trim(),
                    // Only `[default]` stands without the prefix in a config file;
                    // other sections (`[sso-session x]`, `[services x]`) are not profiles.
                    None if name == "default" => name,
                    None => {
                        current = None;
                        continue;
                    }
                }
            } else {
                name
            };
            current = Some(name.to_owned());
            out.entry(name.to_owned()).or_default();
            continue;
        }
        let Some(section) = &current else { continue };
        if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    out
}

fn read_sections(path: Option<PathBuf>, config_file: bool) -> Result<Sections, AwsError> {
    let Some(path) = path else {
        return Ok(BTreeMap::new());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse_ini(&text, config_file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(AwsError::Credentials(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Both files' sections, by profile: the config file's, overridden by the credentials
/// file's.
pub fn profiles(sources: &Sources) -> Result<BTreeMap<String, Profile>, AwsError> {
    Ok(merge(
        read_sections(config_file(), true)?,
        read_sections(credentials_file(sources), false)?,
    ))
}

type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// The profiles of a config file's and a credentials file's sections, the latter's
/// values winning.
fn merge(config: Sections, credentials: Sections) -> BTreeMap<String, Profile> {
    let mut out: BTreeMap<String, Profile> = BTreeMap::new();
    for (name, values) in config.into_iter().chain(credentials) {
        out.entry(name.clone())
            .or_insert_with(|| Profile {
                name,
                ..Default::default()
            })
            .values
            .extend(values);
    }
    out
}

/// A role to assume with a set of credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub duration_seconds: Option<u32>,
    pub external_id: Option<String>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub transitive_tag_keys: Vec<String>,
}

/// What the chain found before any role is assumed: credentials, and the role a
/// profile names (`role_arn` with `source_profile`) to assume with them.
#[derive(Debug)]
pub struct Found {
    pub credentials: Credentials,
    pub profile_role: Option<AssumeRole>,
}

fn static_pair(
    key: Option<String>,
    secret: Option<String>,
    token: Option<String>,
    source: &str,
) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: key.filter(|k| !k.is_empty())?,
        secret_access_key: secret.filter(|s| !s.is_empty())?,
        session_token: token.filter(|t| !t.is_empty()),
        source: source.to_owned(),
    })
}

fn from_profile(
    profiles: &BTreeMap<String, Profile>,
    name: &str,
    depth: usize,
) -> Result<Option<Found>, AwsError> {
    let Some(p) = profiles.get(name) else {
        return Ok(None);
    };
    if let Some(role_arn) = p.get("role_arn") {
        let source = p.get("source_profile").ok_or_else(|| {
            AwsError::Credentials(format!(
                "profile {name:?} has role_arn but no source_profile (Kiln does not read credential_source)"
            ))
        })?;
        if depth > 5 {
            return Err(AwsError::Credentials(format!(
                "profile {name:?}: source_profile chain is too long or loops"
            )));
        }
        let base = if source == name {
            static_credentials_of(p)
        } else {
            from_profile(profiles, source, depth + 1)?.map(|f| f.credentials)
        };
        let credentials = base.ok_or_else(|| {
            AwsError::Credentials(format!(
                "profile {name:?}: its source_profile {source:?} has no credentials"
            ))
        })?;
        return Ok(Some(Found {
            credentials,
            profile_role: Some(AssumeRole {
                role_arn: role_arn.to_owned(),
                session_name: p.get("role_session_name").map(str::to_owned),
                duration_seconds: p.get("duration_seconds").and_then(|d| d.parse().ok()),
                external_id: p.get("external_id").map(str::to_owned),
                ..Default::default()
            }),
        }));
    }
    Ok(static_credentials_of(p).map(|credentials| Found {
        credentials,
        profile_role: None,
    }))
}

fn static_credentials_of(p: &Profile) -> Option<Credentials> {
    static_pair(
        p.get("aws_access_key_id").map(str::to_owned),
        p.get("aws_secret_access_key").map(str::to_owned),
        p.get("aws_session_token")
            .or_else(|| p.get("aws_security_token"))
            .map(str::to_owned),
        &format!("profile {:?}", p.name),
    )
}

/// The first credentials of the chain (static, environment, profile), before the
/// template's `assume_role`: the template's keys win, as in Packer; a profile the
/// template names wins over the environment's keys. `profiles` are both files' sections
/// ([`profiles`]).
pub fn find(sources: &Sources, profiles: &BTreeMap<String, Profile>) -> Result<Found, AwsError> {
    let explicit_profile = sources.profile.as_deref().is_some_and(|p| !p.is_empty());
    if let Some(c) = static_pair(
        sources.access_key.clone(),
        sources.secret_key.clone(),
        sources.token.clone(),
        "access_key and secret_key",
    ) {
        return Ok(Found {
            credentials: c,
            profile_role: None,
        });
    }
    if !explicit_profile {
        if let Some(c) = static_pair(
            env("AWS_ACCESS_KEY_ID").or_else(|| env("AWS_ACCESS_KEY")),
            env("AWS_SECRET_ACCESS_KEY").or_else(|| env("AWS_SECRET_KEY")),
            env("AWS_SESSION_TOKEN").or_else(|| env("AWS_SECURITY_TOKEN")),
            "the environment (AWS_ACCESS_KEY_ID)",
        ) {
            return Ok(Found {
                credentials: c,
                profile_role: None,
            });
        }
    }
    let name = profile_name(sources);
    if let Some(found) = from_profile(profiles, &name, 0)? {
        return Ok(found);
    }
    let where_ = credentials_file(sources)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.aws/credentials".to_owned());
    Err(AwsError::Credentials(
        if explicit_profile || env("AWS_PROFILE").is_some() {
            format!(
            "no credentials for profile {name:?} in {where_} or the AWS config file; add aws_access_key_id and aws_secret_access_key to it, or set role_arn with source_profile"
        )
        } else {
            format!(
            "no AWS credentials found: set access_key and secret_key in the template, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or a profile in {where_} (Kiln does not ask the instance metadata service)"
        )
        },
    ))
}

/// The region: the template's, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else the
/// profile's `region` in the config file.
pub fn region(
    sources: &Sources,
    configured: Option<&str>,
    profiles: &BTreeMap<String, Profile>,
) -> Option<String> {
    configured
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| {
            profiles
                .get(&profile_name(sources))?
                .get("region")
                .map(str::to_owned)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_profiles_as_the_cli_writes_them() {
        let text = "# c\n[default]\naws_access_key_id = A\n aws_secret_access_key=B \n\n[profile dev]\nregion = eu-west-1\n[sso-session x]\nsso_region = y\n";
        let c = parse_ini(text, true);
        assert_eq!(c["default"]["aws_access_key_id"], "A");
        assert_eq!(c["default"]["aws_secret_access_key"], "B");
        assert_eq!(c["dev"]["region"], "eu-west-1");
        assert!(!c.contains_key("sso-session x"));
        let c = parse_ini("[profile dev]\nx = 1\n", false);
        assert!(
            c.contains_key("profile dev"),
            "a credentials file takes names as they are"
        );
    }

    fn files(credentials: &str, config: &str) -> BTreeMap<String, Profile> {
        merge(parse_ini(config, true), parse_ini(credentials, false))
    }

    #[test]
    fn the_templates_keys_then_a_named_profile_then_its_role() {
        let profiles = files(
            "[base]\naws_access_key_id = AKBASE\naws_secret_access_key = s1\n",
            "[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/ci\nsource_profile = base\nexternal_id = x\n[profile lone]\nregion = eu-west-1\n",
        );
        let named = |p: &str| Sources {
            profile: Some(p.into()),
            ..Default::default()
        };
        // A profile in the config file assumes its role with its source profile's keys.
        let found = find(&named("ci"), &profiles).unwrap();
        assert_eq!(found.credentials.access_key_id, "AKBASE");
        let role = found.profile_role.unwrap();
        assert_eq!(role.role_arn, "arn:aws:iam::123456789012:role/ci");
        assert_eq!(role.external_id.as_deref(), Some("x"));
        // The template's keys win over a profile, as in Packer.
        let with_keys = Sources {
            access_key: Some("AKTEMPLATE".into()),
            secret_key: Some("s2".into()),
            ..named("ci")
        };
        let found = find(&with_keys, &profiles).unwrap();
        assert_eq!(found.credentials.access_key_id, "AKTEMPLATE");
        assert!(found.profile_role.is_none());
        // A profile without keys says so, naming it.
        let e = find(&named("lone"), &profiles).unwrap_err().to_string();
        assert!(e.contains("no credentials for profile \"lone\""), "{e}");
        assert_eq!(
            region(&named("lone"), Some("us-west-1"), &profiles).as_deref(),
            Some("us-west-1")
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
            session_token: Some("tok3n".into()),
            source: "test".into(),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("tok3n"));
    }
}
