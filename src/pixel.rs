//! The per-pixel parameters of the fused forward pass: the few loss parameters that enter
//! the per-pixel terms (BCE, focal, weighted CE) rather than the formulas of the sums. One
//! set per call; the terms of a request claim them ([`PixelClaims`]) and must agree.

use crate::error::{Error, Result};
use crate::stats::Stats;

/// The sigmoid focal loss's modulating factor for a target t in [0, 1]; the forms are equal
/// for t ∈ {0, 1} and differ for soft targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FocalForm {
    /// `α_t·(1 − p_t)^γ·BCE`, p_t = p·t + (1−p)(1−t) (Lin et al.; torchvision).
    #[default]
    Probability,
    /// `α_t·(1 − e^−BCE)^γ·BCE` (smp: p_t = exp(−BCE)).
    ExpBce,
    /// `α_t·σ(x·(1−2t))^γ·BCE` (MONAI's `sigmoid_focal_loss`; logits only).
    LogSigmoid,
    /// `t·α·(1−p)^γ·(−ln p) + (1−t)(1−α)·p^γ·(−ln(1−p))` (kornia: linear in t).
    PerTerm,
}

/// The per-pixel parameters the fused pass needs: one set per call. Its `Default` (the
/// losses' own defaults) is implemented beside the loss catalogue, in `term.rs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelParams {
    /// BCE positive weight.
    pub pos_weight: f64,
    /// BCE label smoothing.
    pub label_smoothing: f64,
    /// Focal α (None: both classes weigh 1).
    pub focal_alpha: Option<f64>,
    /// Focal γ.
    pub focal_gamma: f64,
    /// Combo's β.
    pub wce_beta: f64,
    /// The focal factor's form for soft targets.
    pub focal_form: FocalForm,
    /// Which log-loss sums the pass computes; the others come back NaN.
    pub log_sums: LogSums,
}

/// The log-loss sums of the fused forward pass (`Stats::bce`, `Stats::focal`, `Stats::wce`):
/// which of them a pass computes. Each costs a logarithm or more per element, where every
/// other sum is a product or an add, so a pass computes only those its request reads
/// ([`PixelParams::from_terms`]: the union over the requested losses). A sum not computed is
/// NaN in the rows the pass returns — never a plausible zero — and a backward pass handed
/// such a row for a loss that reads it refuses it ([`crate::Error::StatsMismatch`]).
/// [`PixelParams::default`] computes all three (what [`crate::Engine::stats`] hands to
/// data-parallel callers that do not know the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSums {
    /// Σ binary cross-entropy (multiclass: −ln p of the target class).
    pub bce: bool,
    /// Σ focal loss.
    pub focal: bool,
    /// Σ weighted cross-entropy (Combo's β; multiclass: −ln p of every class).
    pub wce: bool,
}

impl LogSums {
    /// All three sums.
    pub const ALL: LogSums = LogSums { bce: true, focal: true, wce: true };
    /// None of them.
    pub const NONE: LogSums = LogSums { bce: false, focal: false, wce: false };

    /// Both sets' sums.
    pub fn union(self, other: LogSums) -> LogSums {
        LogSums { bce: self.bce || other.bce, focal: self.focal || other.focal, wce: self.wce || other.wce }
    }

    /// Sets the sums this set does not compute to NaN in each row.
    pub fn blank(self, rows: &mut [Stats]) {
        for row in rows {
            for (computed, sum) in [(self.bce, &mut row.bce), (self.focal, &mut row.focal), (self.wce, &mut row.wce)] {
                if !computed {
                    *sum = f64::NAN;
                }
            }
        }
    }

    /// The first sum of this set that is not finite in a row, as (row, name).
    pub(crate) fn first_missing(self, rows: &[Stats]) -> Option<(usize, &'static str)> {
        rows.iter().enumerate().find_map(|(i, row)| {
            [(self.bce, row.bce, "bce"), (self.focal, row.focal, "focal"), (self.wce, row.wce, "wce")]
                .into_iter()
                .find(|&(read, v, _)| read && !v.is_finite())
                .map(|(_, _, name)| (i, name))
        })
    }
}

impl Default for LogSums {
    /// All three sums.
    fn default() -> Self {
        LogSums::ALL
    }
}

/// Per-pixel parameters being collected from the terms of one request: the first term that
/// sets a per-pixel term fixes it, a later one must agree.
#[derive(Debug, Clone)]
pub(crate) struct PixelClaims {
    /// The parameters collected so far.
    pub params: PixelParams,
    /// The term being collected.
    pub term: usize,
    bce_from: Option<usize>,
    focal_from: Option<usize>,
    wce_from: Option<usize>,
}

impl PixelClaims {
    pub fn new(defaults: PixelParams) -> PixelClaims {
        PixelClaims { params: defaults, term: 0, bce_from: None, focal_from: None, wce_from: None }
    }

    /// BCE's positive weight and label smoothing.
    pub fn bce(&mut self, pos_weight: f64, label_smoothing: f64) -> Result<()> {
        let p = &mut self.params;
        let same = (pos_weight, label_smoothing) == (p.pos_weight, p.label_smoothing);
        claim(&mut self.bce_from, self.term, "BCE", same)?;
        (p.pos_weight, p.label_smoothing) = (pos_weight, label_smoothing);
        Ok(())
    }

    /// The focal term's α, γ and form.
    pub fn focal(&mut self, alpha: Option<f64>, gamma: f64, form: FocalForm) -> Result<()> {
        let p = &mut self.params;
        let same = (alpha, gamma, form) == (p.focal_alpha, p.focal_gamma, p.focal_form);
        claim(&mut self.focal_from, self.term, "focal", same)?;
        (p.focal_alpha, p.focal_gamma, p.focal_form) = (alpha, gamma, form);
        Ok(())
    }

    /// The weighted cross-entropy's β (Combo).
    pub fn wce(&mut self, beta: f64) -> Result<()> {
        let same = beta == self.params.wce_beta;
        claim(&mut self.wce_from, self.term, "weighted-CE", same)?;
        self.params.wce_beta = beta;
        Ok(())
    }
}

/// Records that term `i` sets a per-pixel term; a second term must agree with the first.
fn claim(from: &mut Option<usize>, i: usize, what: &'static str, same: bool) -> Result<()> {
    match *from {
        Some(first) if !same => Err(Error::ConflictingPixelParams { what, first, second: i }),
        Some(_) => Ok(()),
        None => {
            *from = Some(i);
            Ok(())
        }
    }
}
