//! STS AssumeRole: temporary credentials for a role, from the template's `assume_role`
//! block or a profile's `role_arn`.

use crate::client::{Client, ClientOptions};
use crate::credentials::{AssumeRole, Credentials};
use crate::xml;
use crate::AwsError;

/// The credentials `role` gives to the holder of `base`.
pub(crate) async fn assume_role(
    base: Credentials,
    role: &AssumeRole,
    region: &str,
    options: &ClientOptions,
) -> Result<Credentials, AwsError> {
    let endpoint = crate::client::endpoint("sts", region, None);
    let client = Client::new("sts", "2011-06-15", region, endpoint, base, options)?;
    let mut params = vec![
        ("RoleArn".to_owned(), role.role_arn.clone()),
        (
            "RoleSessionName".to_owned(),
            role.session_name
                .clone()
                .unwrap_or_else(|| format!("kiln-{}", std::process::id())),
        ),
    ];
    if let Some(d) = role.duration_seconds {
        params.push(("DurationSeconds".into(), d.to_string()));
    }
    if let Some(x) = &role.external_id {
        params.push(("ExternalId".into(), x.clone()));
    }
    if let Some(p) = &role.policy {
        params.push(("Policy".into(), p.clone()));
    }
    for (i, arn) in role.policy_arns.iter().enumerate() {
        params.push((format!("PolicyArns.member.{}.arn", i + 1), arn.clone()));
    }
    for (i, (k, v)) in role.tags.iter().enumerate() {
        params.push((format!("Tags.member.{}.Key", i + 1), k.clone()));
        params.push((format!("Tags.member.{}.Value", i + 1), v.clone()));
    }
    for (i, k) in role.transitive_tag_keys.iter().enumerate() {
        params.push((format!("TransitiveTagKeys.member.{}", i + 1), k.clone()));
    }
    let text = client.call("AssumeRole", &params).await?;
    let doc = xml::parse("AssumeRole", &text)?;
    let get =
        |name: &str| xml::find_text(&doc, name).ok_or_else(|| xml::missing("AssumeRole", name));
    Ok(Credentials {
        access_key_id: get("AccessKeyId")?,
        secret_access_key: get("SecretAccessKey")?,
        session_token: Some(get("SessionToken")?),
        source: format!("role {}", role.role_arn),
    })
}

/// The account the credentials belong to (GetCallerIdentity): proves they work.
pub(crate) async fn caller_identity(
    creds: Credentials,
    region: &str,
    options: &ClientOptions,
) -> Result<String, AwsError> {
    let endpoint = crate::client::endpoint("sts", region, None);
    let client = Client::new("sts", "2011-06-15", region, endpoint, creds, options)?;
    let text = client.call("GetCallerIdentity", &[]).await?;
    let doc = xml::parse("GetCallerIdentity", &text)?;
    xml::find_text(&doc, "Account").ok_or_else(|| xml::missing("GetCallerIdentity", "Account"))
}
