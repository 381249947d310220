//! `eval --surface`: the options, the per-image computation (a worker calls
//! [`segloss::surface::surface_metrics`] on the pair's class maps) and the mergeable
//! totals of the surface metrics' means over images (an exact sum and a count per class and
//! metric: a mean is over the images where the metric is defined).

use super::exact_sum::ExactSum;
use segloss::surface::SurfaceMetrics;
use segloss::Engine;

/// The metrics' names, in report order.
pub(crate) const NAMES: [&str; 4] = ["hd", "hd95", "assd", "nsd"];

/// `--surface` and its settings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SurfaceSetup {
    /// `--nsd-tolerance T` (default 1).
    pub(crate) tolerance: f64,
    /// `--spacing S1,S2[,S3]` (None: 1 on every axis).
    pub(crate) spacing: Option<Vec<f64>>,
}

impl SurfaceSetup {
    /// The spacing of an image of `depth` slices ((D, H, W) order; D = 1 for 2-D images).
    pub(crate) fn spacing_of(&self, depth: usize) -> Result<[f64; 3], String> {
        match (&self.spacing, depth) {
            (None, _) => Ok([1.0; 3]),
            (Some(s), 1) if s.len() == 2 => Ok([1.0, s[0], s[1]]),
            (Some(s), d) if d > 1 && s.len() == 3 => Ok([s[0], s[1], s[2]]),
            (Some(s), d) => Err(format!(
                "--spacing has {} values but the image is {} (give {} for it)",
                s.len(),
                if d > 1 { "3-D" } else { "2-D" },
                if d > 1 { 3 } else { 2 }
            )),
        }
    }
}

/// Parses `--spacing S1,S2[,S3]`: 2 or 3 numbers, each finite and > 0.
pub(crate) fn parse_spacing(text: &str) -> Result<Vec<f64>, String> {
    let v: Vec<f64> = text
        .split(',')
        .map(|t| t.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| format!("--spacing '{text}': expected 2 or 3 numbers > 0, e.g. 0.8,0.8 or 2.5,0.7,0.7"))?;
    if v.len() != 2 && v.len() != 3 {
        return Err(format!("--spacing '{text}': {} values; expected 2 (2-D: y,x) or 3 (3-D: z,y,x)", v.len()));
    }
    Ok(v)
}

/// The surface metrics of one scored pair: classes of the prediction and of the truth
/// (`u32::MAX`: ignored), `dims` = (D, H, W).
pub(crate) fn compute(
    engine: &Engine,
    setup: &SurfaceSetup,
    pred: &[u32],
    gt: &[u32],
    classes: usize,
    dims: [usize; 3],
) -> Result<Vec<SurfaceMetrics>, String> {
    let spacing = setup.spacing_of(dims[0])?;
    segloss::surface::surface_metrics(engine, pred, gt, classes, dims, spacing, setup.tolerance)
        .map_err(|e| format!("surface metrics: {e}"))
}

/// A metric of one class as an option, by its index in [`NAMES`].
pub(crate) fn pick(m: &SurfaceMetrics, i: usize) -> Option<f64> {
    [m.hd, m.hd95, m.assd, m.nsd][i]
}

/// Per metric and class: the exact sum of the defined values and their number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SurfaceSums {
    pub(crate) sums: [Vec<ExactSum>; 4],
    pub(crate) counts: [Vec<u64>; 4],
}

impl SurfaceSums {
    pub(crate) fn new(c: usize) -> SurfaceSums {
        SurfaceSums {
            sums: std::array::from_fn(|_| vec![ExactSum::default(); c]),
            counts: std::array::from_fn(|_| vec![0; c]),
        }
    }

    pub(crate) fn add(&mut self, image: &[SurfaceMetrics]) -> Result<(), String> {
        if image.len() != self.sums[0].len() {
            return Err(format!(
                "{} classes of surface metrics where {} were expected",
                image.len(),
                self.sums[0].len()
            ));
        }
        for i in 0..4 {
            for (k, m) in image.iter().enumerate() {
                if let Some(v) = pick(m, i) {
                    self.sums[i][k].add(v)?;
                    self.counts[i][k] = self.counts[i][k].checked_add(1).ok_or("image counts overflow")?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn merge(&mut self, other: &SurfaceSums) -> Result<(), String> {
        for i in 0..4 {
            for (a, b) in self.sums[i].iter_mut().zip(&other.sums[i]) {
                a.merge(b)?;
            }
            for (a, &b) in self.counts[i].iter_mut().zip(&other.counts[i]) {
                *a = a.checked_add(b).ok_or("image counts overflow")?;
            }
        }
        Ok(())
    }

    /// The means over the images where each metric is defined (None where none is).
    pub(crate) fn means(&self) -> Vec<SurfaceMetrics> {
        let mean =
            |i: usize, k: usize| (self.counts[i][k] > 0).then(|| self.sums[i][k].to_f64() / self.counts[i][k] as f64);
        (0..self.sums[0].len())
            .map(|k| SurfaceMetrics { hd: mean(0, k), hd95: mean(1, k), assd: mean(2, k), nsd: mean(3, k) })
            .collect()
    }
}
