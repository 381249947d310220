//! Lovasz with tied errors: the README promises that ties are broken by pixel index, as a
//! stable sort does. The value of a Lovasz extension does not depend on the order of tied
//! errors, but each pixel's gradient does, so these tests compare gradients, pixel by pixel:
//! GPU against the float64 reference (1e-6 of the largest entry) and both against a plain
//! implementation written here (stable sort by decreasing error, then Berman's
//! `lovasz_grad`), on inputs whose tie groups mix both labels with distinct errors around them.
mod common;
use common::*;
use segloss::*;

/// One hinge problem solved independently of the crate: the loss and dloss/dlogit per pixel
/// (indices into `x`). Ties are broken by ascending index (`sort_by` is stable and the
/// items are built in index order).
fn hinge_by_hand(x: &[f32], t: &[f32], idx: &[usize]) -> (f64, Vec<(usize, f64)>) {
    let mut items: Vec<(f64, bool, usize)> = idx
        .iter()
        .map(|&i| {
            let y = t[i] >= 0.5;
            (1.0 - x[i] as f64 * if y { 1.0 } else { -1.0 }, y, i)
        })
        .collect();
    items.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    let gts = items.iter().filter(|i| i.1).count() as f64;
    let (mut ones, mut zeros, mut prev) = (0.0, 0.0, 0.0);
    let mut loss = 0.0;
    let mut d = Vec::new();
    for &(e, y, i) in &items {
        if y {
            ones += 1.0;
        } else {
            zeros += 1.0;
        }
        let jac = 1.0 - (gts - ones) / (gts + zeros);
        let g = jac - prev;
        prev = jac;
        loss += e.max(0.0) * g;
        // e = 1 − x·(2y − 1): de/dx = −(2y − 1).
        d.push((i, if e > 0.0 { g * if y { -1.0 } else { 1.0 } } else { 0.0 }));
    }
    (loss, d)
}

/// Logits with many exact ties across labels: half the pixels take a value from a small
/// dyadic set (x = 0.5 with y = 1 and x = −0.5 with y = 0 both give error 0.5, and so on),
/// the rest distinct values (m + 0.5)/1024 that never coincide with the set. Every error
/// 1 ∓ x is exact in f32, so f32 and f64 see the same ties.
fn tied_case(rng: &mut Rng, len: usize) -> (Vec<f32>, Vec<f32>) {
    const SET: [f32; 7] = [-1.5, -0.5, -0.25, 0.0, 0.25, 0.5, 1.5];
    let mut mags: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        mags.swap(i, rng.next_u64() as usize % (i + 1));
    }
    let x = (0..len)
        .map(|i| {
            if rng.uniform() < 0.5 {
                SET[rng.next_u64() as usize % SET.len()]
            } else {
                (mags[i] as f32 + 0.5) / 1024.0 * if rng.uniform() < 0.5 { -1.0 } else { 1.0 }
            }
        })
        .collect();
    let t = (0..len).map(|_| (rng.uniform() < 0.4) as u8 as f32).collect();
    (x, t)
}

/// GPU against float64, pixel by pixel, relative to the largest entry. Each entry is computed
/// in closed form (1/U or I/(U(U − 1)), lovasz_common.wgsl), so f32 costs ~1e-7 of it; a tie
/// broken the other way moves a pixel's entry by the gap between two neighbouring sorted
/// positions: O(1) of the entry across labels, ~1e-3 of it within a label. (The first
/// sorted entry used to be 1 − I/U, which lost 5e-6 of the largest entry at G ≈ 400.)
const GPU_REL: f64 = 1e-6;

/// max |g − r| ≤ rel · max |r|, pixel by pixel.
fn assert_pixelwise(what: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{what}: zero gradient");
    for (i, (g, r)) in got.iter().zip(want).enumerate() {
        assert!((g - r).abs() <= rel * scale, "{what}: pixel {i}: {g} vs {r} (max |grad| {scale:e})");
    }
}

fn check_ties_hinge(gpu: &Engine, dims: &[usize], seed: u64) {
    let mut rng = Rng::new(seed);
    let len: usize = dims.iter().product();
    let (x, t) = tied_case(&mut rng, len);
    // Sanity of the input: tie groups with both labels exist.
    let both =
        [(0.5f32, 1.0f32), (-0.5, 0.0)].iter().all(|&(xv, tv)| x.iter().zip(&t).any(|(&a, &b)| a == xv && b == tv));
    assert!(both, "the case must tie errors across labels");
    let batch = if dims.len() == 3 {
        BinaryBatch::new(&x, &t, dims).unwrap()
    } else {
        BinaryBatch::multilabel(&x, &t, dims).unwrap()
    };
    let n = dims[0];
    let per = len / n;
    for term in [Loss::LovaszHinge(LovaszHinge).per_image(), Loss::LovaszHinge(LovaszHinge).batch()] {
        let what = format!("{dims:?} {}", term.label());
        // By hand: per image (mean over images) or one pooled problem.
        let segments: Vec<Vec<usize>> = if term.aggregation == Aggregation::PerImage {
            (0..n).map(|s| (s * per..(s + 1) * per).collect()).collect()
        } else {
            vec![(0..len).collect()]
        };
        let k = segments.len() as f64;
        let mut value = 0.0;
        let mut grad = vec![0.0f64; len];
        for seg in &segments {
            let (l, d) = hinge_by_hand(&x, &t, seg);
            value += l / k;
            for (i, g) in d {
                grad[i] = g / k;
            }
        }
        let reference = Engine::cpu().value_and_grad(&batch, std::slice::from_ref(&term)).unwrap();
        let on_gpu = gpu.value_and_grad(&batch, std::slice::from_ref(&term)).unwrap();
        let r64: Vec<f64> = reference.grad.iter().map(|&v| v as f64).collect();
        let g64: Vec<f64> = on_gpu.grad.iter().map(|&v| v as f64).collect();
        assert!(close(reference.forward.values[0], value, 1e-12, 1e-12), "{what}: reference value");
        assert!(close(on_gpu.forward.values[0], value, 1e-6, 1e-9), "{what}: GPU value");
        // The reference's gradient is rounded to f32 on the way out.
        assert_pixelwise(&format!("{what}: reference vs by hand"), &r64, &grad, 1e-6);
        assert_pixelwise(&format!("{what}: GPU vs reference"), &g64, &r64, GPU_REL);
        assert_pixelwise(&format!("{what}: GPU vs by hand"), &g64, &grad, GPU_REL);
    }
}

#[test]
fn lovasz_hinge_ties_are_broken_by_pixel_index() {
    let _serial = serial();
    for (strategy, gpu) in sort_strategy_engines() {
        eprintln!("sort strategy {strategy:?}");
        let gpu = &gpu;
        // Odd sizes; segments long enough that an unstable sort really reorders ties.
        check_ties_hinge(gpu, &[3, 37, 53], 0x7135);
        check_ties_hinge(gpu, &[1, 61, 67], 0x7136);
        check_ties_hinge(gpu, &[2, 3, 19, 23], 0x7137);
    }
}

/// Lovasz softmax on pixels that copy a few prototype logit vectors: pixels with the same
/// prototype and label have bit-identical errors on either engine (ties of one label), and
/// prototypes are drawn until their errors are well apart (the f32 and f64 orders agree).
#[test]
fn lovasz_softmax_ties_are_broken_by_pixel_index() {
    let _serial = serial();
    for (strategy, gpu) in sort_strategy_engines() {
        eprintln!("sort strategy {strategy:?}");
        let gpu = &gpu;
        let (n, c, h, w) = (2, 3, 29, 31);
        let hw = h * w;
        let mut rng = Rng::new(0x50f7);
        let k = 5;
        let protos: Vec<Vec<f32>> = 'draw: loop {
            let p: Vec<Vec<f32>> = (0..k).map(|_| (0..c).map(|_| (2.0 * rng.normal()) as f32).collect()).collect();
            for cls in 0..c {
                let mut e: Vec<f64> = Vec::new();
                for v in &p {
                    let m = v.iter().fold(f64::MIN, |a, &b| a.max(b as f64));
                    let s: f64 = v.iter().map(|&q| (q as f64 - m).exp()).sum();
                    let pk = (v[cls] as f64 - m).exp() / s;
                    e.push(pk);
                    e.push(1.0 - pk);
                }
                e.sort_by(f64::total_cmp);
                if e.windows(2).any(|w| w[1] - w[0] < 1e-3) {
                    continue 'draw;
                }
            }
            break p;
        };
        let choice: Vec<usize> = (0..n * hw).map(|_| rng.next_u64() as usize % k).collect();
        let map: Vec<u32> = (0..n * hw).map(|_| (rng.next_u64() % c as u64) as u32).collect();
        let mut logits = vec![0f32; n * c * hw];
        for f in 0..n * hw {
            let (img, i) = (f / hw, f % hw);
            for q in 0..c {
                logits[(img * c + q) * hw + i] = protos[choice[f]][q];
            }
        }
        let batch = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[n, c, h, w]).unwrap();
        let l = Loss::LovaszSoftmax(LovaszSoftmax::default());
        for term in [l.per_image(), l.batch()] {
            let reference = Engine::cpu().value_and_grad(&batch, std::slice::from_ref(&term)).unwrap();
            let on_gpu = gpu.value_and_grad(&batch, std::slice::from_ref(&term)).unwrap();
            assert!(close(on_gpu.forward.values[0], reference.forward.values[0], 1e-5, 1e-7), "{}", term.label());
            let r64: Vec<f64> = reference.grad.iter().map(|&v| v as f64).collect();
            let g64: Vec<f64> = on_gpu.grad.iter().map(|&v| v as f64).collect();
            assert_pixelwise(&format!("softmax {}", term.label()), &g64, &r64, GPU_REL);
        }
    }
}
