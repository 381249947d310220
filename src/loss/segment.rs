//! From a segment's class rows to one loss value: the class-wise mean of a per-class loss
//! (class weights, selection, absent-class policy), the pooled ("micro") form, and the sum of
//! two parts that may each be undefined. Rows of one segment are its C classes in order.

use super::SumLoss;
use crate::options::{AbsentClass, ClassOptions};
use crate::stats::{Coefficients, Stats};

/// A segment's loss and its per-class coefficients.
pub(crate) type SegmentLoss = (f64, Vec<Coefficients>);

/// The class-wise mean, or the pooled classes with `ClassOptions::pool`.
pub(crate) fn class_mean(loss: &dyn SumLoss, rows: &[Stats], opts: &ClassOptions) -> Option<SegmentLoss> {
    if opts.pool {
        pooled(loss, rows, opts)
    } else {
        classwise(loss, rows, opts)
    }
}

/// A per-class loss evaluated once on the weighted sum of the selected classes' statistics.
pub(crate) fn pooled(loss: &dyn SumLoss, rows: &[Stats], opts: &ClassOptions) -> Option<SegmentLoss> {
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
    if loss.is_region() && s.st == 0.0 {
        match opts.absent {
            AbsentClass::Skip => return None,
            AbsentClass::Zero => return Some((0.0, vec![Coefficients::default(); rows.len()])),
            AbsentClass::Smoothed => {}
        }
    }
    let (v, d) = loss.row(&s)?;
    let mut coefs = vec![Coefficients::default(); rows.len()];
    for k in opts.selected(rows.len()) {
        coefs[k] = d.scaled(opts.weight(k));
    }
    Some((v, coefs))
}

/// A per-class loss averaged over the selected classes with the term's weights and
/// absent-class policy.
pub(crate) fn classwise(loss: &dyn SumLoss, rows: &[Stats], opts: &ClassOptions) -> Option<SegmentLoss> {
    let region = loss.is_region();
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
        let (v, d) = loss.row(s)?;
        num += w * v;
        den += norm;
        coefs[k] = d.scaled(w);
    }
    if den <= 0.0 {
        return None;
    }
    Some((num / den, coefs.iter().map(|c| c.scaled(1.0 / den)).collect()))
}

/// wa·a + wb·b over the parts that are defined (None when neither is).
pub(crate) fn combine_defined(
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
