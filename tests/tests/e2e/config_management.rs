//! Configuration management on the machine being built, over the build's SSH
//! communicator (a null build against a loopback sshd, so the machine is this host):
//! `ansible-local` runs Debian's ansible with real playbooks (roles, handlers, templates,
//! group variables, `become`, a failing task, parallel builds); `puppet-masterless` runs
//! Debian's puppet with a module, hiera data and facts.

use super::*;

/// A playbook tree: `site.yml` applies the role `web`, which templates a file from a
/// group variable and the build's name, copies another, and notifies a handler.
fn playbook(dir: &Path) {
    write(
        dir,
        "ansible/site.yml",
        "- hosts: all\n  become: true\n  gather_facts: false\n  roles:\n    - web\n",
    );
    write(
        dir,
        "ansible/group_vars/all.yml",
        "greeting: hello from group_vars\n",
    );
    write(
        dir,
        "ansible/roles/web/tasks/main.yml",
        "- name: make the target directory\n  ansible.builtin.file:\n    path: \"{{ target }}\"\n    state: directory\n\
         - name: render the page\n  ansible.builtin.template:\n    src: page.j2\n    dest: \"{{ target }}/page\"\n    mode: \"0640\"\n  notify: restarted\n\
         - name: copy a fixed file\n  ansible.builtin.copy:\n    content: \"fixed\\n\"\n    dest: \"{{ target }}/fixed\"\n\
         - name: fail when asked\n  ansible.builtin.fail:\n    msg: \"the play was told to fail\"\n  when: fail_now | default(false) | bool\n",
    );
    write(
        dir,
        "ansible/roles/web/handlers/main.yml",
        "- name: restarted\n  ansible.builtin.copy:\n    content: \"handler ran\\n\"\n    dest: \"{{ target }}/handler\"\n",
    );
    write(
        dir,
        "ansible/roles/web/templates/page.j2",
        "{{ greeting }} in {{ packer_build_name }} ({{ packer_builder_type }})\n",
    );
}

fn ansible_build(sshd: &Sshd, sources: &[&str], extra: &str) -> String {
    let mut t = String::new();
    t.push_str("variable \"secret\" {\n  type      = string\n  default   = \"hunter2-not-for-logs\"\n  sensitive = true\n}\n\n");
    for s in sources {
        t.push_str(&sshd.null_source(s, &sshd.key));
    }
    let names: Vec<String> = sources
        .iter()
        .map(|s| format!("\"source.null.{s}\""))
        .collect();
    t.push_str(&format!(
        r#"
build {{
  sources = [{}]
  provisioner "ansible-local" {{
    playbook_file   = "ansible/site.yml"
    role_paths      = ["ansible/roles/web"]
    group_vars      = "ansible/group_vars"
    extra_arguments = ["--extra-vars", "target=${{var.target}}/${{source.name}}", "--extra-vars", "secret=${{var.secret}}"{extra}]
    clean_staging_directory = true
  }}
}}
"#,
        names.join(", ")
    ));
    t
}

/// Builds the playbook tree with `ansible-local` on the null sources `sources` (each
/// writing below `<target>/<source name>`), with `extra` extra arguments; returns the
/// output and the target directory.
fn run_ansible_local(sources: &[&str], extra: &str) -> (Output, tempfile::TempDir) {
    let run = AnsibleLocal::new(sources, extra, |t| t);
    let out = run.build(&[]);
    (out, run.target)
}

/// The playbook tree and a template building it with `ansible-local` on the null
/// sources `sources` (`edit` may change the template), against an sshd of its own.
struct AnsibleLocal {
    _sshd: Sshd,
    dir: tempfile::TempDir,
    target: tempfile::TempDir,
}

impl AnsibleLocal {
    fn new(sources: &[&str], extra: &str, edit: impl Fn(String) -> String) -> Self {
        kiln_tests::tool("ansible-playbook");
        let sshd = Sshd::start();
        let dir = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        playbook(dir.path());
        let template = edit(ansible_build(&sshd, sources, extra));
        write(
            dir.path(),
            "t.pkr.hcl",
            &format!("variable \"target\" {{\n  type = string\n}}\n\n{template}"),
        );
        AnsibleLocal {
            _sshd: sshd,
            dir,
            target,
        }
    }

    /// `kiln build` of the template, with the variables `env`.
    fn build(&self, env: &[(&str, &str)]) -> Output {
        let var = format!("target={}", self.target.path().display());
        kiln_env(self.dir.path(), &["build", "-var", &var, "t.pkr.hcl"], env)
    }
}

#[test]
fn ansible_local_runs_a_playbook_with_roles_handlers_group_vars_and_become() {
    let (out, target) = run_ansible_local(&["web"], "");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let web = target.path().join("web");
    assert_eq!(
        std::fs::read_to_string(web.join("page")).unwrap(),
        "hello from group_vars in web (null)\n"
    );
    assert_eq!(
        std::fs::read_to_string(web.join("fixed")).unwrap(),
        "fixed\n"
    );
    assert_eq!(
        std::fs::read_to_string(web.join("handler")).unwrap(),
        "handler ran\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(web.join("page"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert!(stdout.contains("Executing Ansible:"), "{stdout}");
    assert!(
        stdout.contains("PLAY RECAP"),
        "ansible's own output is not shown:\n{stdout}"
    );
    assert!(
        !stdout.contains("hunter2-not-for-logs") && !stderr.contains("hunter2-not-for-logs"),
        "a sensitive extra argument was printed:\n{stdout}\n{stderr}"
    );
    // The staging directory (this build's own) was cleaned.
    let staging = stdout
        .lines()
        .find_map(|l| l.split("Creating directory: ").nth(1))
        .expect("the staging directory is named");
    assert!(
        staging.starts_with("/tmp/packer-provisioner-ansible-local/"),
        "{staging}"
    );
    assert!(
        !Path::new(staging).exists(),
        "clean_staging_directory left {staging}"
    );
}

/// Staging directory names come from the step's seeded generator, so runs of one
/// template with the same SOURCE_DATE_EPOCH (or started in the same second) draw the
/// same name: the later runs find it taken and have the machine's `mktemp` make one.
#[test]
fn ansible_local_never_stages_into_a_directory_that_already_exists() {
    let run = AnsibleLocal::new(&["web"], "", |t| {
        t.replace(
            "clean_staging_directory = true",
            "clean_staging_directory = false",
        )
    });
    let mut staged = Vec::new();
    for _ in 0..3 {
        let out = run.build(&[("SOURCE_DATE_EPOCH", "1700000000")]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let staging = stdout
            .lines()
            .find_map(|l| l.split("Creating directory: ").nth(1))
            .expect("the staging directory is named")
            .to_owned();
        assert!(Path::new(&staging).is_dir(), "{staging}");
        staged.push(staging);
    }
    let last = |p: &str| p.rsplit('/').next().unwrap().to_owned();
    // The first run takes the seeded, UUID-shaped name; the others find it taken.
    for s in &staged[1..] {
        assert!(!last(s).contains('-') && last(s).len() == 12, "{staged:?}");
    }
    assert!(
        staged[0] != staged[1] && staged[1] != staged[2],
        "{staged:?}"
    );
    for s in &staged {
        std::fs::remove_dir_all(s).unwrap();
    }
}

#[test]
fn a_failing_task_fails_the_step_with_ansibles_message_and_exit_code() {
    let (out, _target) = run_ansible_local(&["web"], ", \"--extra-vars\", \"fail_now=true\"");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("the play was told to fail"), "{all}");
    assert!(
        all.contains("Error executing Ansible: Non-zero exit status: 2"),
        "{all}"
    );
}

#[test]
fn four_parallel_builds_run_ansible_local_at_once() {
    let (out, target) = run_ansible_local(&["a", "b", "c", "d"], "");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for name in ["a", "b", "c", "d"] {
        assert_eq!(
            std::fs::read_to_string(target.path().join(name).join("page")).unwrap(),
            format!("hello from group_vars in {name} (null)\n")
        );
    }
}

/// A manifest that includes a module class, whose template reads a hiera value and the
/// facts Packer sets; `puppet apply` runs through sudo, as Packer's default command has
/// it. A second build of the same manifest changes nothing (exit code 0, not 2), and a
/// manifest that fails fails the step with puppet's exit status.
#[test]
fn puppet_masterless_applies_a_manifest_with_a_module_hiera_and_facts() {
    kiln_tests::tool("puppet");
    kiln_tests::tool("sudo");
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "puppet/manifests/site.pp", "include motd\n");
    write(
        d,
        "puppet/modules/motd/manifests/init.pp",
        "class motd {\n  $greeting = lookup('greeting')\n  file { \"${facts['target']}\":\n    ensure => directory,\n  }\n  \
         file { \"${facts['target']}/motd\":\n    ensure  => file,\n    mode    => '0644',\n    content => epp('motd/motd.epp', { 'greeting' => $greeting }),\n  }\n}\n",
    );
    write(
        d,
        "puppet/modules/motd/templates/motd.epp",
        "<%- | String $greeting | -%>\n<%= $greeting %> from <%= $facts['packer_build_name'] %> (<%= $facts['packer_builder_type'] %>)\n",
    );
    write(
        d,
        "puppet/hiera.yaml",
        "---\nversion: 5\nhierarchy:\n  - name: common\n    path: common.yaml\ndefaults:\n  datadir: /tmp/kiln-hiera-data\n  data_hash: yaml_data\n",
    );
    let data = tempfile::tempdir().unwrap();
    let hiera = std::fs::read_to_string(d.join("puppet/hiera.yaml"))
        .unwrap()
        .replace("/tmp/kiln-hiera-data", &data.path().display().to_string());
    write(d, "puppet/hiera.yaml", &hiera);
    write(data.path(), "common.yaml", "greeting: hello from hiera\n");
    let template = |manifest: &str, extra: &str| {
        format!(
            "{}\nbuild {{\n  sources = [\"source.null.web\"]\n  provisioner \"puppet-masterless\" {{\n{extra}    manifest_file     = \"{manifest}\"\n    \
             module_paths      = [\"puppet/modules\"]\n    hiera_config_path = \"puppet/hiera.yaml\"\n    \
             facter            = {{ target = \"{}\" }}\n    staging_directory = \"{}/staging\"\n    clean_staging_directory = true\n  }}\n}}\n",
            sshd.null_source("web", &sshd.key),
            target.path().join("out").display(),
            target.path().display(),
        )
    };
    let build = || kiln(d, &["build", "t.pkr.hcl"]);
    write(d, "t.pkr.hcl", &template("puppet/manifests/site.pp", ""));
    let out = build();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read_to_string(target.path().join("out/motd")).unwrap(),
        "hello from hiera from web (null)\n"
    );
    assert!(stdout.contains("Running Puppet: cd "), "{stdout}");
    assert!(
        stdout.contains("sudo -E puppet apply --detailed-exitcodes"),
        "{stdout}"
    );
    assert!(
        !target.path().join("staging").exists(),
        "the staging directory was left"
    );
    // Nothing to change the second time: still a success. This time with a command of
    // the template's own, in the Go template forms real templates write.
    let custom = "    execute_command   = \"cd {{.WorkingDir}} && {{.FacterVars}}{{if .Sudo}} sudo -E {{end}}puppet apply --verbose --modulepath='{{.ModulePath}}' {{if ne .HieraConfigPath \\\"\\\"}}--hiera_config='{{.HieraConfigPath}}' {{end}}--detailed-exitcodes {{.ManifestFile}}\"\n";
    write(
        d,
        "t.pkr.hcl",
        &template("puppet/manifests/site.pp", custom),
    );
    let out = build();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(" sudo -E puppet apply --verbose --modulepath="),
        "{stdout}"
    );
    assert!(stdout.contains("--hiera_config="), "{stdout}");
    // A manifest that fails: puppet's status fails the step.
    write(
        d,
        "puppet/manifests/broken.pp",
        "fail('this manifest refuses')\n",
    );
    write(d, "t.pkr.hcl", &template("puppet/manifests/broken.pp", ""));
    let out = build();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("this manifest refuses"), "{all}");
    assert!(
        all.contains("Puppet exited with a non-zero exit status: 1"),
        "{all}"
    );
}

/// A state tree with a top file, a state that renders a Jinja template from pillar data
/// and a grain, applied by PyPI's `salt-call --local` (installed by tests/run into
/// target/salt-venv) through sudo; a failing state fails the step with salt's status.
#[test]
fn salt_masterless_applies_a_state_tree_with_pillar_data() {
    kiln_tests::tool("sudo");
    let salt_bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/salt-venv/bin");
    assert!(
        salt_bin.join("salt-call").exists(),
        "salt-call is not installed: run tests/run, which installs salt from PyPI into target/salt-venv"
    );
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let target = remote.path().join("out");
    let d = dir.path();
    write(d, "salt/states/top.sls", "base:\n  '*':\n    - motd\n");
    write(
        d,
        "salt/states/motd/init.sls",
        &format!(
            "{0}:\n  file.directory: []\n{0}/motd:\n  file.managed:\n    - source: salt://motd/motd.jinja\n    - template: jinja\n    - mode: '0644'\n    - require:\n      - file: {0}\n",
            target.display()
        ),
    );
    write(
        d,
        "salt/states/motd/motd.jinja",
        "{{ pillar['greeting'] }} on {{ grains['kernel'] }}\n",
    );
    write(d, "salt/pillar/top.sls", "base:\n  '*':\n    - common\n");
    write(d, "salt/pillar/common.sls", "greeting: hello from pillar\n");
    write(
        d,
        "salt/states/broken.sls",
        "refuse:\n  cmd.run:\n    - name: 'false'\n",
    );
    let template = |custom: &str| {
        format!(
            "{source}\nbuild {{\n  sources = [\"source.null.web\"]\n  provisioner \"salt-masterless\" {{\n    skip_bootstrap      = true\n    \
             local_state_tree    = \"salt/states\"\n    local_pillar_roots  = \"salt/pillar\"\n    remote_state_tree   = \"{r}/srv-salt\"\n    \
             remote_pillar_roots = \"{r}/srv-pillar\"\n    temp_config_dir     = \"{r}/tmp-salt\"\n    salt_bin_dir        = \"{bin}\"\n{custom}  }}\n}}\n",
            source = sshd.null_source("web", &sshd.key),
            r = remote.path().display(),
            bin = salt_bin.display(),
        )
    };
    let build = || kiln(d, &["build", "t.pkr.hcl"]);
    write(d, "t.pkr.hcl", &template(""));
    let out = build();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read_to_string(target.join("motd")).unwrap(),
        "hello from pillar on Linux\n"
    );
    assert!(
        stdout.contains("Running: salt-call --local state.highstate --file-root="),
        "{stdout}"
    );
    // The state tree was moved where salt-call read it.
    assert!(remote.path().join("srv-salt/top.sls").exists());
    write(
        d,
        "t.pkr.hcl",
        &template("    custom_state        = \"broken\"\n"),
    );
    let out = build();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("Error executing salt-call: Bad exit status:"),
        "{all}"
    );
}

/// The `ansible` provisioner: Debian's ansible-playbook on this host, connected straight
/// to the machine's sshd with the build's own login (`use_proxy`
/// unset), with Packer's inventory (`host_alias`, `groups`) and extra variables, and with
/// `use_proxy = true` through Kiln's SSH adapter over the build's connection; a
/// secret extra argument is not printed. A build with no communicator is refused,
/// saying so.
#[test]
fn ansible_runs_on_the_host_against_the_machines_sshd() {
    kiln_tests::tool("ansible-playbook");
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "play.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: write what the play knows\n      ansible.builtin.copy:\n        \
         content: \"{{ inventory_hostname }} {{ packer_build_name }} {{ packer_builder_type }} {{ ansible_port }}\\n\"\n        dest: \"{{ target }}/seen\"\n",
    );
    let t = format!(
        "{}\nbuild {{\n  sources = [\"source.null.web\"]\n  provisioner \"ansible\" {{\n    playbook_file   = \"play.yml\"\n    \
         host_alias      = \"machine\"\n    groups          = [\"web\"]\n    \
         extra_arguments = [\"-e\", \"target={}\", \"-e\", \"db_password=hunter2-not-for-logs\"]\n  }}\n}}\n",
        sshd.null_source("web", &sshd.key),
        target.path().display()
    );
    write(d, "t.pkr.hcl", &t);
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read_to_string(target.path().join("seen")).unwrap(),
        format!("machine web null {}\n", sshd.port)
    );
    assert!(
        stdout.contains("Executing Ansible: ansible-playbook -e packer_build_name="),
        "{stdout}"
    );
    assert!(stdout.contains("db_password=*****"), "{stdout}");
    assert!(!stdout.contains("hunter2-not-for-logs") && !stderr.contains("hunter2-not-for-logs"));
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    // use_proxy = true: the same play through Kiln's SSH adapter, over the build's own
    // SSH connection (modules pipelined, files piped).
    std::fs::remove_file(target.path().join("seen")).unwrap();
    write(
        d,
        "t.pkr.hcl",
        &t.replace(
            "playbook_file   =",
            "use_proxy       = true\n    playbook_file   =",
        ),
    );
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Serving this machine over SSH on 127.0.0.1:"),
        "{stdout}"
    );
    let seen = std::fs::read_to_string(target.path().join("seen")).unwrap();
    assert!(seen.starts_with("machine web null "), "{seen}");
    assert!(
        !seen.ends_with(&format!(" {}\n", sshd.port)),
        "not through the adapter: {seen}"
    );
    // No communicator at all: refused, saying so.
    let t = "source \"null\" \"none\" {\n  communicator = \"none\"\n}\n\nbuild {\n  sources = [\"source.null.none\"]\n  \
             provisioner \"ansible\" {\n    playbook_file = \"play.yml\"\n  }\n}\n";
    write(d, "t.pkr.hcl", t);
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("this build has none"), "{stdout}\n{stderr}");
}

/// `ansible-playbook` runs confined: tasks it runs on this host (`delegate_to:
/// localhost`) see the playbook's directory (and write there), not the template's
/// directory around it nor the host's /tmp (what they write there stays in the view), an
/// empty /etc/shadow, and this host's programs; the play still reaches the machine and
/// writes there. A grant and an ansible.cfg beside the template widen the view. `kiln inspect` says the step's host
/// commands are confined, and the build says so when the step starts.
#[test]
fn ansible_playbook_runs_confined_to_what_the_step_names() {
    confined_play(false);
}

/// The same when kiln does not run as root (here as `nobody`): the view is built in a
/// user namespace of its own.
#[test]
fn ansible_playbook_runs_confined_in_a_user_namespace_when_kiln_is_not_root() {
    kiln_tests::tool("setpriv");
    confined_play(true);
}

/// A confined command runs under the small helper beside kiln (`kiln-confine` beside
/// `kiln`; here `kiln-under-test-confine`), and under kiln itself where no helper lies
/// beside it (a kiln binary copied alone): either way as PID 2 of a PID namespace of its
/// own, whose PID 1, the helper's init, /proc in the view names.
#[test]
fn a_confined_command_runs_under_the_helper_beside_kiln_or_under_kiln_alone() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The ansible provisioner's `command`, in place of ansible-playbook: it writes what
    // runs as PID 1 and its own PID beside the playbook (the view shows that directory).
    write_executable(
        d,
        "look.sh",
        "#!/bin/sh\nfor last; do :; done\n{ tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$; } \\\n  > \"$(dirname \"$last\")/seen\"\n",
    );
    write(d, "play/site.yml", "- hosts: all\n  tasks: []\n");
    let t = format!(
        "{}\nbuild {{\n  sources = [\"source.null.web\"]\n  provisioner \"ansible\" {{\n    \
         command       = \"./look.sh\"\n    playbook_file = \"play/site.yml\"\n  }}\n}}\n",
        sshd.null_source("web", &sshd.key),
    );
    write(d, "t.pkr.hcl", &t);
    let seen = |out: Output| {
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("Each runs confined"), "{stdout}");
        let seen = std::fs::read_to_string(d.join("play/seen")).unwrap();
        std::fs::remove_file(d.join("play/seen")).unwrap();
        let (init, pid) = seen.split_once('\n').unwrap();
        assert_eq!(pid.trim(), "2", "{seen}");
        init.to_owned()
    };
    let helper = format!("{}-confine ", kiln_bin().display());
    let init = seen(kiln(d, &["build", "t.pkr.hcl"]));
    assert!(init.starts_with(&helper), "{init}");
    // kiln alone, in a directory of its own.
    let alone = tempfile::tempdir().unwrap();
    let copy = alone.path().join("kiln");
    std::fs::hard_link(kiln_bin(), &copy)
        .or_else(|_| std::fs::copy(kiln_bin(), &copy).map(|_| ()))
        .unwrap();
    let out = Command::new(&copy)
        .args(["build", "t.pkr.hcl"])
        .current_dir(d)
        .env("KILN_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let init = seen(out);
    assert!(
        init.starts_with("/proc/self/exe __kiln-confine {"),
        "{init}"
    );
}

fn confined_play(as_nobody: bool) {
    kiln_tests::tool("ansible-playbook");
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "beside-the-template", "not for ansible\n");
    write(outside.path(), "secret", "not for ansible either\n");
    write(d, "play/vars.yml", "greeting: hello\n");
    let play = r#"- hosts: all
  gather_facts: false
  vars_files: [vars.yml]
  tasks:
    - name: look around this host
      delegate_to: localhost
      ansible.builtin.stat:
        path: "{{ item }}"
      loop:
        - "BESIDE"
        - "SECRET"
        - "{{ playbook_dir }}/vars.yml"
        - /usr/bin/ssh
        - /etc/shadow
      register: looked
    - name: write into the playbook's directory
      delegate_to: localhost
      ansible.builtin.copy:
        content: "x"
        dest: "{{ playbook_dir }}/written"
    - name: write beside the template
      delegate_to: localhost
      ansible.builtin.copy:
        content: "x"
        dest: "BESIDE-written"
      register: wrote
      ignore_errors: true
    - name: report on the machine
      ansible.builtin.copy:
        content: "{{ greeting }} {{ looked.results | map(attribute='stat.exists') | list }} {{ looked.results[4].stat.size }} {{ wrote is failed }}\n"
        dest: "TARGET/seen"
"#
    .replace("BESIDE", &d.join("beside-the-template").display().to_string())
    .replace("SECRET", &outside.path().join("secret").display().to_string())
    .replace("TARGET", &target.path().display().to_string());
    write(d, "play/site.yml", &play);
    // As nobody, kiln reads its own copy of the login key, and owns what it may see.
    let key = match as_nobody {
        true => {
            let key = d.join("login-key");
            std::fs::copy(&sshd.key, &key).unwrap();
            key
        }
        false => sshd.key.clone(),
    };
    let t = format!(
        "{}\nbuild {{\n  sources = [\"source.null.web\"]\n  provisioner \"ansible\" {{\n    \
         playbook_file = \"play/site.yml\"\n  }}\n}}\n",
        sshd.null_source("web", &key),
    );
    write(d, "t.pkr.hcl", &t);
    let run = |args: &[&str]| match as_nobody {
        false => kiln(d, args),
        true => {
            let cache = d.join("cache");
            std::fs::create_dir_all(d.join("home")).unwrap();
            std::fs::create_dir_all(&cache).unwrap();
            for owned in [d, outside.path()] {
                let status = Command::new("chown")
                    .args(["-R", "65534:65534"])
                    .arg(owned)
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(kiln_bin())
                .args(args)
                .current_dir(d)
                .env("KILN_CACHE_DIR", &cache)
                .env("HOME", d.join("home"))
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .output()
                .expect("running kiln as nobody")
        }
    };
    let out = run(&["inspect", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("exec_host = true (confined: its host commands"),
        "{stdout}"
    );
    let out = run(&["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Each runs confined"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(target.path().join("seen")).unwrap(),
        "hello [False, False, True, True, True] 0 False\n"
    );
    // What it writes in the playbook's directory lands there; elsewhere, in the view's
    // own scratch space at most, never on the host.
    assert_eq!(
        std::fs::read_to_string(d.join("play/written")).unwrap(),
        "x"
    );
    assert!(!d.join("beside-the-template-written").exists());
    if as_nobody {
        return;
    }
    // The template widens the view in writing (a grant), and an ansible.cfg beside the
    // template shows its directory, against which Ansible resolves the file's paths.
    write(
        d,
        "ansible.cfg",
        "[defaults]\nretry_files_enabled = False\n",
    );
    write(
        d,
        "t.pkr.hcl",
        &t.replace(
            "playbook_file = ",
            &format!(
                "grant {{\n      read = [\"{}\"]\n    }}\n    playbook_file = ",
                outside.path().display()
            ),
        ),
    );
    let out = run(&["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read_to_string(target.path().join("seen")).unwrap(),
        "hello [True, True, True, True, True] 0 True\n"
    );
}

/// Builds, with Kiln's own container builder, the Debian image the in-container tests
/// run in: debootstrap's bookworm, then (network = "host", for apt) Debian's python3,
/// ansible-core, puppet and sudo, and PyPI's salt in /opt/salt, installed offline from
/// the wheels tests/run builds into target/salt-wheels (the image has no compiler for
/// salt's C extensions). Writes `dir/cm-base.tar`.
fn debian_cm_image(dir: &Path) {
    kiln_tests::tool("/usr/sbin/debootstrap");
    let wheels = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/salt-wheels");
    assert!(
        wheels.join(".complete").exists(),
        "salt's wheels are not built: run tests/run, which builds them into target/salt-wheels"
    );
    write(
        dir,
        "base.pkr.hcl",
        &format!(
            r#"source "container" "debian" {{
  bootstrap {{
    suite   = "bookworm"
    variant = "minbase"
  }}
  network      = "host"
  commit       = true
  output_image = "cm-base.tar"
}}

build {{
  sources = ["source.container.debian"]
  provisioner "file" {{
    source      = "{wheels}/"
    destination = "/tmp/wheels"
  }}
  provisioner "shell" {{
    inline = [
      "apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv ansible-core puppet sudo >/dev/null",
      "python3 -m venv /opt/salt && /opt/salt/bin/pip install -q --no-index --find-links /tmp/wheels salt",
      "rm -rf /tmp/wheels /var/lib/apt/lists/*",
      "apt-get clean",
    ]
  }}
}}
"#,
            wheels = wheels.display()
        ),
    );
    let out = kiln(dir, &["build", "base.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

/// The four provisioners inside a Debian container image built by Kiln (no sshd in
/// it): `ansible` runs Debian's ansible-playbook on this host through Kiln's SSH adapter
/// onto the container's communicator (roles, a handler, a template, group_vars,
/// `become`); `ansible-local`, `puppet-masterless` and `salt-masterless` run the
/// image's own ansible, puppet and salt. Then four builds run `ansible` at once through
/// four adapters, a failing task fails the step with ansible's message and status, and
/// Ctrl-C in the middle of a playbook leaves no ansible, ssh or container process.
#[test]
fn configuration_management_runs_inside_a_debian_container_image_built_by_kiln() {
    kiln_tests::tool("ansible-playbook");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    debian_cm_image(d);
    playbook(d);
    write(
        d,
        "puppet/site.pp",
        "file { $facts['target']:\n  ensure => directory,\n}\nfile { \"${facts['target']}/motd\":\n  ensure  => file,\n  \
         content => \"hello from puppet in ${facts['packer_build_name']}\\n\",\n}\n",
    );
    write(d, "salt/states/top.sls", "base:\n  '*':\n    - motd\n");
    write(
        d,
        "salt/states/motd.sls",
        "/srv/by-salt/motd:\n  file.managed:\n    - contents: \"{{ pillar['greeting'] }} on {{ grains['kernel'] }}\"\n    - makedirs: true\n",
    );
    write(d, "salt/pillar/top.sls", "base:\n  '*':\n    - common\n");
    write(d, "salt/pillar/common.sls", "greeting: hello from pillar\n");
    write(
        d,
        "cm.pkr.hcl",
        r#"source "docker" "cm" {
  image  = "oci-archive:cm-base.tar"
  commit = true
}

build {
  sources = ["source.docker.cm"]
  provisioner "ansible" {
    playbook_file   = "ansible/site.yml"
    extra_arguments = ["--extra-vars", "target=/srv/by-ansible"]
  }
  provisioner "ansible-local" {
    playbook_file   = "ansible/site.yml"
    role_paths      = ["ansible/roles/web"]
    group_vars      = "ansible/group_vars"
    extra_arguments = ["--extra-vars", "target=/srv/by-ansible-local"]
  }
  provisioner "puppet-masterless" {
    manifest_file = "puppet/site.pp"
    facter        = { target = "/srv/by-puppet" }
  }
  provisioner "salt-masterless" {
    skip_bootstrap     = true
    salt_bin_dir       = "/opt/salt/bin"
    local_state_tree   = "salt/states"
    local_pillar_roots = "salt/pillar"
  }
  provisioner "shell" {
    inline = ["for f in /srv/by-ansible/page /srv/by-ansible/handler /srv/by-ansible-local/page /srv/by-puppet/motd /srv/by-salt/motd; do echo \"$f: $(cat $f)\"; done"]
  }
}
"#,
    );
    let out = kiln(d, &["build", "cm.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Serving this machine over SSH on 127.0.0.1:"),
        "{stdout}"
    );
    for line in [
        "/srv/by-ansible/page: hello from group_vars in cm (docker)",
        "/srv/by-ansible/handler: handler ran",
        "/srv/by-ansible-local/page: hello from group_vars in cm (docker)",
        "/srv/by-puppet/motd: hello from puppet in cm",
        "/srv/by-salt/motd: hello from pillar on Linux",
    ] {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }

    // Four builds, four adapters, at once; then a task that fails.
    let parallel = |extra: &str| {
        format!(
            "{}build {{\n  sources = [{}]\n  provisioner \"ansible\" {{\n    playbook_file   = \"ansible/site.yml\"\n    \
             extra_arguments = [\"--extra-vars\", \"target=/srv/${{source.name}}\"{extra}]\n  }}\n  \
             provisioner \"shell\" {{\n    inline = [\"echo \\\"$(cat /srv/${{source.name}}/page)\\\"\"]\n  }}\n}}\n",
            ["a", "b", "c", "d"]
                .map(|n| format!("source \"docker\" \"{n}\" {{\n  image   = \"oci-archive:cm-base.tar\"\n  discard = true\n}}\n"))
                .concat(),
            ["a", "b", "c", "d"].map(|n| format!("\"source.docker.{n}\"")).join(", "),
        )
    };
    write(d, "four.pkr.hcl", &parallel(""));
    let out = kiln(d, &["build", "four.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for n in ["a", "b", "c", "d"] {
        assert!(
            stdout.contains(&format!(
                "docker.{n}: hello from group_vars in {n} (docker)"
            )),
            "{stdout}"
        );
    }
    write(
        d,
        "four.pkr.hcl",
        &parallel(", \"--extra-vars\", \"fail_now=true\""),
    );
    let out = kiln(d, &["build", "-only", "docker.a", "four.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("the play was told to fail"), "{all}");
    // Packer's text for the host-side provisioner: Go's "exit status 2" after its own.
    assert!(all.contains("Non-zero exit status: exit status 2"), "{all}");

    // Ctrl-C while a task runs in the container.
    let marker = format!("7{}", std::process::id());
    write(
        d,
        "slow.yml",
        &format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - name: sleep in the container\n      ansible.builtin.command: sleep {marker}\n"),
    );
    write(
        d,
        "slow.pkr.hcl",
        "source \"docker\" \"slow\" {\n  image   = \"oci-archive:cm-base.tar\"\n  discard = true\n}\n\
         build {\n  sources = [\"source.docker.slow\"]\n  provisioner \"ansible\" {\n    playbook_file = \"slow.yml\"\n  }\n}\n",
    );
    interrupt_once(
        kiln_command(d, &["build", "slow.pkr.hcl"]),
        "TASK [sleep in the container]",
        || !processes_with(&marker).is_empty(),
        "the task's sleep",
    );
    let slow = d.join("slow.yml").display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<u32> = [
            processes_with(&marker),
            processes_with(&slow),
            processes_with("kiln-ssh-adapter-"),
        ]
        .concat();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes outlived the interrupted build: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
