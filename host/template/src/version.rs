//! `required_version` constraints, as Packer reads them: comma-separated terms, each an
//! operator (`=`, `!=`, `>`, `>=`, `<`, `<=`, `~>`, none meaning `=`) and a version of
//! one to three numeric segments with an optional `-prerelease`.

use std::cmp::Ordering;

/// Why a `required_version` constraint could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The version to check is not a version.
    #[error("bad version {version:?}")]
    BadVersion { version: String },
    /// A comma-separated term of the constraint is not an operator and a version.
    #[error("{term:?} is not a version constraint")]
    BadTerm { term: String },
}

/// A parsed version: numeric segments (padded to three) and a prerelease tag.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    segments: [u64; 3],
    /// How many segments were written (for `~>`).
    written: usize,
    pre: String,
}

impl Version {
    fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let (core, pre) = match text.split_once('-') {
            Some((c, p)) if !p.is_empty() => (c, p.to_owned()),
            Some(_) => return None,
            None => (text, String::new()),
        };
        let core = core.split_once('+').map_or(core, |(c, _)| c);
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut segments = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            segments[i] = p.parse().ok()?;
        }
        Some(Version {
            segments,
            written: parts.len(),
            pre,
        })
    }

    fn cmp(&self, other: &Version) -> Ordering {
        self.segments.cmp(&other.segments).then_with(|| {
            // A prerelease sorts before its release.
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

/// Whether `version` satisfies `constraint`; `Err` when the constraint is not
/// valid syntax.
pub fn satisfies(constraint: &str, version: &str) -> Result<bool, ConstraintError> {
    let have = Version::parse(version).ok_or_else(|| ConstraintError::BadVersion {
        version: version.to_owned(),
    })?;
    let mut all = true;
    for term in constraint.split(',') {
        let term = term.trim();
        let (op, rest) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| term.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("=", term));
        let want = Version::parse(rest.trim()).ok_or_else(|| ConstraintError::BadTerm {
            term: term.to_owned(),
        })?;
        let ord = have.cmp(&want);
        let ok = match op {
            "=" => ord == Ordering::Equal,
            "!=" => ord != Ordering::Equal,
            ">" => ord == Ordering::Greater,
            ">=" => ord != Ordering::Less,
            "<" => ord == Ordering::Less,
            "<=" => ord != Ordering::Greater,
            _ => {
                // `~> 1.6.0` allows 1.6.x; `~> 1.6` allows 1.x from 1.6.
                let fixed = want.written.saturating_sub(1).max(1);
                ord != Ordering::Less && have.segments[..fixed] == want.segments[..fixed]
            }
        };
        all &= ok;
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::satisfies;

    #[test]
    fn constraints_read_as_packer_reads_them() {
        for (c, ok) in [
            (">= 1.6.0", true),
            (">= 1.7.0, < 2", false),
            ("~> 1.6.0", true),
            ("~> 1.5.0", false),
            ("~> 1.5", true),
            ("1.6.6", true),
            ("= 1.6.5", false),
            ("!= 1.6.6", false),
            ("< 1.6.6-beta", false),
            ("> 1.6.6-rc1", true),
        ] {
            assert_eq!(satisfies(c, "1.6.6").unwrap(), ok, "{c}");
        }
        assert!(satisfies("garbage", "1.6.6").is_err());
        assert!(satisfies(">= 1..2", "1.6.6").is_err());
    }
}
