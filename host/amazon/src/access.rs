//! The access options every amazon block shares (Packer's `AccessConfig` and
//! `aws_polling`), taken out of a block's configuration before the block's own options
//! are decoded, and the [`Session`] they open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_core::config::{decode, FieldError};
use serde::Deserialize;

use crate::client::{Client, ClientOptions};
use crate::credentials::{self, AssumeRole, Sources};
use crate::AwsError;

/// The EC2 API version Kiln speaks.
pub const EC2_VERSION: &str = "2016-11-15";

/// The keys [`AccessConfig::take`] takes out of a block.
pub const KEYS: &[&str] = &[
    "access_key",
    "secret_key",
    "token",
    "profile",
    "region",
    "shared_credentials_file",
    "custom_endpoint_ec2",
    "max_retries",
    "insecure_skip_tls_verify",
    "skip_metadata_api_check",
    "skip_credential_validation",
    "decode_authorization_messages",
    "mfa_code",
    "assume_role",
    "aws_polling",
    "vault_aws_engine",
    "polling",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    access_key: Option<String>,
    #[serde(default)]
    secret_key: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    shared_credentials_file: Option<String>,
    #[serde(default)]
    custom_endpoint_ec2: Option<String>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    // Kiln never asks the instance metadata service: nothing to skip.
    #[serde(default, rename = "skip_metadata_api_check")]
    _skip_metadata_api_check: bool,
    #[serde(default)]
    skip_credential_validation: bool,
    // Authorization failures are shown as AWS gives them.
    #[serde(default, rename = "decode_authorization_messages")]
    _decode_authorization_messages: bool,
    #[serde(default)]
    mfa_code: Option<String>,
    #[serde(default)]
    assume_role: Option<serde_json::Value>,
    #[serde(default)]
    aws_polling: Option<serde_json::Value>,
    #[serde(default)]
    vault_aws_engine: Option<serde_json::Value>,
    #[serde(default)]
    polling: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    role_arn: String,
    #[serde(default)]
    session_name: Option<String>,
    #[serde(default)]
    duration_seconds: Option<u32>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    policy_arns: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    transitive_tag_keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolling {
    #[serde(default)]
    delay_seconds: Option<u64>,
    #[serde(default)]
    max_attempts: Option<u32>,
}

/// `aws_polling`: how waiters poll. Unset values fall back to `AWS_POLL_DELAY_SECONDS`
/// and `AWS_MAX_ATTEMPTS`, then to each waiter's own default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polling {
    pub delay: Option<Duration>,
    pub max_attempts: Option<u32>,
}

/// The access options of one block.
#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    pub sources: Sources,
    pub region: Option<String>,
    pub custom_endpoint_ec2: Option<String>,
    pub max_retries: Option<u32>,
    pub insecure_skip_tls_verify: bool,
    pub assume_role: Option<AssumeRole>,
    pub polling: Polling,
    /// Whether the credentials are checked with STS GetCallerIdentity on opening (not
    /// `skip_credential_validation`).
    pub validate_credentials: bool,
}

/// A single nested block: HCL gives a list of one object, JSON an object.
pub fn one_block(
    key: &str,
    value: serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, FieldError> {
    match value {
        serde_json::Value::Object(m) => Ok(m),
        serde_json::Value::Array(mut items) if items.len() == 1 => match items.pop() {
            Some(serde_json::Value::Object(m)) => Ok(m),
            _ => Err(FieldError::new(key, format!("{key} must be a block"))),
        },
        serde_json::Value::Array(items) if items.is_empty() => Ok(serde_json::Map::new()),
        serde_json::Value::Array(_) => Err(FieldError::new(
            key,
            format!("only one {key} block is allowed"),
        )),
        _ => Err(FieldError::new(key, format!("{key} must be a block"))),
    }
}

impl AccessConfig {
    /// Takes the access options out of `config` (which then holds the block's own) and
    /// checks them; relative paths resolve against `cwd`.
    pub fn take(
        config: &mut serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
    ) -> Result<AccessConfig, FieldError> {
        let mut mine = serde_json::Map::new();
        for key in KEYS {
            if let Some(v) = config.remove(*key) {
                if !v.is_null() {
                    mine.insert((*key).to_owned(), v);
                }
            }
        }
        let raw: Raw = decode(&mine)?;
        if raw.vault_aws_engine.is_some() {
            return Err(FieldError::new(
                "vault_aws_engine",
                "vault_aws_engine is not supported: Kiln does not talk to Vault; give the credentials through the environment or a profile",
            ));
        }
        if raw.polling.is_some() {
            return Err(FieldError::new(
                "polling",
                "polling is not an option; did you mean aws_polling { delay_seconds, max_attempts }?",
            ));
        }
        if raw.mfa_code.as_deref().is_some_and(|c| !c.is_empty()) {
            return Err(FieldError::new(
                "mfa_code",
                "mfa_code is not supported: Kiln does not request MFA session tokens; use a profile with temporary credentials (aws sts get-session-token)",
            ));
        }
        if raw.access_key.is_some() != raw.secret_key.is_some()
            && raw
                .access_key
                .iter()
                .chain(&raw.secret_key)
                .any(|k| !k.is_empty())
        {
            let missing = if raw.access_key.is_some() {
                "secret_key"
            } else {
                "access_key"
            };
            return Err(FieldError::new(
                missing,
                "access_key and secret_key must both be set, or neither",
            ));
        }
        let assume_role = match raw.assume_role {
            None => None,
            Some(v) => {
                let block = one_block("assume_role", v)?;
                if block.is_empty() {
                    None
                } else {
                    let r: RawRole = decode(&block).map_err(|e| prefixed("assume_role", e))?;
                    if r.role_arn.is_empty() {
                        return Err(FieldError::new("assume_role", "assume_role needs role_arn"));
                    }
                    Some(AssumeRole {
                        role_arn: r.role_arn,
                        session_name: r.session_name.filter(|s| !s.is_empty()),
                        duration_seconds: r.duration_seconds,
                        external_id: r.external_id.filter(|s| !s.is_empty()),
                        policy: r.policy.filter(|s| !s.is_empty()),
                        policy_arns: r.policy_arns,
                        tags: r.tags,
                        transitive_tag_keys: r.transitive_tag_keys,
                    })
                }
            }
        };
        let polling = match raw.aws_polling {
            None => Polling::default(),
            Some(v) => {
                let p: RawPolling = decode(&one_block("aws_polling", v)?)
                    .map_err(|e| prefixed("aws_polling", e))?;
                Polling {
                    delay: p.delay_seconds.map(Duration::from_secs),
                    max_attempts: p.max_attempts.filter(|a| *a > 0),
                }
            }
        };
        Ok(AccessConfig {
            sources: Sources {
                access_key: raw.access_key,
                secret_key: raw.secret_key,
                token: raw.token,
                profile: raw.profile,
                shared_credentials_file: raw
                    .shared_credentials_file
                    .filter(|f| !f.is_empty())
                    .map(|f| expand_home(&f, cwd)),
            },
            region: raw.region.filter(|r| !r.is_empty()),
            custom_endpoint_ec2: raw.custom_endpoint_ec2.filter(|e| !e.is_empty()),
            max_retries: raw.max_retries,
            insecure_skip_tls_verify: raw.insecure_skip_tls_verify,
            assume_role,
            polling,
            validate_credentials: !raw.skip_credential_validation,
        })
    }

    /// Finds the region and credentials (assuming roles as asked) and opens a session
    /// there. The shared files are read once for both.
    pub async fn open(&self) -> Result<Session, AwsError> {
        let profiles = credentials::profiles(&self.sources)?;
        let region = credentials::region(&self.sources, self.region.as_deref(), &profiles)
            .ok_or_else(|| {
                AwsError::Config(
                    "no region: set region in the template, AWS_REGION in the environment, or region in the profile of ~/.aws/config".into(),
                )
            })?;
        let options = ClientOptions {
            // Packer's default.
            max_retries: self.max_retries.filter(|r| *r > 0).unwrap_or(10),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
        };
        let found = credentials::find(&self.sources, &profiles)?;
        let mut creds = found.credentials;
        if let Some(role) = &found.profile_role {
            creds = crate::sts::assume_role(creds, role, &region, &options).await?;
        }
        if let Some(role) = &self.assume_role {
            creds = crate::sts::assume_role(creds, role, &region, &options).await?;
        }
        if self.validate_credentials {
            crate::sts::caller_identity(creds.clone(), &region, &options)
                .await
                .map_err(|e| {
                    AwsError::Credentials(format!(
                        "validating the credentials from {} (skip_credential_validation = true skips this): {e}",
                        creds.source
                    ))
                })?;
        }
        tracing::debug!(credentials = ?creds, region, "AWS session");
        let endpoint = crate::client::endpoint("ec2", &region, self.custom_endpoint_ec2.as_deref());
        let ec2 = Client::new("ec2", EC2_VERSION, &region, endpoint, creds, &options)?;
        Ok(Session {
            ec2: crate::ec2::Ec2 { client: ec2 },
            custom_endpoint_ec2: self.custom_endpoint_ec2.clone(),
            polling: self.polling,
        })
    }
}

fn expand_home(path: &str, cwd: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var("HOME")
            .map(|h| Path::new(&h).join(rest))
            .unwrap_or_else(|_| cwd.join(path)),
        None => cwd.join(path),
    }
}

fn prefixed(block: &str, e: FieldError) -> FieldError {
    FieldError {
        field: Some(match &e.field {
            Some(f) => format!("{block}.{f}"),
            None => block.to_owned(),
        }),
        ..e
    }
}

/// An open session: EC2 in the block's region.
#[derive(Debug, Clone)]
pub struct Session {
    pub ec2: crate::ec2::Ec2,
    pub custom_endpoint_ec2: Option<String>,
    pub polling: Polling,
}

impl Session {
    /// EC2 in another region, with the same credentials.
    pub fn ec2_in(&self, region: &str) -> crate::ec2::Ec2 {
        crate::ec2::Ec2 {
            client: self
                .ec2
                .client
                .in_region(region, self.custom_endpoint_ec2.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn takes_its_own_keys_and_leaves_the_rest() {
        let mut c = map(json!({
            "region": "eu-west-1",
            "instance_type": "t3.micro",
            "aws_polling": [{"delay_seconds": 2, "max_attempts": 5}],
            "assume_role": {"role_arn": "arn:aws:iam::123456789012:role/b", "session_name": "s"}
        }));
        let a = AccessConfig::take(&mut c, Path::new("/t")).unwrap();
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert_eq!(a.polling.delay, Some(Duration::from_secs(2)));
        assert_eq!(a.polling.max_attempts, Some(5));
        assert_eq!(a.assume_role.unwrap().session_name.as_deref(), Some("s"));
        assert_eq!(c.keys().collect::<Vec<_>>(), ["instance_type"]);
    }

    #[test]
    fn refuses_what_it_cannot_honour_saying_why() {
        let mut c = map(json!({"access_key": "A"}));
        let e = AccessConfig::take(&mut c, Path::new("/t")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("secret_key"));
        let mut c = map(json!({"vault_aws_engine": {"name": "x"}}));
        let e = AccessConfig::take(&mut c, Path::new("/t")).unwrap_err();
        assert!(e.message.contains("Vault"), "{e}");
        let mut c = map(json!({"aws_polling": {"delay": 2}}));
        let e = AccessConfig::take(&mut c, Path::new("/t")).unwrap_err();
        assert!(e.to_string().contains("aws_polling"), "{e}");
    }
}
