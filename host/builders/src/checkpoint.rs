//! What every builder that takes checkpoints shares: chaining step identities into
//! keys from the builder's own first key, and running the provisioners one at a time
//! with a snapshot after each keyed one.

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use kiln_core::artifact::hex;
use kiln_core::checkpoint::StepIdentity;
use kiln_core::{BuildError, Ui};

use crate::machine::Reached;

/// A builder's state whose machine can be kept between provisioners.
#[async_trait]
pub trait Snapshots: Reached {
    /// Keeps the machine's state after provisioner `index` (from 0) under `key`; when
    /// `more` provisioners follow, the machine is running again afterwards.
    async fn snapshot(&mut self, index: usize, key: &str, more: bool) -> Result<(), BuildError>;

    /// The last provisioner (from 1) whose checkpoint is kept, taken or resumed from;
    /// 0 when none is.
    fn kept_up_to(&self) -> usize;
}

/// Runs the provisioners from `from` (from 0): one at a time while `keys` holds their
/// keys, each followed by its snapshot, then the rest together. A failure says up to
/// which provisioner checkpoints are kept.
pub async fn provision_keyed<S: Snapshots>(
    state: &mut S,
    keys: &[String],
    from: usize,
) -> Result<(), BuildError> {
    let count = state.hook().step_count();
    let mut i = from;
    while i < count {
        let (communicator, connection) = state.machine();
        let keyed = i < keys.len();
        let steps = if keyed { i..i + 1 } else { i..count };
        if let Err(e) = state
            .hook()
            .provision_steps(communicator, connection, steps)
            .await
        {
            let kept = state.kept_up_to();
            if kept > 0 {
                state.ui().say(&format!(
                    "Checkpoints are kept up to provisioner {kept}: `kiln build -resume` with \
                     the same inputs starts after it."
                ));
            }
            return Err(e);
        }
        if !keyed {
            break;
        }
        state.snapshot(i, &keys[i], i + 1 < count).await?;
        i += 1;
    }
    Ok(())
}

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
