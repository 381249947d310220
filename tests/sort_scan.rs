//! The GPU radix sort and prefix scan equal their CPU references exactly: random keys with
//! many duplicates, ±0, the largest and smallest floats, segmented sorts, at sizes 1, 2,
//! 255, 256, 257, 65537 and ≥ 4M — under both sort strategies (`Blocks`, the GPU layout,
//! and `Lanes`, the CPU-adapter layout), whichever the adapter would choose.
mod common;
use common::*;
use segloss::reference::sort::{float_key, prefix_scan, sort_pairs};

const SIZES: [usize; 7] = [1, 2, 255, 256, 257, 65537, 4_194_319];

fn keys_with_duplicates(rng: &mut Rng, n: usize) -> Vec<u32> {
    let specials = [
        0.0f32,
        -0.0,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.0,
        -1.0,
    ];
    (0..n)
        .map(|i| match i % 5 {
            0 => float_key(specials[rng.next_u64() as usize % specials.len()]),
            1 => (rng.next_u64() % 7) as u32, // heavy duplicates
            _ => float_key(rng.normal() as f32 * 1e3),
        })
        .collect()
}

#[test]
fn radix_sort_equals_stable_cpu_sort() {
    for (strategy, gpu) in sort_strategy_engines() {
        let mut rng = Rng::new(0x5027);
        for n in SIZES {
            let keys = keys_with_duplicates(&mut rng, n);
            let values: Vec<u32> = (0..n as u32).collect();
            let (gk, gv) = gpu.sort_pairs(&keys, &values, usize::MAX).unwrap();
            let (ck, cv) = sort_pairs(&keys, &values, usize::MAX);
            assert!(gk == ck, "{strategy:?} n={n}: keys differ");
            assert!(gv == cv, "{strategy:?} n={n}: values (stability) differ");
            // The float mapping orders floats: −inf < MIN < −1 < −0 < +0 < 1e-45 < … < +inf.
            assert!(ck.windows(2).all(|w| w[0] <= w[1]));
        }
    }
    assert!(float_key(-0.0) < float_key(0.0) && float_key(f32::MIN) < float_key(-1.0));
    assert!(float_key(f32::NEG_INFINITY) < float_key(f32::MIN) && float_key(f32::MAX) < float_key(f32::INFINITY));
}

#[test]
fn segmented_radix_sort_equals_cpu() {
    for (strategy, gpu) in sort_strategy_engines() {
        let mut rng = Rng::new(17);
        // 16, 66, 14 287 (two 8-bit segment digits) and 64 segments.
        for (n, seg) in [(257, 16), (65537, 1000), (100_003, 7), (1 << 20, 1 << 14)] {
            let keys = keys_with_duplicates(&mut rng, n);
            // Values carry the element index; the segment is value / seg.
            let values: Vec<u32> = (0..n as u32).collect();
            let (gk, gv) = gpu.sort_pairs(&keys, &values, seg).unwrap();
            let (ck, cv) = sort_pairs(&keys, &values, seg);
            assert!(gk == ck && gv == cv, "{strategy:?} n={n} seg={seg}");
            assert!(gv.chunks(seg).enumerate().all(|(s, c)| c.iter().all(|&v| v as usize / seg == s)));
        }
    }
}

#[test]
fn prefix_scan_equals_cpu_exactly() {
    for (strategy, gpu) in sort_strategy_engines() {
        let mut rng = Rng::new(99);
        for n in SIZES.into_iter().chain([1024, 1025, 2048, 2049, 1024 * 1024 + 1]) {
            let data: Vec<u32> =
                (0..n).map(|i| if i % 3 == 0 { rng.next_u64() as u32 } else { (rng.next_u64() % 4) as u32 }).collect();
            for inclusive in [false, true] {
                let got = gpu.prefix_scan(&data, inclusive).unwrap();
                assert!(got == prefix_scan(&data, inclusive), "{strategy:?} n={n} inclusive={inclusive}");
            }
        }
    }
}

#[test]
fn reserved_value_is_rejected() {
    let e = gpu().sort_pairs(&[1, 2], &[0, u32::MAX], usize::MAX).unwrap_err();
    assert!(e.to_string().contains("0xffffffff"), "{e}");
}
