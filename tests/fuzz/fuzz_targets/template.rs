//! Any text as a template: loading it (parsing, variables, locals, functions, builds)
//! must return a plan or diagnostics, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let opts = kiln_template::LoadOptions::default();
        let _ = kiln_template::load_source("fuzz.pkr.hcl", text, &opts);
    }
});
