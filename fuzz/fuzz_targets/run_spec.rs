//! The run-spec parser and its validation (TOML a client submits over gRPC): any text
//! gives a spec or an error, never a panic; a spec that parses serialises and parses
//! again to the same spec.
#![no_main]

use jianzhen_coordinator::spec::RunSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = RunSpec::from_toml(text, "fuzz") else {
        return;
    };
    let again = spec.to_toml().expect("a valid spec serialises");
    let reparsed = RunSpec::from_toml(&again, "fuzz again").expect("and parses again");
    assert_eq!(spec, reparsed);
});
