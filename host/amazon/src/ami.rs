//! Picking one AMI by filters and owners, as `source_ami_filter` and the `amazon-ami`
//! data source do.

use std::collections::BTreeMap;

use kiln_core::config::{decode, FieldError};
use serde::Deserialize;

use crate::ec2::{self, Ec2, Filter, Image};

/// `filters`, `owners`, `most_recent`, `include_deprecated`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmiFilter {
    pub filters: Vec<Filter>,
    pub owners: Vec<String>,
    pub most_recent: bool,
    pub include_deprecated: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    filters: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    filter: Vec<serde_json::Value>,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    most_recent: bool,
    #[serde(default)]
    include_deprecated: bool,
}

/// A filter value as Packer reads it: comma-separated values, a value with a comma
/// in double quotes.
fn split_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out
}

/// A `filters` map (each value a string of comma-separated values, or a list) and
/// `filter { name, values }` blocks as EC2 filters.
pub fn filters(
    key: &str,
    map: BTreeMap<String, serde_json::Value>,
    blocks: Vec<serde_json::Value>,
) -> Result<Vec<Filter>, FieldError> {
    let bad = || {
        FieldError::new(
            key,
            format!("{key}: a filter's value must be a string or a list of strings"),
        )
    };
    let strings = |v: serde_json::Value| -> Result<Vec<String>, FieldError> {
        match v {
            serde_json::Value::String(s) => Ok(split_values(&s)),
            serde_json::Value::Array(a) => a
                .into_iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or_else(bad))
                .collect(),
            _ => Err(bad()),
        }
    };
    let mut out = Vec::new();
    for (name, v) in map {
        out.push(Filter {
            name,
            values: strings(v)?,
        });
    }
    for b in blocks {
        let obj = b.as_object().ok_or_else(bad)?;
        let name = obj.get("name").and_then(|n| n.as_str()).ok_or_else(bad)?;
        let values = obj.get("values").cloned().ok_or_else(bad)?;
        out.push(Filter {
            name: name.to_owned(),
            values: strings(values)?,
        });
    }
    Ok(out)
}

fn prefixed(key: &str, e: FieldError) -> FieldError {
    FieldError {
        field: Some(match &e.field {
            Some(f) => format!("{key}.{f}"),
            None => key.to_owned(),
        }),
        ..e
    }
}

impl AmiFilter {
    /// Reads the block's options; `key` names the block in errors (`""` for the
    /// data source, whose options stand at its top level).
    pub fn from_block(
        key: &str,
        block: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<AmiFilter, FieldError> {
        let r: Raw =
            decode(block).map_err(|e| if key.is_empty() { e } else { prefixed(key, e) })?;
        let field = if key.is_empty() { "filters" } else { key };
        Ok(AmiFilter {
            filters: filters(field, r.filters, r.filter)?,
            owners: r.owners,
            most_recent: r.most_recent,
            include_deprecated: r.include_deprecated,
        })
    }
}

/// The image `filter` (with `ids`, when given) picks, with Packer's errors for none
/// and for several without `most_recent`.
pub async fn pick(ec2: &Ec2, ids: &[String], filter: &AmiFilter) -> Result<Image, String> {
    let images = ec2
        .describe_images(
            ids,
            &filter.owners,
            &filter.filters,
            filter.include_deprecated,
        )
        .await
        .map_err(|e| format!("Error querying AMI: {e}"))?;
    if images.is_empty() {
        let shown: Vec<String> = filter
            .filters
            .iter()
            .map(|f| format!("{}={}", f.name, f.values.join(",")))
            .chain(ids.iter().map(|i| format!("image-id={i}")))
            .collect();
        return Err(format!(
            "No AMI was found matching filters: {} (owners: {})",
            shown.join(" "),
            if filter.owners.is_empty() {
                "any".to_owned()
            } else {
                filter.owners.join(", ")
            }
        ));
    }
    if images.len() > 1 && !filter.most_recent {
        return Err("Your query returned more than one result. Please try a more specific search, or set most_recent to true.".into());
    }
    Ok(ec2::newest(&images).cloned().expect("not empty"))
}

/// [`pick`] from code that is not async (the template's data sources): its own
/// runtime on its own thread.
pub fn pick_blocking(access: &crate::AccessConfig, filter: &AmiFilter) -> Result<Image, String> {
    let access = access.clone();
    let filter = filter.clone();
    std::thread::scope(|s| {
        s.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("starting a runtime: {e}"))?;
            rt.block_on(async {
                let session = access.open().await.map_err(|e| e.to_string())?;
                pick(&session.ec2, &[], &filter).await
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the AMI lookup panicked".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_split_on_commas_as_packer_reads_them() {
        assert_eq!(split_values("a,b"), ["a", "b"]);
        assert_eq!(split_values("\"x,y\",z"), ["x,y", "z"]);
        assert_eq!(split_values("ubuntu/images/*"), ["ubuntu/images/*"]);
    }
}
