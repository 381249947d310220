//! The PNG mask reader on arbitrary bytes, with a pixel budget: an error or an image of at
//! most the budget, holding exactly H·W values.
#![no_main]
use libfuzzer_sys::fuzz_target;
use segloss::io::mask::{decode_png_bytes, Mask};

const BUDGET: u64 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    match decode_png_bytes(data, BUDGET) {
        Ok(Mask::Labels { h, w, values }) => {
            assert_eq!(values.len(), h * w);
            assert!((h * w) as u64 <= BUDGET);
        }
        Ok(Mask::Scores { .. }) => panic!("a PNG is a label map"),
        Err(e) => assert!(!e.is_empty()),
    }
});
