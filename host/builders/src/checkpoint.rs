//! What every builder that takes checkpoints shares: chaining step identities into
//! keys from the builder's own first key.

use sha2::{Digest as _, Sha256};

use kiln_core::artifact::hex;
use kiln_core::checkpoint::StepIdentity;
use kiln_core::Ui;

/// The key after `previous` of a step whose identity is `step`.
pub fn chain(previous: &str, step: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"kiln-step-key/1\0");
    h.update(previous.as_bytes());
    h.update([0]);
    h.update(step.as_bytes());
    hex(&h.finalize())
}

/// The keys of the steps from the first up to the first one that cannot be keyed
/// (which is said, with why, naming the steps from `types`), chained from `base`.
pub fn keyed_prefix(
    base: String,
    identities: &[StepIdentity],
    types: &[String],
    ui: &dyn Ui,
) -> Vec<String> {
    let mut keys = Vec::new();
    let mut previous = base;
    for (i, identity) in identities.iter().enumerate() {
        match identity {
            StepIdentity::Keyed(digest) => {
                previous = chain(&previous, digest);
                keys.push(previous.clone());
            }
            StepIdentity::Unkeyable(why) => {
                ui.say(&format!(
                    "No checkpoint is taken after {} or the steps after it: {why} (write \
                     `cacheable = true` on it if its result depends on nothing else)",
                    step_name(i, types)
                ));
                break;
            }
        }
    }
    keys
}

/// `provisioner 3 "shell"`: the step at `index` (from 0).
pub fn step_name(index: usize, types: &[String]) -> String {
    format!(
        "provisioner {} \"{}\"",
        index + 1,
        types.get(index).map_or("?", String::as_str)
    )
}

/// Seconds since the Unix epoch, for a checkpoint's `created`.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_depends_on_every_step_before_it() {
        let a = chain("base", "one");
        assert_eq!(a, chain("base", "one"));
        assert_ne!(a, chain("base2", "one"));
        assert_ne!(chain(&a, "two"), chain(&chain("base", "uno"), "two"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn the_prefix_ends_at_the_first_step_that_cannot_be_keyed() {
        let ids = [
            StepIdentity::Keyed("a".into()),
            StepIdentity::Unkeyable("it runs commands on this host".into()),
            StepIdentity::Keyed("c".into()),
        ];
        let keys = keyed_prefix("b".into(), &ids, &[], &kiln_core::DiscardUi);
        assert_eq!(keys, vec![chain("b", "a")]);
    }
}
