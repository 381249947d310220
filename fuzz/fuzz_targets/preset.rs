//! The preset (spec term and KEY=VALUE) parser: the first line of the input is the loss name,
//! the rest its keyword arguments as JSON. A preset or an error, and a preset's parts for any
//! channel count are parts or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use segloss::preset::Preset;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (name, params) = text.split_once('\n').unwrap_or((text, "null"));
    let Ok(params) = serde_json::from_str::<serde_json::Value>(params) else { return };
    if let Ok(p) = Preset::parse(name, &params) {
        for c in 1..5 {
            let _ = p.parts(c);
        }
    }
});
