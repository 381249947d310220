//! A term of a request: a loss with its aggregation, class options and weight; and the
//! per-pixel parameters a request's terms set together.

use crate::check::finite;
use crate::error::{Error, Result};
use crate::gpu::contract::{TERM_BCE, TERM_FOCAL, TERM_WCE};
use crate::loss::{Bce, Combo, Focal, Loss};
use crate::options::{Aggregation, ClassOptions, TermOptions};
use crate::pixel::{LogSums, PixelClaims, PixelParams};

impl Loss {
    /// This loss aggregated per image (mean over images).
    pub fn per_image(self) -> Term {
        Term {
            loss: self,
            aggregation: Aggregation::PerImage,
            weight: 1.0,
            classes: ClassOptions::default(),
            undefined_images: None,
        }
    }

    /// This loss over the whole batch as one segment.
    pub fn batch(self) -> Term {
        Term {
            loss: self,
            aggregation: Aggregation::Batch,
            weight: 1.0,
            classes: ClassOptions::default(),
            undefined_images: None,
        }
    }
}

/// A loss with its aggregation, its class options and its weight in a weighted sum of losses.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The loss.
    pub loss: Loss,
    /// Per image or whole batch.
    pub aggregation: Aggregation,
    /// Weight in the total whose gradient `value_and_grad` returns.
    pub weight: f64,
    /// How classes are weighted, selected and averaged (multiclass and multilabel).
    pub classes: ClassOptions,
    /// `PerImage`: the value of an image whose loss is undefined (no valid pixel, or every
    /// class it would average skipped or weighted 0). `None` (default) leaves it out of the
    /// mean over images; `Some(v)` counts it as v with zero gradient (kornia counts such an
    /// image as 1, MONAI as its smoothed value, smp's per-image Lovasz as 0).
    pub undefined_images: Option<f64>,
}

impl Term {
    /// The same term with another weight.
    pub fn weighted(mut self, weight: f64) -> Term {
        self.weight = weight;
        self
    }

    /// The same term counting images with an undefined loss as `value` (see `undefined_images`).
    pub fn counting_undefined_images(mut self, value: f64) -> Term {
        self.undefined_images = Some(value);
        self
    }

    /// The same term with other class options.
    pub fn with_classes(mut self, classes: ClassOptions) -> Term {
        self.classes = classes;
        self
    }

    /// Name with aggregation, e.g. `dice/per_image`.
    pub fn label(&self) -> String {
        let agg = match self.aggregation {
            Aggregation::Batch => "batch",
            Aggregation::PerImage => "per_image",
        };
        format!("{}/{}", self.loss.name(), agg)
    }
}

impl From<Loss> for Term {
    fn from(loss: Loss) -> Term {
        loss.batch()
    }
}

impl Term {
    /// Everything but the loss, as a standalone loss reads it; `index` is the term's place
    /// in its request.
    pub(crate) fn options(&self, index: usize) -> TermOptions<'_> {
        TermOptions {
            index,
            aggregation: self.aggregation,
            weight: self.weight,
            classes: &self.classes,
            undefined_images: self.undefined_images,
        }
    }
}

impl Default for PixelParams {
    /// The losses' own defaults (BCE, Focal, Combo's β).
    fn default() -> Self {
        let (b, f, c) = (Bce::default(), Focal::default(), Combo::default());
        PixelParams {
            pos_weight: b.pos_weight,
            label_smoothing: b.label_smoothing,
            focal_alpha: f.alpha,
            focal_gamma: f.gamma,
            wce_beta: c.beta,
            focal_form: f.form,
            log_sums: LogSums::ALL,
        }
    }
}

impl PixelParams {
    /// Validates `terms` and collects their per-pixel parameters. Two terms that need
    /// different values of the same per-pixel term are an error.
    pub fn from_terms(terms: &[Term]) -> Result<PixelParams> {
        if terms.is_empty() {
            return Err(Error::InvalidRequest("no loss requested".into()));
        }
        let mut claims = PixelClaims::new(PixelParams::default());
        for (i, term) in terms.iter().enumerate() {
            term.loss.validate()?;
            finite("Term", "weight", term.weight)?;
            term.classes.validate()?;
            claims.term = i;
            term.loss.def().claim_pixel_params(&mut claims)?;
        }
        let log_sums = terms.iter().fold(LogSums::NONE, |acc, t| acc.union(log_sums_read(t.loss.backward_terms())));
        Ok(PixelParams { log_sums, ..claims.params })
    }
}

/// The log-loss sums a loss reads: those of its backward terms (`SumLoss::backward_terms`,
/// held to the real coefficients by `plan/backward_terms_tests.rs`): a loss whose value
/// reads a sum has a non-zero derivative with respect to it.
fn log_sums_read(backward_terms: u32) -> LogSums {
    LogSums {
        bce: backward_terms & TERM_BCE != 0,
        focal: backward_terms & TERM_FOCAL != 0,
        wce: backward_terms & TERM_WCE != 0,
    }
}
