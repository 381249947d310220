//! From per-(image, class) statistics to loss values and backward coefficients: class
//! selection, class weights, absent classes, per-image or pooled aggregation, and the losses
//! defined over all classes of a segment at once (cross-entropy, softmax focal, Generalized
//! Dice, Dice + CE, multiclass Combo).
//!
//! Rows of statistics are laid out image-major: row `i·C + c` is image i, class c (C = 1 in
//! binary mode). A *segment* is one image (`Aggregation::PerImage`) or the whole batch with
//! each class's rows summed (`Aggregation::Batch`).

use crate::error::{Error, Result};
use crate::loss::{self, Coefficients, GdlWeighting, Loss, Reduction, Term};
use crate::stats::Stats;

/// What the rows of statistics describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One sigmoid channel: one row per image.
    Binary,
    /// C independent sigmoid channels: one row per (image, channel).
    Multilabel,
    /// Softmax over C classes: one row per (image, class).
    Multiclass,
}

/// Images, classes and mode of a batch's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Images.
    pub images: usize,
    /// Classes (channels) per image.
    pub classes: usize,
    /// The mode.
    pub mode: Mode,
}

impl Layout {
    /// Binary mode with `images` images.
    pub fn binary(images: usize) -> Layout {
        Layout { images, classes: 1, mode: Mode::Binary }
    }

    /// Rows of statistics.
    pub fn rows(&self) -> usize {
        self.images * self.classes
    }
}

/// Which classes a class-wise loss averages over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClassSelection {
    /// Every class.
    #[default]
    All,
    /// Every class but class 0 (`include_background=False`).
    NoBackground,
    /// These classes.
    Only(Vec<usize>),
}

/// What a class with no true pixel in a segment contributes to a region loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AbsentClass {
    /// Its loss as the formula gives it (with smoothing: near 0 if nothing is predicted).
    #[default]
    Smoothed,
    /// Zero loss and zero gradient, still counted in the mean (smp).
    Zero,
    /// Left out of the mean (mean over present classes).
    Skip,
}

/// Class weighting, selection and absent-class policy of a term.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassOptions {
    /// One weight per class (None: all 1). Also the class weights of cross-entropy and the
    /// per-class α of the softmax focal loss.
    pub weights: Option<Vec<f64>>,
    /// Divide the weighted sum over classes by Σ weights (true) or by the number of classes
    /// averaged (false, as MONAI).
    pub normalize_weights: bool,
    /// The classes averaged.
    pub selection: ClassSelection,
    /// Absent-class policy of region losses (Dice, IoU, Tversky, BCE-Dice, Combo).
    pub absent: AbsentClass,
    /// Pool the selected classes into one segment before the loss ("micro" averaging, as
    /// kornia's `dice_loss(average="micro")`): the statistics are Σ_c w_c·S_c and the loss is
    /// evaluated once on them, instead of averaging per-class losses.
    pub pool: bool,
}

impl Default for ClassOptions {
    fn default() -> Self {
        ClassOptions {
            weights: None,
            normalize_weights: true,
            selection: ClassSelection::All,
            absent: AbsentClass::Smoothed,
            pool: false,
        }
    }
}

impl ClassOptions {
    /// Checks the weights' values (their count is checked against the batch in `check`).
    pub fn validate(&self) -> Result<()> {
        for &w in self.weights.iter().flatten() {
            loss::non_negative("ClassOptions", "weights", w)?;
        }
        Ok(())
    }

    fn check(&self, classes: usize, term: usize) -> Result<()> {
        if let Some(w) = &self.weights {
            if w.len() != classes {
                return Err(Error::InvalidRequest(format!(
                    "term {term}: {} class weights for {classes} classes",
                    w.len()
                )));
            }
        }
        if let ClassSelection::Only(list) = &self.selection {
            if let Some(&bad) = list.iter().find(|&&c| c >= classes) {
                return Err(Error::InvalidRequest(format!("term {term}: class {bad} selected but C = {classes}")));
            }
            if let Some(dup) = list.iter().enumerate().find(|(i, c)| list[..*i].contains(c)) {
                return Err(Error::InvalidRequest(format!("term {term}: class {} selected twice", dup.1)));
            }
        }
        Ok(())
    }

    fn weight(&self, class: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[class])
    }

    fn selected(&self, classes: usize) -> Vec<usize> {
        match &self.selection {
            ClassSelection::All => (0..classes).collect(),
            ClassSelection::NoBackground => (1..classes).collect(),
            ClassSelection::Only(list) => list.clone(),
        }
    }
}

/// Checks that every term fits the batch's mode and class count.
pub fn check(terms: &[Term], layout: &Layout) -> Result<()> {
    for (i, term) in terms.iter().enumerate() {
        term.classes.check(layout.classes, i)?;
        let fits = match (&term.loss, layout.mode) {
            (Loss::CrossEntropy(_) | Loss::DiceCe(_) | Loss::LovaszSoftmax(_), m) => m == Mode::Multiclass,
            (Loss::LovaszHinge(_), m) => m != Mode::Multiclass,
            (Loss::Bce(_) | Loss::BceDice(_), m) => m != Mode::Multiclass,
            _ => true,
        };
        if !fits {
            let hint = match layout.mode {
                Mode::Multiclass => "use CrossEntropy / DiceCe / LovaszSoftmax for softmax outputs",
                _ => "CrossEntropy, DiceCe and LovaszSoftmax need a multiclass batch; use Bce / BceDice / LovaszHinge",
            };
            return Err(Error::InvalidRequest(format!(
                "term {i} ({}) does not apply in {:?} mode: {hint}",
                term.loss.name(),
                layout.mode
            )));
        }
        if matches!(term.loss, Loss::GeneralizedDice(_)) && term.classes.weights.is_some() {
            return Err(Error::InvalidRequest(format!("term {i}: Generalized Dice computes its own class weights")));
        }
    }
    Ok(())
}

/// The values of `terms` over the rows of statistics, and per row the coefficients of the
/// weighted total Σ_k weight_k·L_k (what the backward pass needs). `check` must have passed.
pub fn evaluate(terms: &[Term], rows: &[Stats], layout: &Layout) -> (Vec<f64>, Vec<Coefficients>) {
    let c = layout.classes;
    let mut coefficients = vec![Coefficients::default(); rows.len()];
    let values = terms
        .iter()
        .map(|term| {
            let segments: Vec<Vec<Stats>> = match term.aggregation {
                loss::Aggregation::PerImage => rows.chunks(c).map(<[Stats]>::to_vec).collect(),
                loss::Aggregation::Batch => {
                    vec![(0..c).map(|k| Stats::total(rows.iter().skip(k).step_by(c))).collect()]
                }
            };
            let results: Vec<_> = segments.iter().map(|seg| segment_value(term, seg, layout.mode)).collect();
            let counted = match (term.aggregation, term.undefined_images) {
                (loss::Aggregation::PerImage, Some(v)) => Some(v),
                _ => None,
            };
            let undefined = results.iter().filter(|r| r.is_none()).count();
            let included = results.iter().flatten().count() + if counted.is_some() { undefined } else { 0 };
            if included == 0 {
                return 0.0;
            }
            let scale = term.weight / included as f64;
            let mut sum = if undefined > 0 { counted.map_or(0.0, |v| v * undefined as f64) } else { 0.0 };
            for (s, result) in results.iter().enumerate() {
                let Some((v, d)) = result else { continue };
                sum += v;
                // Per image: segment s is image s. Batch: the one segment feeds every image.
                let images: Vec<usize> = match term.aggregation {
                    loss::Aggregation::PerImage => vec![s],
                    loss::Aggregation::Batch => (0..layout.images).collect(),
                };
                for i in images {
                    for (k, dk) in d.iter().enumerate() {
                        if !rows[i * c + k].is_empty() {
                            coefficients[i * c + k] = coefficients[i * c + k].plus(&dk.scaled(scale));
                        }
                    }
                }
            }
            sum / included as f64
        })
        .collect();
    (values, coefficients)
}

/// One segment's loss and per-class coefficients; `None` when the segment has no valid
/// pixel or every class it would average is skipped.
fn segment_value(term: &Term, rows: &[Stats], mode: Mode) -> Option<(f64, Vec<Coefficients>)> {
    if rows.iter().all(Stats::is_empty) {
        return None;
    }
    let opts = &term.classes;
    let multiclass = mode == Mode::Multiclass;
    match &term.loss {
        Loss::CrossEntropy(ce) => cross_entropy(ce.label_smoothing, ce.reduction, rows, opts),
        Loss::DiceCe(dc) => {
            // A part that is undefined for the segment (Dice: every class skipped; CE: no
            // weight) contributes nothing; the segment counts while either part is defined.
            let d = classwise(&Loss::Dice(dc.dice), rows, opts);
            let e = cross_entropy(dc.ce.label_smoothing, dc.ce.reduction, rows, opts);
            combine_defined(dc.weight_dice, d, dc.weight_ce, e, rows.len())
        }
        Loss::GeneralizedDice(g) => generalized_dice(g, rows, opts),
        Loss::Focal(f) if multiclass => Some(softmax_focal(f.alpha, f.reduction, rows, opts)),
        Loss::Combo(cb) if multiclass => {
            // α·CE − (1−α)·(mean Dice score) = α·CE + (1−α)·DiceLoss − (1−α).
            let dice = loss::Dice { eps: cb.eps, ..loss::Dice::default().smooth(cb.smooth) };
            let d = classwise(&Loss::Dice(dice), rows, opts);
            let has_dice = d.is_some();
            let e = cross_entropy(0.0, Reduction::Mean, rows, opts);
            let (v, c) = combine_defined(1.0 - cb.ce_ratio, d, cb.ce_ratio, e, rows.len())?;
            Some((if has_dice { v - (1.0 - cb.ce_ratio) } else { v }, c))
        }
        Loss::Tversky(t) if t.gamma_after_class_mean && t.gamma != 1.0 => {
            // smp: (mean_c loss_c)^γ.
            let base = Loss::Tversky(loss::Tversky { gamma: 1.0, ..*t });
            let (v, coefs) = if opts.pool { pooled(&base, rows, opts)? } else { classwise(&base, rows, opts)? };
            let slope = if v > 0.0 { t.gamma * v.powf(t.gamma - 1.0) } else { 0.0 };
            Some((v.powf(t.gamma), coefs.iter().map(|c| c.scaled(slope)).collect()))
        }
        other if opts.pool => pooled(other, rows, opts),
        other => classwise(other, rows, opts),
    }
}

/// A per-class loss evaluated once on the weighted sum of the selected classes' statistics.
fn pooled(loss: &Loss, rows: &[Stats], opts: &ClassOptions) -> Option<SegmentLoss> {
    let mut s = Stats::default();
    for k in opts.selected(rows.len()) {
        let (r, w) = (&rows[k], opts.weight(k));
        s.sp += w * r.sp;
        s.st += w * r.st;
        s.tp += w * r.tp;
        s.spp += w * r.spp;
        s.stt += w * r.stt;
        s.sad += w * r.sad;
        s.bce += w * r.bce;
        s.focal += w * r.focal;
        s.wce += w * r.wce;
        s.count += r.count;
    }
    if s.is_empty() {
        return None;
    }
    let region = !matches!(loss, Loss::Bce(_) | Loss::Focal(_));
    if region && s.st == 0.0 {
        match opts.absent {
            AbsentClass::Skip => return None,
            AbsentClass::Zero => return Some((0.0, vec![Coefficients::default(); rows.len()])),
            AbsentClass::Smoothed => {}
        }
    }
    let (v, d) = loss.value_and_coefficients(&s)?;
    let mut coefs = vec![Coefficients::default(); rows.len()];
    for k in opts.selected(rows.len()) {
        coefs[k] = d.scaled(opts.weight(k));
    }
    Some((v, coefs))
}

/// wa·a + wb·b over the parts that are defined (None when neither is).
fn combine_defined(
    wa: f64,
    a: Option<SegmentLoss>,
    wb: f64,
    b: Option<SegmentLoss>,
    classes: usize,
) -> Option<SegmentLoss> {
    if a.is_none() && b.is_none() {
        return None;
    }
    let zero = || (0.0, vec![Coefficients::default(); classes]);
    let (a, b) = (a.unwrap_or_else(zero), b.unwrap_or_else(zero));
    let coefs = a.1.iter().zip(&b.1).map(|(x, y)| x.scaled(wa).plus(&y.scaled(wb))).collect();
    Some((wa * a.0 + wb * b.0, coefs))
}

/// A segment's loss and its per-class coefficients.
type SegmentLoss = (f64, Vec<Coefficients>);

/// A per-class loss averaged over the selected classes with the term's weights and
/// absent-class policy.
fn classwise(loss: &Loss, rows: &[Stats], opts: &ClassOptions) -> Option<(f64, Vec<Coefficients>)> {
    let region = !matches!(loss, Loss::Bce(_) | Loss::Focal(_));
    let mut coefs = vec![Coefficients::default(); rows.len()];
    let (mut num, mut den) = (0.0, 0.0);
    for k in opts.selected(rows.len()) {
        let s = &rows[k];
        if s.is_empty() {
            continue;
        }
        let w = opts.weight(k);
        let norm = if opts.normalize_weights { w } else { 1.0 };
        if region && s.st == 0.0 {
            match opts.absent {
                AbsentClass::Skip => continue,
                AbsentClass::Zero => {
                    den += norm;
                    continue;
                }
                AbsentClass::Smoothed => {}
            }
        }
        let (v, d) = loss.value_and_coefficients(s)?;
        num += w * v;
        den += norm;
        coefs[k] = d.scaled(w);
    }
    if den <= 0.0 {
        return None;
    }
    Some((num / den, coefs.iter().map(|c| c.scaled(1.0 / den)).collect()))
}

/// Multiclass cross-entropy from the rows: `bce` = Σ over pixels of class c of −ln p_c,
/// `wce` = Σ over all pixels of −ln p_c, `st` = pixels of class c.
fn cross_entropy(eps: f64, reduction: Reduction, rows: &[Stats], opts: &ClassOptions) -> Option<SegmentLoss> {
    let c = rows.len() as f64;
    let den = match reduction {
        Reduction::Mean => rows.iter().enumerate().map(|(k, s)| opts.weight(k) * s.st).sum::<f64>(),
        Reduction::Sum => 1.0,
    };
    if den <= 0.0 {
        return None;
    }
    let mut value = 0.0;
    let coefs = rows
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let w = opts.weight(k);
            value += ((1.0 - eps) * w * s.bce + eps / c * w * s.wce) / den;
            Coefficients { bce: (1.0 - eps) * w / den, wce: eps / c * w / den, ..Default::default() }
        })
        .collect();
    Some((value, coefs))
}

/// Softmax focal loss: `focal` row c = Σ over pixels of class c of (1−p_c)^γ·(−ln p_c);
/// α_c from the class weights, else α for classes ≥ 1 and 1−α for class 0 (kornia), else 1.
fn softmax_focal(
    alpha: Option<f64>,
    reduction: Reduction,
    rows: &[Stats],
    opts: &ClassOptions,
) -> (f64, Vec<Coefficients>) {
    let count = rows.iter().map(|s| s.count).max().unwrap_or(0).max(1) as f64;
    let scale = match reduction {
        Reduction::Mean => 1.0 / count,
        Reduction::Sum => 1.0,
    };
    let mut value = 0.0;
    let coefs = rows
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let a = match (&opts.weights, alpha) {
                (Some(w), _) => w[k],
                (None, Some(a)) => {
                    if k == 0 {
                        1.0 - a
                    } else {
                        a
                    }
                }
                (None, None) => 1.0,
            };
            value += a * s.focal * scale;
            Coefficients { focal: a * scale, ..Default::default() }
        })
        .collect();
    (value, coefs)
}

fn generalized_dice(
    g: &loss::GeneralizedDice,
    rows: &[Stats],
    opts: &ClassOptions,
) -> Option<(f64, Vec<Coefficients>)> {
    let selected = opts.selected(rows.len());
    if selected.is_empty() {
        return None;
    }
    let raw = |st: f64| match g.weighting {
        GdlWeighting::Square => 1.0 / (st * st),
        GdlWeighting::Simple => 1.0 / st,
        GdlWeighting::Uniform => 1.0,
    };
    let finite_max = selected.iter().map(|&k| raw(rows[k].st)).filter(|w| w.is_finite()).fold(f64::NAN, f64::max);
    let weight = |k: usize| {
        let w = raw(rows[k].st);
        if w.is_finite() {
            w
        } else if finite_max.is_finite() {
            finite_max
        } else {
            g.all_absent_weight
        }
    };
    let tp = |s: &Stats| match g.tp_form {
        loss::TpForm::Product => s.tp,
        loss::TpForm::SoftL1 => (s.sp + s.st - s.sad) / 2.0,
    };
    let (mut num, mut den) = (g.smooth_nr, g.smooth_dr);
    for &k in &selected {
        num += 2.0 * weight(k) * tp(&rows[k]);
        den += weight(k) * (rows[k].sp + rows[k].st);
    }
    let mut coefs = vec![Coefficients::default(); rows.len()];
    for &k in &selected {
        let w = weight(k);
        // loss = 1 − num/den: ∂/∂TP_k = −2w/den, ∂/∂SP_k = num·w/den².
        let sp = num * w / (den * den);
        coefs[k] = match g.tp_form {
            loss::TpForm::Product => Coefficients { tp: -2.0 * w / den, sp, ..Default::default() },
            loss::TpForm::SoftL1 => Coefficients { sp, smin: -2.0 * w / den, ..Default::default() },
        };
    }
    Some((1.0 - num / den, coefs))
}

/// One Lovasz problem's result: a segment (hinge) or a (segment, class) pair (softmax).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LovaszRow {
    /// Σ relu(e_sorted)·∇J.
    pub loss: f64,
    /// Valid (not ignored) pixels.
    pub valid: u64,
    /// Pixels labelled 1 (hinge: t ≥ 0.5; softmax: of this class).
    pub positives: u64,
}

/// An included segment: its index, its (class, weight) pairs and its denominator.
type SegmentClasses = (usize, Vec<(usize, f64)>, f64);

/// A Lovasz term's value from its rows (`classes` rows per segment; 1 for the hinge), and
/// per row the scale of its backward pass: ∂(weight·value)/∂loss_row.
pub fn lovasz_value(term: &Term, rows: &[LovaszRow], classes: usize) -> (f64, Vec<f64>) {
    let opts = &term.classes;
    let present_only = matches!(term.loss, Loss::LovaszSoftmax(l) if l.present_only);
    let mut scales = vec![0.0; rows.len()];
    let mut included = 0usize;
    let mut sum = 0.0;
    // (segment, [(class, weight)], denominator) of every included segment.
    let mut per_segment: Vec<SegmentClasses> = Vec::new();
    let counted = match (term.aggregation, term.undefined_images) {
        (crate::loss::Aggregation::PerImage, Some(v)) => Some(v),
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
