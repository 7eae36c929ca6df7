//! The answer extractor (a model's reply, untrusted): any reply gives an extraction,
//! never a panic, and a letter it extracts is one of the options.
#![no_main]

use jianzhen_suites::extract::{Extraction, extract_choice, extract_choice_with_options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = std::str::from_utf8(data) else {
        return;
    };
    for count in [2usize, 4, 5] {
        if let Extraction::Choice(letter) = extract_choice(reply, count) {
            let index = (letter as u32).wrapping_sub('A' as u32) as usize;
            assert!(index < count, "extracted {letter} from {count} options");
        }
    }
    let options = ["北京".to_string(), "上海".to_string(), "DNS".to_string(), "24.5 L".to_string()];
    let _ = extract_choice_with_options(reply, &options);
});
