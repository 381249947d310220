//! The exact Euclidean distance transform: the f64 reference (`reference::edt`) equals brute
//! force — for every foreground voxel, the least Σ (Δᵢ·sᵢ)² over the background voxels of
//! its own image — exactly for unit spacing (integer squares) and within 1e-12 relative
//! otherwise, on random 2-D and 3-D batches of odd sizes, all-foreground, all-background and
//! single-voxel images; the GPU equals the reference exactly for unit spacing (squares below
//! 2^24) and within `GPU_REL` otherwise, up to ≥ 1M voxels and with an axis split over
//! several dispatches; bad requests are refused with their reason on both engines.
mod common;
use common::*;
use segloss::reference::edt::squared_distance_transform as reference;
use segloss::{Engine, EngineOptions};

/// GPU vs reference, relative, for non-unit spacing. The GPU rounds each spacing to f32
/// (≤ 1 unit of 2^-24 relative, 2 once squared) and per axis pass rounds s·Δ, its square and
/// the sum (≤ 3 units each, 3 passes); where two parabolas are within that much of each
/// other it may pick the other one, which differs by no more. ≈ 11 units ≈ 6.6e-7: 2e-6
/// leaves room for the midpoint arithmetic of near ties.
const GPU_REL: f64 = 2e-6;

/// (N, D, H, W, spacing (z, y, x)) of a 2-D shape [N, H, W] (D = 1, sz = 1) or 3-D one.
fn dims(shape: &[usize], spacing: &[f64]) -> ([usize; 4], [f64; 3]) {
    if shape.len() == 3 {
        ([shape[0], 1, shape[1], shape[2]], [1.0, spacing[0], spacing[1]])
    } else {
        ([shape[0], shape[1], shape[2], shape[3]], [spacing[0], spacing[1], spacing[2]])
    }
}

/// For every voxel: 0 on background, else the least Σ (Δᵢ·sᵢ)² over its image's background
/// voxels, +∞ when the image has none. O(voxels²) per image.
fn brute_force(mask: &[u8], shape: &[usize], spacing: &[f64]) -> Vec<f64> {
    let ([n, d, h, w], s) = dims(shape, spacing);
    let per = d * h * w;
    let coord = |i: usize| [(i / (h * w)) as f64, ((i / w) % h) as f64, (i % w) as f64];
    let mut out = vec![0.0; mask.len()];
    for img in 0..n {
        let m = &mask[img * per..(img + 1) * per];
        let background: Vec<[f64; 3]> = (0..per).filter(|&i| m[i] == 0).map(coord).collect();
        for i in 0..per {
            if m[i] == 0 {
                continue;
            }
            let c = coord(i);
            out[img * per + i] = background
                .iter()
                .map(|b| (0..3).map(|a| ((c[a] - b[a]) * s[a]).powi(2)).sum::<f64>())
                .fold(f64::INFINITY, f64::min);
        }
    }
    out
}

/// A random mask: each voxel foreground with probability `p`.
fn random_mask(rng: &mut Rng, len: usize, p: f64) -> Vec<u8> {
    (0..len).map(|_| (rng.uniform() < p) as u8 * (1 + (rng.next_u64() % 255) as u8)).collect()
}

/// A batch whose images have different foreground densities (from sparse to a lone
/// background voxel), so the distances reach across whole images.
fn batch_mask(rng: &mut Rng, shape: &[usize]) -> Vec<u8> {
    let per: usize = shape[1..].iter().product();
    let mut mask = Vec::new();
    for i in 0..shape[0] {
        let p = [0.5, 0.9, 0.99, 0.3, 1.0, 0.0][i % 6];
        mask.extend(random_mask(rng, per, p));
    }
    mask
}

const SHAPES_2D: [&[usize]; 8] =
    [&[3, 1, 1], &[2, 1, 7], &[3, 7, 1], &[4, 13, 17], &[2, 16, 16], &[1, 31, 9], &[6, 5, 3], &[3, 2, 2]];
const SHAPES_3D: [&[usize]; 6] =
    [&[2, 1, 1, 1], &[2, 5, 7, 9], &[1, 1, 6, 6], &[3, 4, 1, 5], &[1, 9, 8, 11], &[6, 3, 4, 2]];

/// Every test case: (shape, spacing, exact), each shape with several masks.
fn cases() -> Vec<(Vec<usize>, Vec<f64>, bool)> {
    let mut out = Vec::new();
    for shape in SHAPES_2D {
        out.push((shape.to_vec(), vec![1.0, 1.0], true));
        out.push((shape.to_vec(), vec![0.5, 2.0], false));
    }
    for shape in SHAPES_3D {
        out.push((shape.to_vec(), vec![1.0, 1.0, 1.0], true));
        out.push((shape.to_vec(), vec![2.5, 0.7, 1.3], false));
    }
    out
}

fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
    let ok = if want.is_infinite() || want == 0.0 { got == want } else { (got - want).abs() <= rel * want };
    assert!(ok, "{what}: got {got}, want {want} (rel {:e})", (got - want).abs() / want);
}

#[test]
fn reference_equals_brute_force() {
    let mut rng = Rng::new(0xed7);
    let mut checked = 0;
    for (shape, spacing, exact) in cases() {
        for rep in 0..4 {
            let mask = batch_mask(&mut rng, &shape);
            let got = reference(&mask, &shape, &spacing).unwrap();
            let want = brute_force(&mask, &shape, &spacing);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let what = format!("{shape:?} spacing {spacing:?} rep {rep} voxel {i}");
                if exact {
                    assert_eq!(g, w, "{what}");
                } else {
                    assert_close(&what, g, w, 1e-12);
                }
            }
            checked += got.len();
        }
    }
    assert!(checked > 10_000, "{checked} voxels");
}

#[test]
fn known_values_and_conventions() {
    let cpu = Engine::cpu();
    // A background centre: edges at 1, corners at √2 (scipy's convention: nonzero measures).
    let d = cpu.distance_transform(&[1, 1, 1, 1, 0, 1, 1, 1, 1], &[1, 3, 3], &[1.0, 1.0]).unwrap();
    let r2 = 2f32.sqrt();
    assert_eq!(d, [r2, 1.0, r2, 1.0, 0.0, 1.0, r2, 1.0, r2]);
    // Spacing scales each axis: [sy, sx] = [1, 0.5] along a row.
    let d2 = cpu.squared_distance_transform(&[0, 1, 1, 1, 1], &[1, 1, 5], &[1.0, 0.5]).unwrap();
    assert_eq!(d2, [0.0, 0.25, 1.0, 2.25, 4.0]);
    // Image 0 all foreground (+∞), image 1 all background (0), image 2 one background voxel:
    // images do not see each other's background.
    let mask = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0];
    let d2 = cpu.squared_distance_transform(&mask, &[3, 2, 2], &[1.0, 1.0]).unwrap();
    let inf = f32::INFINITY;
    assert_eq!(d2, [inf, inf, inf, inf, 0.0, 0.0, 0.0, 0.0, 2.0, 1.0, 1.0, 0.0]);
    // Single voxels.
    assert_eq!(cpu.squared_distance_transform(&[0, 7, 0], &[3, 1, 1], &[1.0, 1.0]).unwrap(), [0.0, inf, 0.0]);
    assert_eq!(cpu.squared_distance_transform(&[1, 0], &[2, 1, 1, 1], &[1.0, 2.0, 3.0]).unwrap(), [inf, 0.0]);
    // Empty batches.
    assert!(cpu.squared_distance_transform(&[], &[0, 4, 4], &[1.0, 1.0]).unwrap().is_empty());
}

/// A batch where each image's only background voxel sits at a different corner, and its
/// neighbours are all background: any leak across images would shorten the distances.
#[test]
fn images_do_not_leak_into_each_other() {
    let gpu = shared_gpu();
    let _s = serial();
    for (shape, spacing) in [(vec![4, 9, 11], vec![1.0, 1.0]), (vec![4, 5, 6, 7], vec![1.0, 1.0, 1.0])] {
        let per: usize = shape[1..].iter().product();
        let mut mask = vec![1u8; shape[0] * per];
        for (img, corner) in [0, per - 1, per / 2, 3].into_iter().enumerate() {
            mask[img * per + corner] = 0;
        }
        // An all-background image between two all-foreground ones in the next batch.
        let mut sandwich = vec![1u8; 3 * per];
        sandwich[per..2 * per].fill(0);
        for (m, s) in [(mask, shape.clone()), (sandwich, [&[3], &shape[1..]].concat())] {
            let want = brute_force(&m, &s, &spacing);
            assert_eq!(reference(&m, &s, &spacing).unwrap(), want, "{s:?}");
            let got = gpu.squared_distance_transform(&m, &s, &spacing).unwrap();
            let want32: Vec<f32> = want.iter().map(|&v| v as f32).collect();
            assert_eq!(got, want32, "{s:?}");
        }
    }
}

/// GPU vs reference on every case: exactly for unit spacing, within `GPU_REL` otherwise;
/// 0 and +∞ exactly everywhere.
#[test]
fn gpu_equals_reference() {
    let gpu = shared_gpu();
    let _s = serial();
    let mut rng = Rng::new(0x6b0);
    for (shape, spacing, exact) in cases() {
        for rep in 0..3 {
            let mask = batch_mask(&mut rng, &shape);
            let want = reference(&mask, &shape, &spacing).unwrap();
            let got = gpu.squared_distance_transform(&mask, &shape, &spacing).unwrap();
            compare(&format!("{shape:?} {spacing:?} rep {rep}"), &got, &want, exact);
            let root = gpu.distance_transform(&mask, &shape, &spacing).unwrap();
            for (&r, &w) in root.iter().zip(&want) {
                assert_close(&format!("{shape:?} {spacing:?} distance"), r as f64, w.sqrt(), GPU_REL);
            }
        }
    }
}

fn compare(what: &str, got: &[f32], want: &[f64], exact: bool) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if exact {
            assert!(w < (1u64 << 24) as f64 || w.is_infinite(), "{what}: {w} is past 2^24");
            assert_eq!(g, w as f32, "{what}: voxel {i}");
        } else {
            assert_close(&format!("{what}: voxel {i}"), g as f64, w, GPU_REL);
        }
    }
}

/// Masks of balls (foreground) in a background, plus noise: distances up to tens of voxels.
fn blob_mask(rng: &mut Rng, shape: &[usize]) -> Vec<u8> {
    let ([n, d, h, w], _) = dims(shape, &[1.0; 3]);
    let mut mask = Vec::with_capacity(n * d * h * w);
    for img in 0..n {
        let c = [rng.uniform() * d as f64, rng.uniform() * h as f64, rng.uniform() * w as f64];
        let r = (0.2 + 0.3 * rng.uniform()) * h.max(w) as f64;
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    let dist2 = (z as f64 - c[0]).powi(2) + (y as f64 - c[1]).powi(2) + (x as f64 - c[2]).powi(2);
                    let noise = rng.uniform() < 1e-4;
                    // In batches of several, the last image is all foreground.
                    mask.push((n > 1 && img + 1 == n || (dist2 < r * r) != noise) as u8);
                }
            }
        }
    }
    mask
}

#[test]
fn gpu_equals_reference_at_a_million_voxels() {
    let gpu = shared_gpu();
    let _s = serial();
    let mut rng = Rng::new(0x1e6);
    for (shape, spacing, exact) in [
        (vec![4usize, 512, 512], vec![1.0, 1.0], true),
        (vec![4, 512, 512], vec![0.3, 1.7], false),
        (vec![2, 64, 96, 88], vec![1.0, 1.0, 1.0], true),
        (vec![1, 64, 128, 128], vec![2.0, 0.8, 0.8], false),
    ] {
        let mask = blob_mask(&mut rng, &shape);
        assert!(mask.len() >= 1 << 20, "{shape:?}");
        let want = reference(&mask, &shape, &spacing).unwrap();
        let got = gpu.squared_distance_transform(&mask, &shape, &spacing).unwrap();
        compare(&format!("{shape:?} {spacing:?}"), &got, &want, exact);
        // Real distances, not only the trivial ones.
        let far = want.iter().filter(|v| v.is_finite()).fold(0.0f64, |a, &b| a.max(b));
        assert!(far > 100.0, "{shape:?}: largest finite d² {far}");
    }
}

/// With a 1 MiB binding the scratch of an axis takes several dispatches (131 072 entries
/// each, lines of 60 → 2184 lines per dispatch): still equal; and what cannot fit is refused.
#[test]
fn small_bindings_split_an_axis_and_refuse_what_does_not_fit() {
    let gpu = gpu_with(EngineOptions { max_storage_binding: Some(1 << 20), ..Default::default() });
    let _s = serial();
    let mut rng = Rng::new(0x5c);
    for (shape, spacing) in [(vec![2usize, 40, 50, 60], vec![1.0, 1.0, 1.0]), (vec![3, 300, 290], vec![1.0, 1.0])] {
        let mask = blob_mask(&mut rng, &shape);
        let want = reference(&mask, &shape, &spacing).unwrap();
        let got = gpu.squared_distance_transform(&mask, &shape, &spacing).unwrap();
        compare(&format!("{shape:?}"), &got, &want, true);
    }
    let err = gpu.squared_distance_transform(&vec![1; 360_000], &[1, 600, 600], &[1.0, 1.0]).unwrap_err();
    assert!(err.to_string().contains("at most 262144 fit one storage binding"), "{err}");
    let err = gpu.squared_distance_transform(&vec![1; 200_000], &[1, 1, 200_000], &[1.0, 1.0]).unwrap_err();
    assert!(err.to_string().contains("a line of 200000 voxels needs 400000 scratch words"), "{err}");
}

/// (mask, shape, spacing, the reason the error gives).
type BadCase<'a> = (&'a [u8], Vec<usize>, Vec<f64>, &'static str);

#[test]
fn bad_requests_are_refused_with_their_reason() {
    let gpu = shared_gpu();
    let _s = serial();
    let m16 = [1u8; 16];
    let cases: Vec<BadCase> = vec![
        (&m16, vec![4, 4], vec![1.0], "shape [4, 4] has rank 2: expected [N, H, W] or [N, D, H, W]"),
        (&m16, vec![1, 1, 4, 4, 1], vec![1.0; 4], "has rank 5"),
        (&m16, vec![usize::MAX, 2, 2], vec![1.0, 1.0], "its product overflows usize"),
        (&m16[..15], vec![1, 4, 4], vec![1.0, 1.0], "holds 16 voxels but the mask has 15"),
        (&m16, vec![1, 4, 4], vec![1.0], "1 spacings for 2 spatial axes"),
        (&m16, vec![1, 2, 2, 4], vec![1.0, 1.0], "2 spacings for 3 spatial axes"),
        (&m16, vec![1, 4, 4], vec![1.0, 0.0], "spacing[1] = 0: must be finite and > 0"),
        (&m16, vec![1, 4, 4], vec![-1.0, 1.0], "spacing[0] = -1: must be finite and > 0"),
        (&m16, vec![1, 4, 4], vec![f64::NAN, 1.0], "spacing[0] = NaN: must be finite and > 0"),
        (&m16, vec![1, 4, 4], vec![1.0, f64::INFINITY], "spacing[1] = inf: must be finite and > 0"),
        (&m16, vec![1, 4, 4], vec![1e-30, 1.0], "its square is not a normal f32"),
        (&m16, vec![1, 2, 8], vec![1.0, 1e19], "overflow f32"),
    ];
    for engine in [&Engine::cpu(), gpu] {
        for (mask, shape, spacing, reason) in &cases {
            for root in [false, true] {
                let result = if root {
                    engine.distance_transform(mask, shape, spacing)
                } else {
                    engine.squared_distance_transform(mask, shape, spacing)
                };
                let err = result.unwrap_err().to_string();
                assert!(err.contains("distance transform") && err.contains(reason), "{shape:?}: {err}");
            }
        }
        assert!(reference(&m16, &[4, 4], &[1.0]).is_err());
    }
}
