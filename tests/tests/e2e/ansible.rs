//! Configuration management on the machine being built: `ansible-local` runs Debian's
//! ansible over the build's SSH communicator (a null build against a loopback sshd, so
//! the machine is this host), with real playbooks: roles, handlers, templates, group
//! variables, `become`, a failing task, and parallel builds.

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

fn run_build(dir: &Path, target: &Path) -> Output {
    Command::new(kiln_bin())
        .args([
            "build",
            "-var",
            &format!("target={}", target.display()),
            "t.pkr.hcl",
        ])
        .current_dir(dir)
        .env("KILN_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("running kiln")
}

#[test]
fn ansible_local_runs_a_playbook_with_roles_handlers_group_vars_and_become() {
    kiln_tests::tool("ansible-playbook");
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    playbook(dir.path());
    let template = ansible_build(&sshd, &["web"], "");
    write(
        dir.path(),
        "t.pkr.hcl",
        &format!("variable \"target\" {{\n  type = string\n}}\n\n{template}"),
    );
    let out = run_build(dir.path(), target.path());
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

#[test]
fn a_failing_task_fails_the_step_with_ansibles_message_and_exit_code() {
    kiln_tests::tool("ansible-playbook");
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    playbook(dir.path());
    let template = ansible_build(&sshd, &["web"], ", \"--extra-vars\", \"fail_now=true\"");
    write(
        dir.path(),
        "t.pkr.hcl",
        &format!("variable \"target\" {{\n  type = string\n}}\n\n{template}"),
    );
    let out = run_build(dir.path(), target.path());
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
    kiln_tests::tool("ansible-playbook");
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    playbook(dir.path());
    let template = ansible_build(&sshd, &["a", "b", "c", "d"], "");
    write(
        dir.path(),
        "t.pkr.hcl",
        &format!("variable \"target\" {{\n  type = string\n}}\n\n{template}"),
    );
    let out = run_build(dir.path(), target.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for name in ["a", "b", "c", "d"] {
        assert_eq!(
            std::fs::read_to_string(target.path().join(name).join("page")).unwrap(),
            format!("hello from group_vars in {name} (null)\n")
        );
    }
}
