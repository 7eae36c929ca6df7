//! The declarative suite-spec parser (TOML from a user's file): any text gives a spec or
//! an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jianzhen_suites::spec::load_spec_str(text, "fuzz");
    }
});
