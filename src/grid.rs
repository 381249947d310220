//! The geometry of the distance transform: a batch of 2-D (`[N, H, W]`) or 3-D
//! (`[N, D, H, W]`) grids with a spacing per spatial axis, checked once for both engines,
//! and its axes as lines (length, stride, count) for the separable passes.

use crate::error::{Error, Result};

/// A checked batch of grids. 2-D grids are held as 3-D ones of depth 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Images (volumes) in the batch: N.
    pub images: usize,
    /// (D, H, W); D = 1 for 2-D grids.
    pub dims: [usize; 3],
    /// Spacing of each entry of `dims` (1 for the depth of a 2-D grid).
    pub spacing: [f64; 3],
}

/// One spatial axis seen as lines: `lines` lines of `len` voxels, `stride` apart inside a
/// line; line `l` starts at `(l / stride) · len · stride + l % stride`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    /// Voxels per line (the axis's length).
    pub len: usize,
    /// Distance between neighbours on a line (the product of the later axes' lengths).
    pub stride: usize,
    /// Lines along this axis in the whole batch (voxels / len).
    pub lines: usize,
    /// The axis's spacing.
    pub spacing: f64,
}

impl Axis {
    /// Index of the first voxel of line `line`.
    pub fn line_start(&self, line: usize) -> usize {
        (line / self.stride) * self.len * self.stride + line % self.stride
    }
}

fn invalid(what: String) -> Error {
    Error::InvalidRequest(format!("distance transform: {what}"))
}

impl Grid {
    /// Checks a mask of `len` voxels with `shape` ([N, H, W] or [N, D, H, W]) and `spacing`
    /// (one per spatial axis: every spacing finite, > 0 and with a square that is a normal
    /// f32; the largest squared distance possible, Σ ((len − 1)·spacing)², finite in f32).
    pub fn new(len: usize, shape: &[usize], spacing: &[f64]) -> Result<Grid> {
        if shape.len() != 3 && shape.len() != 4 {
            return Err(invalid(format!(
                "shape {shape:?} has rank {}: expected [N, H, W] or [N, D, H, W]",
                shape.len()
            )));
        }
        let voxels = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| invalid(format!("shape {shape:?}: its product overflows usize")))?;
        if voxels != len {
            return Err(invalid(format!("shape {shape:?} holds {voxels} voxels but the mask has {len}")));
        }
        let rank = shape.len() - 1;
        if spacing.len() != rank {
            return Err(invalid(format!("{} spacings for {rank} spatial axes (shape {shape:?})", spacing.len())));
        }
        for (i, &s) in spacing.iter().enumerate() {
            if !(s.is_finite() && s > 0.0) {
                return Err(invalid(format!("spacing[{i}] = {s}: must be finite and > 0")));
            }
            let s32 = s as f32;
            if !((s32 * s32).is_normal()) {
                return Err(invalid(format!("spacing[{i}] = {s}: its square is not a normal f32")));
            }
        }
        let mut dims = [1usize; 3];
        dims[3 - rank..].copy_from_slice(&shape[1..]);
        let mut sp = [1.0f64; 3];
        sp[3 - rank..].copy_from_slice(spacing);
        let reach: f64 = dims.iter().zip(&sp).map(|(&d, &s)| ((d.max(1) - 1) as f64 * s).powi(2)).sum();
        if reach > f32::MAX as f64 {
            return Err(invalid(format!(
                "shape {shape:?} with spacing {spacing:?}: squared distances up to {reach:e} overflow f32"
            )));
        }
        Ok(Grid { images: shape[0], dims, spacing: sp })
    }

    /// Voxels in the whole batch.
    pub fn voxels(&self) -> usize {
        self.images * self.dims.iter().product::<usize>()
    }

    /// The axes a transform passes over, in order (D, H, W), leaving out axes of length 1
    /// (a pass over them changes nothing). Empty for an empty batch.
    pub fn axes(&self) -> Vec<Axis> {
        let voxels = self.voxels();
        if voxels == 0 {
            return Vec::new();
        }
        (0..3)
            .filter(|&a| self.dims[a] > 1)
            .map(|a| Axis {
                len: self.dims[a],
                stride: self.dims[a + 1..].iter().product(),
                lines: voxels / self.dims[a],
                spacing: self.spacing[a],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cover_every_voxel_once_per_axis() {
        let grid = Grid::new(2 * 3 * 4 * 5, &[2, 3, 4, 5], &[1.0, 2.0, 3.0]).unwrap();
        for axis in grid.axes() {
            let mut seen = vec![0u32; grid.voxels()];
            for l in 0..axis.lines {
                for i in 0..axis.len {
                    seen[axis.line_start(l) + i * axis.stride] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{axis:?}");
        }
        assert_eq!(grid.axes().iter().map(|a| a.spacing).collect::<Vec<_>>(), [1.0, 2.0, 3.0]);
        let flat = Grid::new(6, &[2, 1, 3], &[1.0, 1.0]).unwrap();
        assert_eq!(flat.axes().len(), 1);
        assert!(Grid::new(0, &[0, 4, 4], &[1.0, 1.0]).unwrap().axes().is_empty());
    }
}
