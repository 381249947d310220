//! Surface metrics of label maps, as MONAI 1.6.1 computes them (`compute_hausdorff_distance`,
//! `compute_average_surface_distance(symmetric=True)`, `compute_surface_dice`, all with
//! `use_subvoxels=False`): per class, the edges of the predicted and of the true mask, the
//! distance from each edge pixel of one to the nearest edge pixel of the other, and from
//! these the Hausdorff distance, its 95th percentile, the average symmetric surface distance
//! and the normalised surface Dice.
//!
//! - **Edges** ([`edges`]): the mask minus its erosion by the cross (4-connected in 2-D,
//!   6-connected in 3-D), the image border counting as background (scipy's `binary_erosion`
//!   with its defaults, as MONAI's `get_mask_edges` calls it).
//! - **Distances**: Euclidean between voxel centres, each axis scaled by its spacing; the
//!   distance from an edge voxel of A to B's edges is the distance transform of the
//!   complement of B's edge mask at that voxel ([`crate::Engine::squared_distance_transform`]:
//!   on a GPU engine in f32, rooted in f64; on the reference engine the f64 transform itself).
//! - **Null rules** (what MONAI returns, checked by `scripts/surface_fixtures.py`): a class
//!   absent from both maps gives NaN for all four metrics (here `None`); a class absent from
//!   exactly one gives +∞ (Hausdorff, ASSD) or NaN (HD95: the quantile of +∞s) and a surface
//!   Dice of 0: here `None` for the three distances and `Some(0.0)` for the surface Dice.

use crate::error::Result;
use crate::Engine;

/// The four surface metrics of one class; `None` where MONAI gives NaN or +∞.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SurfaceMetrics {
    /// Hausdorff distance: the larger of the two directed maxima.
    pub hd: Option<f64>,
    /// The larger of the two directed 95th percentiles (linear interpolation).
    pub hd95: Option<f64>,
    /// Average symmetric surface distance: the mean of both directed distance lists together.
    pub assd: Option<f64>,
    /// Normalised surface Dice at the tolerance: edge voxels within it of the other mask's
    /// edges, over all edge voxels.
    pub nsd: Option<f64>,
}

/// The edges of `mask` (`dims` = (D, H, W); D = 1 for a 2-D mask): the voxels of the mask
/// with a 6-neighbour (4 in 2-D) outside the mask or outside the image.
pub fn edges(mask: &[bool], dims: [usize; 3]) -> Vec<bool> {
    let [d, h, w] = dims;
    let mut out = vec![false; mask.len()];
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let i = (z * h + y) * w + x;
                if !mask[i] {
                    continue;
                }
                let inside = |dz: isize, dy: isize, dx: isize| {
                    let (zz, yy, xx) = (z as isize + dz, y as isize + dy, x as isize + dx);
                    if zz < 0 || yy < 0 || xx < 0 || zz >= d as isize || yy >= h as isize || xx >= w as isize {
                        return false;
                    }
                    mask[((zz as usize) * h + yy as usize) * w + xx as usize]
                };
                // In 2-D (D = 1) the depth neighbours do not exist: they do not erode.
                let depth = d == 1 || (inside(-1, 0, 0) && inside(1, 0, 0));
                let interior = depth && inside(0, -1, 0) && inside(0, 1, 0) && inside(0, 0, -1) && inside(0, 0, 1);
                out[i] = !interior;
            }
        }
    }
    out
}

/// The `q`-th quantile (q in [0, 1]) of `values` with linear interpolation between the two
/// nearest ranks (numpy's default, `torch.quantile`'s too): sorted x, position q·(n − 1).
/// `None` for an empty list.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    let frac = pos - lo as f64;
    Some(values[lo] + frac * (values[hi] - values[lo]))
}

/// The surface metrics of one class from its two directed distance lists (edges of the
/// prediction to the truth's, and back) and the tolerance.
pub fn metrics_from_distances(pred_to_gt: &mut [f64], gt_to_pred: &mut [f64], tolerance: f64) -> SurfaceMetrics {
    let total = pred_to_gt.len() + gt_to_pred.len();
    if total == 0 {
        return SurfaceMetrics::default();
    }
    let nsd = {
        let close = pred_to_gt.iter().chain(gt_to_pred.iter()).filter(|&&d| d <= tolerance).count();
        Some(close as f64 / total as f64)
    };
    if pred_to_gt.is_empty() || gt_to_pred.is_empty() {
        return SurfaceMetrics { nsd: Some(0.0), ..SurfaceMetrics::default() };
    }
    let max = |v: &[f64]| v.iter().copied().fold(0.0f64, f64::max);
    let hd = max(pred_to_gt).max(max(gt_to_pred));
    let hd95 = quantile(pred_to_gt, 0.95).unwrap_or(0.0).max(quantile(gt_to_pred, 0.95).unwrap_or(0.0));
    let sum: f64 = pred_to_gt.iter().chain(gt_to_pred.iter()).sum();
    SurfaceMetrics { hd: Some(hd), hd95: Some(hd95), assd: Some(sum / total as f64), nsd }
}

/// The most voxels one distance-transform call gets (classes are batched up to it).
const BATCH_VOXELS: usize = 1 << 24;

/// The surface metrics of every class `0..classes` of one pair of label maps (`dims` =
/// (D, H, W), D = 1 for 2-D; `spacing` one per axis of `dims`). A ground-truth value of
/// `u32::MAX` (ignored) belongs to no class. `2d` masks pass `[1.0, sy, sx]`.
pub fn surface_metrics(
    engine: &Engine,
    pred: &[u32],
    gt: &[u32],
    classes: usize,
    dims: [usize; 3],
    spacing: [f64; 3],
    tolerance: f64,
) -> Result<Vec<SurfaceMetrics>> {
    let n = dims.iter().product::<usize>();
    let mut out = vec![SurfaceMetrics::default(); classes];
    let (mut in_pred, mut in_gt) = (vec![false; classes], vec![false; classes]);
    for (&p, &t) in pred.iter().zip(gt) {
        if (p as usize) < classes {
            in_pred[p as usize] = true;
        }
        if (t as usize) < classes {
            in_gt[t as usize] = true;
        }
    }
    // Classes in exactly one map: no distance needed (MONAI's surface Dice is 0).
    let mut both = Vec::new();
    for k in 0..classes {
        match (in_pred[k], in_gt[k]) {
            (true, true) => both.push(k),
            (false, false) => {}
            _ => out[k].nsd = Some(0.0),
        }
    }
    let per_batch = (BATCH_VOXELS / (2 * n).max(1)).max(1);
    for chunk in both.chunks(per_batch) {
        let mut edge_sets = Vec::with_capacity(2 * chunk.len());
        let mut dt_input = Vec::with_capacity(2 * chunk.len() * n);
        for &k in chunk {
            let pe = edges(&pred.iter().map(|&p| p as usize == k).collect::<Vec<_>>(), dims);
            let ge = edges(&gt.iter().map(|&t| t as usize == k).collect::<Vec<_>>(), dims);
            // Image 2j: distance to the truth's edges; image 2j+1: to the prediction's.
            dt_input.extend(ge.iter().map(|&e| (!e) as u8));
            dt_input.extend(pe.iter().map(|&e| (!e) as u8));
            edge_sets.push((pe, ge));
        }
        let images = 2 * chunk.len();
        let (shape, sp): (Vec<usize>, Vec<f64>) = if dims[0] == 1 {
            (vec![images, dims[1], dims[2]], spacing[1..].to_vec())
        } else {
            (vec![images, dims[0], dims[1], dims[2]], spacing.to_vec())
        };
        let squared: Vec<f64> = if engine.is_reference() {
            crate::cpu::edt::squared_distance_transform(&dt_input, &shape, &sp)?
        } else {
            engine.squared_distance_transform(&dt_input, &shape, &sp)?.into_iter().map(f64::from).collect()
        };
        for (j, (&k, (pe, ge))) in chunk.iter().zip(&edge_sets).enumerate() {
            let to_gt = &squared[2 * j * n..(2 * j + 1) * n];
            let to_pred = &squared[(2 * j + 1) * n..(2 * j + 2) * n];
            let mut pg: Vec<f64> = pe.iter().zip(to_gt).filter(|(&e, _)| e).map(|(_, &d)| d.sqrt()).collect();
            let mut gp: Vec<f64> = ge.iter().zip(to_pred).filter(|(&e, _)| e).map(|(_, &d)| d.sqrt()).collect();
            out[k] = metrics_from_distances(&mut pg, &mut gp, tolerance);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&str]) -> (Vec<bool>, [usize; 3]) {
        let h = rows.len();
        let w = rows[0].len();
        (rows.iter().flat_map(|r| r.bytes().map(|b| b == b'#')).collect(), [1, h, w])
    }

    fn show(e: &[bool], w: usize) -> Vec<String> {
        e.chunks(w).map(|r| r.iter().map(|&b| if b { '#' } else { '.' }).collect()).collect()
    }

    #[test]
    fn edges_are_the_mask_minus_its_cross_erosion_with_the_border_as_background() {
        // A 5×5 square inside a 7×7 image: its ring of 16; the 3×3 core is interior.
        let (m, dims) = grid(&[".......", ".#####.", ".#####.", ".#####.", ".#####.", ".#####.", "......."]);
        let e = edges(&m, dims);
        assert_eq!(show(&e, 7), [".......", ".#####.", ".#...#.", ".#...#.", ".#...#.", ".#####.", "......."]);
        // A full image: only its border row and column are edges (the border is background).
        let (m, dims) = grid(&["####", "####", "####"]);
        assert_eq!(show(&edges(&m, dims), 4), ["####", "#..#", "####"]);
        // A plus shape: the centre has all 4 cross neighbours, the diagonal corners do not
        // matter (cross, not square, structuring element).
        let (m, dims) = grid(&[".#.", "###", ".#."]);
        assert_eq!(show(&edges(&m, dims), 3), [".#.", "#.#", ".#."]);
    }

    #[test]
    fn edges_in_3d_use_the_six_neighbours() {
        // A 3×3×3 cube in a 5×5×5 volume: only its centre voxel is interior.
        let dims = [5, 5, 5];
        let mut m = vec![false; 125];
        for z in 1..4 {
            for y in 1..4 {
                for x in 1..4 {
                    m[(z * 5 + y) * 5 + x] = true;
                }
            }
        }
        let e = edges(&m, dims);
        assert_eq!(e.iter().filter(|&&b| b).count(), 26);
        assert!(!e[(2 * 5 + 2) * 5 + 2]);
        // A single slice of depth 3 through a 1-voxel-thick plate: all edge.
        let mut plate = vec![false; 3 * 3 * 3];
        plate[9..18].iter_mut().for_each(|v| *v = true);
        assert!(edges(&plate, [3, 3, 3]).iter().zip(&plate).all(|(&e, &m)| e == m));
    }

    #[test]
    fn quantile_interpolates_linearly_like_numpy() {
        // numpy.percentile([1, 2, 3, 4, 10], 95) = 4 + 0.8·6 = 8.8 (position 0.95·4 = 3.8).
        assert!((quantile(&mut [10.0, 1.0, 3.0, 2.0, 4.0], 0.95).unwrap() - 8.8).abs() < 1e-12);
        // Two values: position 0.95: 0 + 0.95·(1 − 0).
        assert!((quantile(&mut [1.0, 0.0], 0.95).unwrap() - 0.95).abs() < 1e-15);
        // One value: itself; q = 0 and 1: the minimum and the maximum.
        assert_eq!(quantile(&mut [3.5], 0.95), Some(3.5));
        assert_eq!(quantile(&mut [5.0, 2.0, 9.0], 0.0), Some(2.0));
        assert_eq!(quantile(&mut [5.0, 2.0, 9.0], 1.0), Some(9.0));
        assert_eq!(quantile(&mut [], 0.5), None);
        // 21 values 0..=20: position 19 exactly, no interpolation.
        let mut v: Vec<f64> = (0..=20).rev().map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.95), Some(19.0));
    }

    #[test]
    fn metrics_of_hand_worked_distance_lists() {
        // Prediction edges at distances [0, 1, 2] of the truth's; truth edges at [0, 3].
        let m = metrics_from_distances(&mut [0.0, 1.0, 2.0], &mut [0.0, 3.0], 1.0);
        assert_eq!(m.hd, Some(3.0));
        // max(q95([0,1,2]) = 1.9, q95([0,3]) = 2.85) = 2.85.
        assert!((m.hd95.unwrap() - 2.85).abs() < 1e-12);
        assert_eq!(m.assd, Some(6.0 / 5.0));
        // Within 1: 0, 1 (pred) and 0 (truth): 3 of 5.
        assert_eq!(m.nsd, Some(0.6));
        // One side absent: distances null, surface Dice 0; both absent: all null.
        assert_eq!(
            metrics_from_distances(&mut [], &mut [1.0], 1.0),
            SurfaceMetrics { nsd: Some(0.0), ..Default::default() }
        );
        assert_eq!(metrics_from_distances(&mut [], &mut [], 1.0), SurfaceMetrics::default());
    }

    #[test]
    fn two_squares_a_column_apart() {
        // Truth: columns 1..=3 of rows 1..=3; prediction: the same shifted one column right.
        // Each edge set is a ring of 8; hand-worked distances: a ring's pixel in the shared
        // columns 2..=3 lies on or next to the other ring, the outer column is 1 away.
        let (gt, dims) = grid(&["......", ".###..", ".###..", ".###..", "......"]);
        let (pr, _) = grid(&["......", "..###.", "..###.", "..###.", "......"]);
        let to_u32 = |m: &[bool]| m.iter().map(|&b| b as u32).collect::<Vec<u32>>();
        let m = surface_metrics(&Engine::cpu(), &to_u32(&pr), &to_u32(&gt), 2, dims, [1.0; 3], 0.5).unwrap();
        // Class 1, hand-worked. Pred ring → truth ring: (1,2) (1,3) (3,2) (3,3) lie on it (0);
        // (1,4) (3,4) (2,4) are 1 from (1,3) (3,3) (2,3); (2,2) is 1 from (2,1). So 4 × 0,
        // 4 × 1, and by symmetry the same from the truth's ring to the prediction's.
        assert_eq!(m[1].hd, Some(1.0));
        assert_eq!(m[1].assd, Some(8.0 / 16.0));
        assert_eq!(m[1].nsd, Some(8.0 / 16.0));
        // 8 values, 4 ones: position 0.95·7 = 6.65 lies among the ones: 1.
        assert_eq!(m[1].hd95, Some(1.0));
    }
}
