//! The `amazon-ebs` builder: launches an instance from a source AMI, provisions it over
//! SSH, stops it and makes an AMI of it (copied to other regions, shared, tagged), as
//! Packer's does. Every temporary resource (key pair, security group, instance, and an
//! AMI of a failed build) is removed by its step's cleanup, in reverse, after success,
//! failure and Ctrl-C; `-on-error=abort` leaves them and says what is left.

pub mod config;
mod render;
mod steps;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use kiln_amazon::ec2::{Ec2, Image, Instance};
use kiln_amazon::{AwsError, Session};
use kiln_core::config::FieldError;
use kiln_core::steps::Step;
use kiln_core::{
    Artifact, BuildContext, BuildError, Builder, Communicator, ConnectionInfo, ProvisionHook,
};

use crate::machine::{Connect, Provision, Reached, SshLink};
pub use config::Config;

/// Packer's id for the artifacts of this builder.
pub const BUILDER_ID: &str = "mitchellh.amazonebs";

/// The configured builder.
#[derive(Debug)]
pub struct AmazonEbsBuilder {
    config: Config,
}

impl AmazonEbsBuilder {
    /// Checks and keeps the source's configuration.
    pub fn new(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
    ) -> Result<Self, FieldError> {
        Ok(AmazonEbsBuilder {
            config: Config::new(config, cwd)?,
        })
    }
}

/// A name no other build picks, as Packer names its temporary resources
/// (`packer_<uuid>`).
pub(crate) fn unique_suffix() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An AWS failure as a build error.
pub(crate) fn failed(what: &str, e: AwsError) -> BuildError {
    BuildError::Failed(format!("{what}: {e}"))
}

/// The options rendered with the source AMI's values (Packer's build data).
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub tags: Vec<(String, String)>,
    pub run_tags: Vec<(String, String)>,
    pub run_volume_tags: Vec<(String, String)>,
    pub snapshot_tags: Vec<(String, String)>,
    pub ami_description: Option<String>,
}

/// What the steps share.
pub(crate) struct State<'a> {
    pub builder: &'a AmazonEbsBuilder,
    pub cx: &'a BuildContext,
    pub hook: &'a dyn ProvisionHook,
    pub session: Option<Session>,
    pub source_image: Option<Image>,
    pub rendered: Rendered,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    /// The key pair the instance gets (made here or named by the template).
    pub key_name: Option<String>,
    /// A temporary key pair made by this build.
    pub temporary_key: Option<String>,
    /// Where the temporary key's private half is kept while the build runs.
    pub key_dir: Option<tempfile::TempDir>,
    pub security_group_ids: Vec<String>,
    /// A temporary security group made by this build.
    pub temporary_group: Option<String>,
    pub instance: Option<Instance>,
    /// The AMI made in the build region, and its snapshots.
    pub ami: Option<(String, Vec<String>)>,
    /// Every AMI of the artifact by region, with its snapshots.
    pub amis: BTreeMap<String, (String, Vec<String>)>,
    /// An AMI made only to be copied (encrypt_boot, skip_save_build_region), removed at the end.
    pub intermediary: bool,
    /// Every step succeeded: what the build made is kept.
    pub finished: bool,
    pub ssh: SshLink,
    /// The SSH configuration once the instance's address is known.
    pub ssh_config: Option<kiln_communicators::SshConfig>,
}

impl State<'_> {
    pub fn ec2(&self) -> &Ec2 {
        &self
            .session
            .as_ref()
            .expect("the session is opened by the first step")
            .ec2
    }

    pub fn session(&self) -> &Session {
        self.session
            .as_ref()
            .expect("the session is opened by the first step")
    }

    pub fn say(&self, text: &str) {
        self.cx.ui.say(text);
    }

    /// What is left in AWS when the build stops without cleaning up.
    fn left(&self) -> Vec<String> {
        let region = self
            .session
            .as_ref()
            .map(|s| s.ec2.region().to_owned())
            .unwrap_or_default();
        let mut out = Vec::new();
        if let Some(i) = &self.instance {
            out.push(format!("instance {} in {region}", i.id));
        }
        if let Some(g) = &self.temporary_group {
            out.push(format!("security group {g} in {region}"));
        }
        if let Some(k) = &self.temporary_key {
            out.push(format!("key pair {k} in {region}"));
        }
        for (r, (ami, _)) in &self.amis {
            out.push(format!("AMI {ami} in {r}"));
        }
        out
    }
}

#[async_trait]
impl Reached for State<'_> {
    fn hook(&self) -> &dyn ProvisionHook {
        self.hook
    }

    fn ui(&self) -> &dyn kiln_core::Ui {
        &*self.cx.ui
    }

    async fn connect(&mut self) -> Result<(), BuildError> {
        let Some(ssh) = self.ssh_config.clone() else {
            return Ok(());
        };
        self.say(&format!("Using SSH communicator to connect: {}", ssh.host));
        let never = std::future::pending();
        self.ssh.connect(ssh, self.cx, never).await
    }

    async fn disconnect(&mut self) {
        self.ssh.disconnect().await;
    }

    fn machine(&self) -> (Option<Arc<dyn Communicator>>, ConnectionInfo) {
        let connection = match &self.ssh_config {
            Some(ssh) => ssh.connection_info(),
            None => crate::machine::unreached(),
        };
        (self.ssh.communicator(), connection)
    }
}

/// `pause_before_connecting`.
struct Pause;

#[async_trait]
impl<'a> Step<State<'a>> for Pause {
    fn name(&self) -> &'static str {
        "pause-before-connecting"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let pause = state.builder.config.pause_before_connecting;
        if !pause.is_zero() {
            state.say(&format!("Pausing {pause:?} before connecting..."));
            tokio::time::sleep(pause).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Builder for AmazonEbsBuilder {
    async fn run(
        &self,
        cx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Artifact, BuildError> {
        let steps: Vec<Box<dyn Step<State<'_>>>> = vec![
            Box::new(steps::Open),
            Box::new(steps::PreValidate),
            Box::new(steps::SourceAmi),
            Box::new(steps::NetworkInfo),
            Box::new(steps::KeyPair),
            Box::new(steps::SecurityGroup),
            Box::new(steps::RunInstance),
            Box::new(Pause),
            Box::new(Connect),
            Box::new(Provision),
            Box::new(steps::StopInstance),
            Box::new(steps::ModifyInstance),
            Box::new(steps::Deregister),
            Box::new(steps::CreateAmi),
            Box::new(steps::RegionCopy),
            Box::new(steps::Deprecate),
            Box::new(steps::ModifyAmi),
            Box::new(steps::Tags),
        ];
        let mut state = State {
            builder: self,
            cx,
            hook,
            session: None,
            source_image: None,
            rendered: Rendered::default(),
            subnet_id: None,
            vpc_id: None,
            availability_zone: None,
            key_name: None,
            temporary_key: None,
            key_dir: None,
            security_group_ids: Vec::new(),
            temporary_group: None,
            instance: None,
            ami: None,
            amis: BTreeMap::new(),
            intermediary: false,
            finished: false,
            ssh: SshLink::default(),
            ssh_config: None,
        };
        if let Err(e) = cx.run_steps(&steps, &mut state).await {
            if matches!(e, BuildError::Aborted(_)) {
                let left = state.left();
                if !left.is_empty() {
                    cx.ui.error(&format!(
                        "Left for inspection (-on-error=abort), delete them when done: {}",
                        left.join(", ")
                    ));
                }
            }
            return Err(e);
        }
        let ids: Vec<String> = state
            .amis
            .iter()
            .map(|(region, (ami, _))| format!("{region}:{ami}"))
            .collect();
        // Packer's text, on one line (the summary prints one line an artifact).
        let listed: Vec<String> = state
            .amis
            .iter()
            .map(|(region, (ami, _))| format!("{region}: {ami}"))
            .collect();
        let description = if listed.is_empty() {
            "No AMI was created (skip_create_ami)".to_owned()
        } else {
            format!("AMIs were created: {}", listed.join(", "))
        };
        let mut metadata = BTreeMap::new();
        for (region, (ami, snapshots)) in &state.amis {
            metadata.insert(format!("region.{region}"), ami.clone());
            if !snapshots.is_empty() {
                metadata.insert(format!("snapshots.{region}"), snapshots.join(","));
            }
        }
        if let Some(src) = &state.source_image {
            metadata.insert("SourceAMI".into(), src.id.clone());
            metadata.insert("SourceAMIName".into(), src.name.clone());
        }
        Ok(Artifact {
            builder_id: BUILDER_ID.into(),
            id: ids.join(","),
            files: vec![],
            metadata,
            image: None,
            description,
        })
    }
}
