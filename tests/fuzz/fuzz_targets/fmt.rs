//! Any text through `kiln fmt`: no panic, and formatting is stable (formatting the
//! output again changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(once) = kiln_template::fmt::format_hcl(text, "fuzz.pkr.hcl") {
            let twice = kiln_template::fmt::format_hcl(&once, "fuzz.pkr.hcl")
                .expect("formatted output must parse");
            assert_eq!(once, twice, "formatting is not stable");
        }
    }
});
