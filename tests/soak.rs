//! Soak: 10 000 blocking calls keep resident memory flat and create no buffer after the
//! first. Alone in its own test binary, so no other test's allocations move the process's
//! resident set while it is measured.
mod common;
use common::*;
use segloss::*;

fn bits(v: &ValueAndGrad) -> (Vec<u64>, Vec<u32>) {
    (v.forward.values.iter().map(|x| x.to_bits()).collect(), v.grad.iter().map(|x| x.to_bits()).collect())
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn soak_ten_thousand_calls_keep_memory_flat() {
    let engine = gpu();
    let (x, t) = make_case(&mut Rng::new(3), 2, 19, 23, Mask::Hard, 2.0);
    let b = BinaryBatch::new(&x, &t, &[2, 19, 23]).unwrap();
    let terms = [Loss::Dice(Dice::default()).batch(), Loss::Focal(Focal::default()).per_image()];
    let want = bits(&engine.value_and_grad(&b, &terms).unwrap());
    let mut at_1000 = (0, 0);
    for call in 1..=10_000 {
        let got = engine.value_and_grad(&b, &terms).unwrap();
        if call % 1000 == 0 {
            assert_eq!(bits(&got), want, "call {call}");
        }
        if call == 1000 {
            at_1000 = (resident_kib(), engine.bytes_allocated());
        }
    }
    let (rss, allocated) = (resident_kib(), engine.bytes_allocated());
    println!(
        "resident {} KiB after 1000 calls, {rss} KiB after 10000; buffers created: {} bytes",
        at_1000.0, at_1000.1
    );
    assert_eq!(allocated, at_1000.1, "the pool stopped reusing buffers");
    let change = (rss as f64 - at_1000.0 as f64).abs() / at_1000.0 as f64;
    assert!(change <= 0.05, "resident memory went from {} KiB to {rss} KiB ({:.1}%)", at_1000.0, 100.0 * change);
}
