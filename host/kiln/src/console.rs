//! `kiln console` and `kiln hcl2_upgrade`: the template language without a build.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ArgMatches;

use kiln_template::LoadOptions;

use crate::load::{environment, ordered_var_args, print_diagnostics, TemplateArgs};
use crate::ui;

/// `kiln console`: one expression per line of stdin, its value on stdout.
pub fn console(
    matches: &ArgMatches,
    template: Option<PathBuf>,
    var: Vec<String>,
    var_file: Vec<PathBuf>,
) -> ExitCode {
    use std::io::{BufRead, IsTerminal, Write};
    let args = TemplateArgs {
        template: template.clone().unwrap_or_default(),
        var,
        var_file,
        only: vec![],
        except: vec![],
        refuse_exec_host: false,
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let opts = LoadOptions {
        var_args: ordered_var_args(matches, &args),
        env: match environment() {
            Ok(env) => env,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::from(1);
            }
        },
        cwd,
        defer_remote_data: false,
    };
    let loaded = match template {
        Some(t) => kiln_template::load(&t, &opts),
        None => kiln_template::load_source("console.pkr.hcl", "", &opts),
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(1);
        }
    };
    let interactive = std::io::stdin().is_terminal();
    let prompt = || {
        if interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
    };
    prompt();
    let mut unreadable = false;
    let mut stdin = std::io::stdin().lock();
    let mut raw = Vec::new();
    for number in 1.. {
        raw.clear();
        match stdin.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("Error: reading line {number} of the input: {e}");
                unreadable = true;
                break;
            }
        }
        let Ok(line) = std::str::from_utf8(&raw) else {
            eprintln!("Error: line {number} of the input is not UTF-8 text; it is skipped");
            unreadable = true;
            prompt();
            continue;
        };
        let line = line.trim();
        if line == "exit" {
            break;
        }
        if !line.is_empty() {
            match loaded.evaluate(line) {
                Ok(serde_json::Value::String(s)) => println!("{s}"),
                Ok(other) => println!("{}", kiln_template::inspect::hcl_value(&other, 0)),
                Err(d) => eprintln!("{}", ui::mask_known(&d.to_string())),
            }
        }
        prompt();
    }
    if unreadable {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `kiln hcl2_upgrade`: writes the HCL2 translation of a JSON template.
pub fn hcl2_upgrade(template: &Path, output_file: Option<PathBuf>) -> ExitCode {
    let out = output_file.unwrap_or_else(|| {
        let mut name = template.as_os_str().to_owned();
        name.push(".pkr.hcl");
        PathBuf::from(name)
    });
    match kiln_template::hcl2_upgrade(template) {
        Ok(text) => match std::fs::write(&out, text) {
            Ok(()) => {
                println!("Successfully created {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("Error: writing {}: {e}", out.display());
                ExitCode::from(1)
            }
        },
        Err(diags) => {
            print_diagnostics(&diags);
            ExitCode::from(1)
        }
    }
}
