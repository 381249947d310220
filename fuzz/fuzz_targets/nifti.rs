//! The NIfTI-1 reader on arbitrary bytes (plain or gzip): an error or labels with exactly the
//! voxels the header declares, never more than the budget.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((shape, values)) = segloss::io::nifti::parse(data, 1 << 20) {
        assert_eq!(values.len(), shape.iter().product::<usize>());
        assert!(values.len() <= 1 << 20);
    }
});
