//! Packer's Go-template interpolation (`{{user `x`}}`, `{{timestamp}}`, ...), the
//! subset legacy JSON templates use: a parser for Go's `text/template` syntax and an
//! evaluator with Packer's functions.

mod clock;
mod error;
mod eval;
mod lex;
mod parse;

pub use clock::Clock;
pub use eval::{eval_pipeline, go_float, render, EvalError, Scope, UserVars, Val};
pub use parse::{parse, Arg, Command, Control, ControlKind, Node, Pipeline, Template};

#[cfg(test)]
mod tests {
    //! Expected outputs are what `packer console` 1.6.6 prints for the same input.

    use std::collections::BTreeMap;

    use super::*;

    struct Vars(BTreeMap<&'static str, &'static str>);

    impl UserVars for Vars {
        fn user(&mut self, name: &str) -> Result<String, EvalError> {
            Ok(self.0.get(name).map(|v| v.to_string()).unwrap_or_default())
        }
    }

    const CLOCK: Clock = Clock {
        unix: 1_607_501_226,
        nanos: 0,
    };

    fn scope() -> Scope<'static> {
        Scope {
            env: None,
            build: Some(("web", "null")),
            template_dir: "/tmp/t",
            pwd: "/work",
            packer_version: Some("1.6.6"),
            clock: CLOCK,
        }
    }

    fn run_in(src: &str, scope: &Scope<'_>) -> Result<String, String> {
        let t = parse(src).map_err(|e| e.message)?;
        let mut vars = Vars(BTreeMap::from([("x", "Hello-World"), ("n", "5")]));
        render(&t, scope, &mut vars).map_err(|e| e.to_string())
    }

    fn run(src: &str) -> Result<String, String> {
        run_in(src, &scope())
    }

    #[test]
    fn user_variables_and_pipes() {
        assert_eq!(run("echo {{user `x`}}").unwrap(), "echo Hello-World");
        assert_eq!(run("{{ user `x` | lower }}").unwrap(), "hello-world");
        assert_eq!(run("{{upper \"a\" | lower}}").unwrap(), "a");
        // The amazon builders' function, as AMI names need it.
        assert_eq!(
            run("packer-{{isotime | clean_resource_name}}").unwrap(),
            "packer-2020-12-09T08-07-06Z"
        );
        assert_eq!(run("{{ user `missing` }}").unwrap(), "");
    }

    #[test]
    fn string_functions_take_packer_argument_order() {
        assert_eq!(run("{{split (user `x`) `-` 1}}").unwrap(), "World");
        assert_eq!(
            run("{{replace `l` `L` 2 (user `x`)}}").unwrap(),
            "HeLLo-World"
        );
        assert_eq!(
            run("{{replace `l` `L` -1 (user `x`)}}").unwrap(),
            "HeLLo-WorLd"
        );
        assert_eq!(
            run("{{replace_all `l` `L` (user `x`)}}").unwrap(),
            "HeLLo-WorLd"
        );
        assert_eq!(
            run("{{ `a-b-c` | split `x` `-` 9 }}").unwrap_err(),
            "{{ `a-b-c` | split `x` `-` 9 }}: wrong number of args for split: want 3 got 4"
        );
        assert_eq!(
            run("{{split \"a\" \"-\" 3}}").unwrap_err(),
            "{{split \"a\" \"-\" 3}}: error calling split: the substring 3 was unavailable using the separator value, -, only 1 values were found"
        );
    }

    #[test]
    fn build_and_path_functions() {
        assert_eq!(run("{{build_name}}/{{build_type}}").unwrap(), "web/null");
        assert_eq!(run("{{template_dir}} {{pwd}}").unwrap(), "/tmp/t /work");
        assert_eq!(run("{{packer_version}}").unwrap(), "1.6.6");
        let outside = Scope {
            build: None,
            packer_version: None,
            ..scope()
        };
        assert_eq!(
            run_in("{{build_name}}", &outside).unwrap_err(),
            "{{build_name}}: error calling build_name: build_name not available"
        );
        assert_eq!(
            run_in("{{packer_version}}", &outside).unwrap_err(),
            "{{packer_version}}: error calling packer_version: packer_version not available"
        );
    }

    #[test]
    fn env_only_where_allowed() {
        assert_eq!(
            run("{{env `HOME`}}").unwrap_err(),
            "{{env `HOME`}}: error calling env: env vars are not allowed here"
        );
        let env = [("HOME".to_owned(), "/root".to_owned())];
        let vars_scope = Scope {
            env: Some(&env),
            ..scope()
        };
        assert_eq!(
            run_in("{{env `HOME`}}:{{env `NOPE`}}", &vars_scope).unwrap(),
            "/root:"
        );
    }

    #[test]
    fn times() {
        assert_eq!(run("{{timestamp}}").unwrap(), "1607501226");
        assert_eq!(run("{{isotime}}").unwrap(), "2020-12-09T08:07:06Z");
        assert_eq!(run("{{isotime \"2006-01-02\"}}").unwrap(), "2020-12-09");
        assert_eq!(run("{{strftime \"%Y%m%d\"}}").unwrap(), "20201209");
        let uuid = run("{{uuid}}").unwrap();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert!(uuid.starts_with("5fd085aa-"), "{uuid}");
        assert_ne!(uuid, run("{{uuid}}").unwrap());
    }

    #[test]
    fn data_references_pass_through() {
        assert_eq!(
            run("chmod +x {{.Path}}; {{ .Vars }} {{.Path}}").unwrap(),
            "chmod +x {{.Path}}; {{ .Vars }} {{.Path}}"
        );
        assert_eq!(
            run("{{if .Sudo}}sudo {{user `x`}} {{end}}{{.Path}}").unwrap(),
            "{{if .Sudo}}sudo Hello-World {{end}}{{.Path}}"
        );
        assert_eq!(run("{{ build `ID` }}").unwrap(), "{{ build `ID` }}");
    }

    #[test]
    fn go_builtins() {
        assert_eq!(
            run("{{ \"a\" }}{{/* c */}}b {{- \" c\" }}").unwrap(),
            "ab c"
        );
        assert_eq!(run("{{printf \"%s-%d\" \"a\" 3}}").unwrap(), "a-3");
        assert_eq!(
            run("{{if eq (user `x`) \"Hello-World\"}}yes{{else}}no{{end}}").unwrap(),
            "yes"
        );
        assert_eq!(
            run("{{if not true}}a{{else if eq 1 1}}b{{end}}").unwrap(),
            "b"
        );
        assert_eq!(run("{{ print 1.5 true nil }}").unwrap(), "1.5 true <nil>");
        assert_eq!(
            run("{{ len \"abc\" }} {{ index \"abc\" 1 }} {{ 3 }}").unwrap(),
            "3 98 3"
        );
        assert_eq!(run("{{ 1e6 }} {{ 0.5 }}").unwrap(), "1e+06 0.5");
    }

    #[test]
    fn type_errors_read_like_go() {
        assert_eq!(
            run("{{ lower 1 }}").unwrap_err(),
            "{{ lower 1 }}: expected string; found 1"
        );
        assert_eq!(
            run("{{ replace \"a\" \"b\" \"1\" \"aaa\" }}").unwrap_err(),
            "{{ replace \"a\" \"b\" \"1\" \"aaa\" }}: expected integer; found \"1\""
        );
        assert_eq!(
            run("{{ user }}").unwrap_err(),
            "{{ user }}: wrong number of args for user: want 1 got 0"
        );
        assert_eq!(
            run("{{ len \"a\" | lower }}").unwrap_err(),
            "{{ len \"a\" | lower }}: wrong type for value; expected string; got int"
        );
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
    }
}
