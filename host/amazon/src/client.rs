//! One AWS Query API service (EC2, STS) in one region: form-encoded POSTs signed with
//! SigV4, answers in XML, throttling and server errors retried with backoff.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials as SigningCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::credentials::Credentials;
use crate::AwsError;

/// Error codes AWS answers when a caller should slow down or try again.
const RETRIED_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "ServiceUnavailable",
    "Unavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// A client of one service in one region.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    credentials: Credentials,
    /// `us-east-1`.
    pub region: String,
    /// `ec2`, `sts`.
    service: &'static str,
    /// The API version every request names.
    version: &'static str,
    /// Where requests go (`https://ec2.us-east-1.amazonaws.com/`).
    pub endpoint: String,
    /// How many times a throttled or failed request is sent again.
    max_retries: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Where a service's requests go: `custom` when given, else `AWS_ENDPOINT_URL_<SERVICE>`,
/// else `AWS_ENDPOINT_URL`, else AWS's own endpoint for the region.
pub fn endpoint(service: &str, region: &str, custom: Option<&str>) -> String {
    let var = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    let chosen = custom
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| std::env::var(&var).ok().filter(|v| !v.is_empty()))
        .or_else(|| {
            std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|v| !v.is_empty())
        });
    match chosen {
        // Packer accepts a bare host name for custom_endpoint_ec2.
        Some(c) if !c.contains("://") => format!("https://{}/", c.trim_end_matches('/')),
        Some(c) if c.ends_with('/') => c,
        Some(c) => format!("{c}/"),
        None if region.starts_with("cn-") => {
            format!("https://{service}.{region}.amazonaws.com.cn/")
        }
        None => format!("https://{service}.{region}.amazonaws.com/"),
    }
}

/// Settings every client of a session shares.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub max_retries: u32,
    pub insecure_skip_tls_verify: bool,
}

impl Client {
    /// A client of `service` in `region` at `endpoint`.
    pub fn new(
        service: &'static str,
        version: &'static str,
        region: &str,
        endpoint: String,
        credentials: Credentials,
        options: &ClientOptions,
    ) -> Result<Client, AwsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(options.insecure_skip_tls_verify)
            .build()
            .map_err(|e| AwsError::Transport {
                action: "setup".into(),
                message: e.to_string(),
            })?;
        Ok(Client {
            http,
            credentials,
            region: region.to_owned(),
            service,
            version,
            endpoint,
            max_retries: options.max_retries,
        })
    }

    /// The same service and credentials in another region (AWS's endpoint for it, or
    /// the same custom endpoint).
    pub fn in_region(&self, region: &str, custom_endpoint: Option<&str>) -> Client {
        let mut c = self.clone();
        c.region = region.to_owned();
        c.endpoint = endpoint(self.service, region, custom_endpoint);
        c
    }

    /// Calls `action` with `params`; the answer's XML text. Throttling, 5xx answers and
    /// failed connections are retried up to `max_retries` times with growing, jittered
    /// delays.
    pub async fn call(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String, AwsError> {
        let mut attempt = 0u32;
        loop {
            match self.call_once(action, params).await {
                Err(e) if e.retryable() && attempt < self.max_retries => {
                    let delay = backoff(attempt, e.throttled());
                    tracing::debug!(action, attempt, ?delay, error = %e, "retrying");
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String, AwsError> {
        let body = {
            let mut s = form_urlencoded::Serializer::new(String::new());
            s.append_pair("Action", action);
            s.append_pair("Version", self.version);
            for (k, v) in params {
                s.append_pair(k, v);
            }
            s.finish()
        };
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let identity = SigningCredentials::new(
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
            self.credentials.session_token.clone(),
            None,
            "kiln",
        )
        .into();
        let signing_params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| AwsError::Signing(e.to_string()))?
            .into();
        let headers = [("content-type", content_type)];
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| AwsError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &signing_params)
            .map_err(|e| AwsError::Signing(e.to_string()))?
            .into_parts();
        let mut req = self
            .http
            .post(&self.endpoint)
            .header("content-type", content_type)
            .body(body);
        for (name, value) in instructions.headers() {
            req = req.header(name, value);
        }
        let transport = |e: reqwest::Error| AwsError::Transport {
            action: action.to_owned(),
            message: format!("{}: {}", self.endpoint, error_chain(&e)),
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(parse_error(action, status, &text))
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = inner.source();
    }
    s
}

/// The delay before retry `attempt` (from 0): exponential from 100 ms (500 ms when
/// throttled), at most 20 s, with full jitter as AWS's SDKs do.
fn backoff(attempt: u32, throttled: bool) -> Duration {
    let base: u64 = if throttled { 500 } else { 100 };
    let cap = base.saturating_mul(1u64 << attempt.min(16)).min(20_000);
    // Jitter from the clock's nanoseconds: good enough to spread parallel builds.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    Duration::from_millis(cap / 2 + nanos % (cap / 2 + 1))
}

/// An error answer: EC2's `<Response><Errors><Error>` or STS's `<ErrorResponse><Error>`.
fn parse_error(action: &str, status: u16, text: &str) -> AwsError {
    if let Ok(doc) = roxmltree::Document::parse(text) {
        let find = |name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name(name))
                .and_then(|n| n.text())
                .map(str::to_owned)
        };
        if let Some(code) = find("Code") {
            return AwsError::Api {
                action: action.to_owned(),
                status,
                code,
                message: find("Message").unwrap_or_default(),
                request_id: find("RequestID").or_else(|| find("RequestId")),
            };
        }
    }
    let mut body: String = text.chars().take(300).collect();
    if body.trim().is_empty() {
        body = "(empty body)".into();
    }
    AwsError::Http {
        action: action.to_owned(),
        status,
        body,
    }
}

impl AwsError {
    /// Whether sending the request again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            AwsError::Api { code, status, .. } => {
                RETRIED_CODES.contains(&code.as_str()) || *status >= 500
            }
            AwsError::Http { status, .. } => *status >= 500 || *status == 429,
            AwsError::Transport { .. } => true,
            _ => false,
        }
    }

    fn throttled(&self) -> bool {
        match self {
            AwsError::Api { code, .. } => {
                code.contains("Throttl") || code == "RequestLimitExceeded" || code == "SlowDown"
            }
            AwsError::Http { status, .. } => *status == 429,
            _ => false,
        }
    }

    /// The API error code, if AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_both_shapes_are_read() {
        let ec2 = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>The image id '[ami-1]' does not exist</Message></Error></Errors><RequestID>r-1</RequestID></Response>";
        let e = parse_error("DescribeImages", 400, ec2);
        assert_eq!(e.code(), Some("InvalidAMIID.NotFound"));
        assert!(!e.retryable());
        assert_eq!(
            e.to_string(),
            "DescribeImages: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist (request r-1)"
        );
        let sts = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>";
        let e = parse_error("AssumeRole", 400, sts);
        assert!(e.retryable() && e.throttled());
        let e = parse_error("RunInstances", 503, "<html>busy</html>");
        assert!(e.retryable(), "{e}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..30 {
            let d = backoff(attempt, true);
            assert!(d <= Duration::from_secs(20), "{attempt}: {d:?}");
        }
        assert!(backoff(0, false) <= Duration::from_millis(100));
        assert!(backoff(4, false) >= Duration::from_millis(800));
    }

    #[test]
    fn endpoints_as_given_or_awss_own() {
        assert_eq!(
            endpoint("ec2", "eu-west-1", Some("http://127.0.0.1:5000")),
            "http://127.0.0.1:5000/"
        );
        assert_eq!(
            endpoint("ec2", "eu-west-1", Some("ec2.example.com")),
            "https://ec2.example.com/"
        );
    }
}
