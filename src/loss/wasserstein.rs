//! Generalized Wasserstein Dice loss (Fidon et al. 2017), as MONAI 1.6.1's
//! `GeneralizedWassersteinDiceLoss` defines it. With the class-distance matrix M (C×C, scaled
//! by its maximum when that is not 1), each pixel i of label y_i gets the Wasserstein distance
//! between its softmax p(i) and its label: w_i = Σ_c M[y_i, c]·p_c(i). Per segment (an image,
//! or the batch), with class weights α:
//!
//! - TP = Σ_i α_{y_i}·(1 − w_i);
//! - `Default` weighting (the paper: α = 0 for the background class 0, 1 for the others):
//!   denominator = 2·TP + Σ_i w_i;
//! - `Gdl` weighting (Tilborghs et al. 2020: α_k = 1 / (count of class k + 1)):
//!   denominator = Σ_i α_{y_i}·(2 − w_i);
//! - loss = 1 − (2·TP + smooth_nr) / (denominator + smooth_dr), averaged over the segments.
//!
//! It is a function of per-class sums (count_k and W_k = Σ_{y_i = k} w_i), computed here on the
//! host in f64 on every engine, with the softmax; the gradient goes back through the softmax.
//! Multiclass batches only (class maps), every class, no ignore index.

use super::planes::{back_to_input, planes};
use super::{Catalogued, Family, Keywords, LossDef, Runner, StandaloneLoss};
use crate::error::{Error, Result};
use crate::input::{Input, Mode};
use crate::options::{Aggregation, ClassOptions, ClassSelection, TermOptions};

/// How the classes are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WassersteinWeighting {
    /// α = 0 for the background (class 0), 1 for the others (Fidon et al. 2017).
    #[default]
    Default,
    /// α_k = 1 / (pixels of class k + 1), also in the denominator (MONAI's "GDL").
    Gdl,
}

/// Generalized Wasserstein Dice loss; the class distances are the term's
/// `ClassOptions::class_distances` (MONAI `GeneralizedWassersteinDiceLoss`), 1 − I when none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WassersteinDice {
    /// The class weighting.
    pub weighting: WassersteinWeighting,
    /// Added to the numerator (MONAI: 1e-5).
    pub smooth_nr: f64,
    /// Added to the denominator (MONAI: 1e-5).
    pub smooth_dr: f64,
}

impl Default for WassersteinDice {
    fn default() -> Self {
        WassersteinDice { weighting: WassersteinWeighting::Default, smooth_nr: 1e-5, smooth_dr: 1e-5 }
    }
}

impl WassersteinDice {
    /// A segment's loss from its per-class counts and Σ w, and ∂loss/∂W_k per class.
    fn segment(&self, count: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let alpha: Vec<f64> = match self.weighting {
            WassersteinWeighting::Default => (0..count.len()).map(|k| (k > 0) as u8 as f64).collect(),
            WassersteinWeighting::Gdl => count.iter().map(|&n| 1.0 / (n + 1.0)).collect(),
        };
        let tp: f64 = (0..count.len()).map(|k| alpha[k] * (count[k] - w[k])).sum();
        let (den, d_den): (f64, Vec<f64>) = match self.weighting {
            WassersteinWeighting::Default => {
                (2.0 * tp + w.iter().sum::<f64>(), alpha.iter().map(|a| 1.0 - 2.0 * a).collect())
            }
            WassersteinWeighting::Gdl => {
                let den = (0..count.len()).map(|k| alpha[k] * (2.0 * count[k] - w[k])).sum();
                (den, alpha.iter().map(|a| -a).collect())
            }
        };
        let (num, den) = (2.0 * tp + self.smooth_nr, den + self.smooth_dr);
        // loss = 1 − num/den; ∂num/∂W_k = −2α_k.
        let grad = (0..count.len()).map(|k| -((-2.0 * alpha[k]) * den - num * d_den[k]) / (den * den)).collect();
        (1.0 - num / den, grad)
    }
}

/// The ground cost, scaled by its maximum when that is not 1 (as MONAI); without a matrix,
/// every confusion costs 1 (M = 1 − I).
fn distances(matrix: Option<&[f64]>, classes: usize) -> Vec<f64> {
    match matrix {
        Some(raw) => {
            let max = raw.iter().copied().fold(0.0, f64::max);
            raw.iter().map(|&d| if max != 1.0 { d / max } else { d }).collect()
        }
        None => (0..classes * classes).map(|i| (i / classes != i % classes) as u8 as f64).collect(),
    }
}

impl LossDef for WassersteinDice {
    fn validate(&self) -> Result<()> {
        crate::check::non_negative("WassersteinDice", "smooth_nr", self.smooth_nr)?;
        crate::check::non_negative("WassersteinDice", "smooth_dr", self.smooth_dr)
    }

    fn applies(&self, mode: Mode) -> bool {
        mode == Mode::Multiclass
    }

    fn takes_class_distances(&self) -> bool {
        true
    }

    fn check_classes(&self, classes: &ClassOptions) -> std::result::Result<(), String> {
        let ClassOptions { weights, normalize_weights: _, selection, absent: _, pool, class_distances: _ } = classes;
        if weights.is_some() || *pool || *selection != ClassSelection::All {
            return Err("the Wasserstein Dice loss takes every class, without class weights or pooling".into());
        }
        Ok(())
    }

    fn family(&self) -> Family<'_> {
        Family::Standalone(self)
    }
}

impl StandaloneLoss for WassersteinDice {
    fn evaluate(
        &self,
        _runner: Runner,
        input: &Input,
        opts: &TermOptions,
        grad: bool,
    ) -> Result<(f64, Option<Vec<f32>>)> {
        let Input::Multiclass(m) = input else {
            return Err(Error::InvalidRequest(format!(
                "term {}: Wasserstein Dice needs a multiclass batch",
                opts.index
            )));
        };
        let planes = planes(input, opts)?;
        let (n, c, hw) = (m.shape.n, m.classes, planes.pixels);
        let dist = distances(opts.classes.class_distances.as_deref(), c);
        let soft = &planes.softmax;
        let label = |i: usize, j: usize| m.target.get(i * hw + j) as usize;
        // w_i per pixel, then per segment the class counts and Σ w.
        let mut wmap = vec![0.0; n * hw];
        let segments = if opts.aggregation == Aggregation::Batch { 1 } else { n };
        let (mut count, mut wsum) = (vec![0.0; segments * c], vec![0.0; segments * c]);
        for i in 0..n {
            let seg = if segments == 1 { 0 } else { i };
            for j in 0..hw {
                let y = label(i, j);
                let w: f64 = (0..c).map(|k| dist[y * c + k] * soft[(i * c + k) * hw + j]).sum();
                wmap[i * hw + j] = w;
                count[seg * c + y] += 1.0;
                wsum[seg * c + y] += w;
            }
        }
        let per_segment: Vec<(f64, Vec<f64>)> =
            (0..segments).map(|s| self.segment(&count[s * c..(s + 1) * c], &wsum[s * c..(s + 1) * c])).collect();
        let value = per_segment.iter().map(|(v, _)| v).sum::<f64>() / segments as f64;
        if !grad {
            return Ok((value, None));
        }
        // ∂L/∂p_k(i) = ∂L/∂W_{y_i} · M[y_i, k], on the planes (every class, image-major).
        let scale = opts.weight / segments as f64;
        let mut dp = vec![0.0; n * c * hw];
        for i in 0..n {
            let g = &per_segment[if segments == 1 { 0 } else { i }].1;
            for j in 0..hw {
                let y = label(i, j);
                for k in 0..c {
                    dp[(i * c + k) * hw + j] = scale * g[y] * dist[y * c + k];
                }
            }
        }
        Ok((value, Some(back_to_input(input, &planes, &dp))))
    }
}

impl Catalogued for WassersteinDice {
    const NAME: &'static str = "wasserstein_dice";
    const KEYWORDS: &'static [&'static str] = &["weighting", "smooth_nr", "smooth_dr"];
    const GPU_KINDS: &'static [&'static str] = &[];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = WassersteinDice::default();
        let weighting = match kw.choice("weighting", "default", &["default", "gdl"])? {
            "gdl" => WassersteinWeighting::Gdl,
            _ => WassersteinWeighting::Default,
        };
        Ok(WassersteinDice {
            weighting,
            smooth_nr: kw.f64("smooth_nr", d.smooth_nr)?,
            smooth_dr: kw.f64("smooth_dr", d.smooth_dr)?,
        })
    }

    fn examples() -> Vec<Self> {
        vec![
            WassersteinDice::default(),
            WassersteinDice { weighting: WassersteinWeighting::Gdl, smooth_nr: 0.5, smooth_dr: 1.0 },
        ]
    }
}
