//! The .npy reader on arbitrary bytes: an error or an array with exactly the elements its
//! shape declares, never more than the input could hold.
#![no_main]
use libfuzzer_sys::fuzz_target;
use segloss::io::npy::{Npy, NpyData};

fuzz_target!(|data: &[u8]| {
    if let Ok(npy) = Npy::parse(data) {
        let n = match &npy.data {
            NpyData::F32(v) | NpyData::F16(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::U8(v) => v.len(),
            NpyData::U16(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
        };
        assert_eq!(n, npy.shape.iter().product::<usize>());
        assert!(n <= data.len());
        // What it writes, it reads back.
        let again = Npy::parse(&npy.to_bytes()).expect("round trip");
        assert_eq!(again.shape, npy.shape);
    }
});
