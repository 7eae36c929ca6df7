//! The parser of an endpoint's chat-completion body (untrusted bytes off the network):
//! any body gives a result or an error message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        let _ = jianzhen_worker::client::parse_chat_body(body);
        let _ = jianzhen_worker::client::scrub_secrets(body);
    }
});
