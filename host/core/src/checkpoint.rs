//! Step checkpoints: what the engine tells a builder about each provisioner so that the
//! builder can keep the machine's state after it, and start a later build from there.
//!
//! A step's key is a digest of the key before it and of the step's own identity (its
//! type, configuration, component, grant and the content of the host files it reads);
//! the first key is the builder's, from what the machine starts as. The engine works out
//! identities ([`StepIdentity`]); builders that can snapshot chain them into keys and
//! store what each step changed under its key.

/// What `kiln build` does with checkpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckpointMode {
    /// None are taken or used (the default).
    #[default]
    Off,
    /// One is taken after each step that can be keyed; none is used (`-checkpoint`): a
    /// full rebuild that refreshes them.
    Record,
    /// The build starts after the longest run of steps whose checkpoints exist, and
    /// takes them for the rest (`-resume`).
    Resume,
}

/// The registry repositories checkpoints are shared through (`-checkpoint-to`,
/// `-checkpoint-from`): each is pushed as a one-layer OCI image tagged with its key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointShare {
    /// Where new checkpoints are pushed (`registry/repository`).
    pub to: Option<String>,
    /// Where checkpoints missing from the cache are looked for.
    pub from: Option<String>,
}

/// One provisioner, as checkpoints see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepIdentity {
    /// The digest (hex) of everything that determines what the step does to the
    /// machine, the machine aside.
    Keyed(String),
    /// The step's result cannot be keyed honestly; why (it reaches the network, runs
    /// commands on this host, writes host files, ...). It ends the steps that can be
    /// resumed.
    Unkeyable(String),
}
