//! Lovasz hinge and Lovasz softmax (Berman et al. 2018): not functions of sums but of a sort
//! per segment, so a [`StandaloneLoss`]: its own passes (keys, radix sort, scan, reduce; and
//! the gradient through the permutation) on the GPU (`gpu/lovasz.rs`) or on the reference
//! (`cpu/lovasz.rs`). Here: the structs, and the mean over segments and classes of the
//! per-problem results ([`lovasz_value`]) with its backward scales.

use super::{Catalogued, Family, Keywords, LossDef, Runner, StandaloneLoss};
use crate::batch::InputKind;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::input::{Input, Mode};
use crate::options::{Aggregation, TermOptions};
use crate::stats::LovaszRow;

/// Lovasz hinge (Berman et al. 2018, `lovasz_hinge`): per segment, errors
/// e = 1 − x·(2y − 1) of the logits x and labels y = [t ≥ 0.5], sorted in descending order;
/// loss = Σ relu(e_sorted)·∇J, ∇J the Lovasz extension gradient of the Jaccard loss.
/// `.per_image()`: one problem per image (multilabel: all its channels together), mean over
/// images; `.batch()`: the whole batch as one problem. Ignored pixels are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LovaszHinge;

/// Lovasz softmax (Berman et al. 2018, `lovasz_softmax`): per class c, errors |fg_c − p_c| of
/// the softmax p, sorted descending; loss_c = Σ e·∇J; the mean over the classes of the
/// term's `ClassOptions` selection (weighted as there), only those present in the segment's
/// labels when `present_only` (Berman's default `classes="present"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LovaszSoftmax {
    /// Skip classes without a true pixel in the segment.
    pub present_only: bool,
}

impl Default for LovaszSoftmax {
    fn default() -> Self {
        LovaszSoftmax { present_only: true }
    }
}

/// The GPU run of one Lovasz term: rows, and with scales the gradient.
type GpuRun<'a> = &'a dyn Fn(&GpuContext, crate::gpu::LovaszScales) -> Result<(Vec<LovaszRow>, Option<Vec<f32>>)>;
/// The reference run: rows and, with scales, the gradient.
type ReferenceRun<'a> = &'a dyn Fn(Option<&[f64]>) -> Result<(Vec<LovaszRow>, Vec<f64>)>;

/// A term's value from its problems' rows (`per_row` rows per segment) and, with `grad`, the
/// gradient of weight·value: the GPU computes the scales from the rows between its passes.
fn evaluate_rows(
    runner: Runner,
    term: &TermOptions,
    per_row: usize,
    present_only: bool,
    grad: bool,
    gpu: GpuRun,
    reference: ReferenceRun,
) -> Result<(f64, Option<Vec<f32>>)> {
    let value = std::cell::Cell::new(0.0);
    let scales = |rows: &[LovaszRow]| {
        let (v, s) = lovasz_value(term, rows, per_row, present_only);
        value.set(v);
        s
    };
    let gradient = match runner {
        Runner::Gpu(ctx) => {
            let (rows, g) = gpu(ctx, Some(&scales as &dyn Fn(&[LovaszRow]) -> Vec<f64>).filter(|_| grad))?;
            if !grad {
                scales(&rows);
            }
            g
        }
        Runner::Reference => {
            let (rows, _) = reference(None)?;
            let s = scales(&rows);
            match grad {
                true => Some(reference(Some(&s))?.1.into_iter().map(|g| g as f32).collect()),
                false => None,
            }
        }
    };
    Ok((value.get(), gradient))
}

impl LossDef for LovaszHinge {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn applies(&self, mode: Mode) -> bool {
        mode != Mode::Multiclass
    }

    fn family(&self) -> Family<'_> {
        Family::Standalone(self)
    }
}

impl StandaloneLoss for LovaszHinge {
    fn evaluate(
        &self,
        runner: Runner,
        input: &Input,
        term: &TermOptions,
        grad: bool,
    ) -> Result<(f64, Option<Vec<f32>>)> {
        let Input::Binary(b) = input else {
            return Err(Error::InvalidRequest(format!("term {}: the Lovasz hinge takes a binary batch", term.index)));
        };
        if b.input_kind == InputKind::Probabilities {
            return Err(Error::InvalidRequest(format!(
                "term {}: the Lovasz hinge takes logits, not probabilities",
                term.index
            )));
        }
        let per_image = term.aggregation == Aggregation::PerImage;
        evaluate_rows(
            runner,
            term,
            1,
            false,
            grad,
            &|ctx, scales| crate::gpu::lovasz::lovasz_hinge(ctx, b, per_image, scales),
            &|scales| crate::cpu::lovasz::lovasz_hinge(b, per_image, scales),
        )
    }
}

impl LossDef for LovaszSoftmax {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn applies(&self, mode: Mode) -> bool {
        mode == Mode::Multiclass
    }

    fn family(&self) -> Family<'_> {
        Family::Standalone(self)
    }
}

impl StandaloneLoss for LovaszSoftmax {
    fn evaluate(
        &self,
        runner: Runner,
        input: &Input,
        term: &TermOptions,
        grad: bool,
    ) -> Result<(f64, Option<Vec<f32>>)> {
        let Input::Multiclass(m) = input else {
            return Err(Error::InvalidRequest(format!(
                "term {}: the Lovasz softmax takes a multiclass batch",
                term.index
            )));
        };
        let per_image = term.aggregation == Aggregation::PerImage;
        // The selection; presence is decided from the rows.
        let wanted = term.classes.selection_mask(m.classes);
        evaluate_rows(
            runner,
            term,
            m.classes,
            self.present_only,
            grad,
            &|ctx, scales| crate::gpu::lovasz::lovasz_softmax(ctx, m, per_image, &wanted, scales),
            &|scales| crate::cpu::lovasz::lovasz_softmax(m, per_image, &wanted, scales),
        )
    }
}

impl Catalogued for LovaszHinge {
    const NAME: &'static str = "lovasz_hinge";
    const KEYWORDS: &'static [&'static str] = &[];
    const GPU_KINDS: &'static [&'static str] = &[];

    fn from_keywords(_kw: &dyn Keywords) -> Result<Self> {
        Ok(LovaszHinge)
    }

    fn examples() -> Vec<Self> {
        vec![LovaszHinge]
    }
}

impl Catalogued for LovaszSoftmax {
    const NAME: &'static str = "lovasz_softmax";
    const KEYWORDS: &'static [&'static str] = &["present_only"];
    const GPU_KINDS: &'static [&'static str] = &[];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        Ok(LovaszSoftmax { present_only: kw.bool("present_only", LovaszSoftmax::default().present_only)? })
    }

    fn examples() -> Vec<Self> {
        vec![LovaszSoftmax::default(), LovaszSoftmax { present_only: false }]
    }
}

/// An included segment: its index, its (class, weight) pairs and its denominator.
type SegmentClasses = (usize, Vec<(usize, f64)>, f64);

/// A Lovasz term's value from its rows (`classes` rows per segment; 1 for the hinge), and
/// per row the scale of its backward pass: ∂(weight·value)/∂loss_row.
pub(crate) fn lovasz_value(
    term: &TermOptions,
    rows: &[LovaszRow],
    classes: usize,
    present_only: bool,
) -> (f64, Vec<f64>) {
    let opts = term.classes;
    let mut scales = vec![0.0; rows.len()];
    let mut included = 0usize;
    let mut sum = 0.0;
    // (segment, [(class, weight)], denominator) of every included segment.
    let mut per_segment: Vec<SegmentClasses> = Vec::new();
    let counted = match (term.aggregation, term.undefined_images) {
        (Aggregation::PerImage, Some(v)) => Some(v),
        _ => None,
    };
    for (s, seg) in rows.chunks(classes).enumerate() {
        if seg.iter().all(|r| r.valid == 0) {
            if let Some(v) = counted {
                included += 1;
                sum += v;
            }
            continue;
        }
        let selected: Vec<usize> = if classes == 1 { vec![0] } else { opts.selected(classes) };
        let mut den = 0.0;
        let mut num = 0.0;
        let mut used = Vec::new();
        for k in selected {
            if present_only && seg[k].positives == 0 {
                continue;
            }
            let w = if classes == 1 { 1.0 } else { opts.weight(k) };
            num += w * seg[k].loss;
            den += if opts.normalize_weights || classes == 1 { w } else { 1.0 };
            used.push((k, w));
        }
        if den <= 0.0 {
            if let Some(v) = counted {
                included += 1;
                sum += v;
            }
            continue;
        }
        included += 1;
        sum += num / den;
        per_segment.push((s, used, den));
    }
    if included == 0 {
        return (0.0, scales);
    }
    for (s, used, den) in per_segment {
        for (k, w) in used {
            scales[s * classes + k] = term.weight * w / (den * included as f64);
        }
    }
    (sum / included as f64, scales)
}
