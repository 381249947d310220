//! Scoring one pair: decode both files (sizes checked on the headers first), map values to
//! classes, count the confusion matrix exactly, keep soft predictions for the losses and
//! write the overlay.

use super::budget::{Budget, Ticket};
use super::{Options, Sparse};
use segloss::io::mask::{probe_volume as probe, read_mask_volume_limited as read_mask_limited, write_rgb_png, Mask};
use segloss::surface::SurfaceMetrics;
use segloss::Engine;
use std::path::{Path, PathBuf};

/// Soft predictions kept for the losses: (scores [C,H,W], labels (255 = ignored), C, H, W).
pub(super) type Soft = (Vec<f32>, Vec<u8>, usize, usize, usize);

/// One scored image.
pub(super) struct Scored {
    pub(super) stem: String,
    /// The prediction file, named when its losses fail.
    pub(super) pred: PathBuf,
    pub(super) confusion: Sparse,
    /// Soft predictions, for the losses.
    pub(super) soft: Option<Soft>,
    /// `--surface`: per class.
    pub(super) surface: Option<Vec<SurfaceMetrics>>,
    /// Its share of the decoding budget, given back when the image is dropped.
    _ticket: Ticket,
}

/// Class of an ignored ground-truth pixel.
const IGNORED: u32 = u32::MAX;

/// The class of a ground-truth value (`IGNORED` = ignored).
fn gt_class(v: i64, classes: usize, binary: bool, ignore: Option<i64>, at: (usize, usize)) -> Result<u32, String> {
    if ignore == Some(v) {
        return Ok(IGNORED);
    }
    if binary {
        return Ok((v > 0) as u32);
    }
    if v < 0 || v as u64 >= classes as u64 {
        return Err(format!(
            "ground-truth class {v} at row {}, column {} is not below {classes} (and not the ignore index)",
            at.0, at.1
        ));
    }
    Ok(v as u32)
}

pub(super) fn score(
    o: &Options,
    budget: &std::sync::Arc<Budget>,
    stem: &str,
    pred: &Path,
    gt: &Path,
    engine: Option<&Engine>,
) -> Result<Scored, String> {
    let binary = o.classes.is_none();
    let c = o.classes.unwrap_or(2);
    let (pshow, gshow) = (pred.display(), gt.display());
    // Sizes from the headers first: the budget, the pair's agreement and the channels are
    // checked before a pixel is decoded.
    let gp = probe(gt).map_err(|e| format!("{gshow}: {e}"))?;
    let pp = probe(pred).map_err(|e| format!("{pshow}: {e}"))?;
    if gp.scores {
        return Err(format!("{gshow}: ground truth must be a label map (integers), not scores"));
    }
    for (show, p) in [(&gshow, &gp), (&pshow, &pp)] {
        if p.values() > o.max_pixels || p.h == 0 || p.w == 0 || p.c == 0 {
            // The reader says why, in the same words for every file.
            read_mask_limited(if std::ptr::eq(p, &gp) { gt } else { pred }, o.max_pixels)
                .map_err(|e| format!("{show}: {e}"))?;
        }
    }
    let shape = |p: &segloss::io::mask::Probe| {
        if p.d > 1 {
            format!("{}x{}x{}", p.d, p.h, p.w)
        } else {
            format!("{}x{}", p.h, p.w)
        }
    };
    if (pp.d, pp.h, pp.w) != (gp.d, gp.h, gp.w) {
        return Err(format!("{pshow}: prediction is {} but the ground truth is {}", shape(&pp), shape(&gp)));
    }
    let want = if binary { 1 } else { c };
    if pp.scores && pp.c != want {
        return Err(format!("{pshow}: {} score channels for {want} classes", pp.c));
    }
    let ticket = Budget::take(budget, gp.values().saturating_add(pp.values()));
    // A 3-D volume's slices are stacked: h counts the rows of all of them.
    let (depth, h, w) = (gp.d, gp.d * gp.h, gp.w);
    let gt_mask = read_mask_limited(gt, o.max_pixels).map_err(|e| format!("{gshow}: {e}"))?;
    let Mask::Labels { h: gh, w: gw, values: gt_values } = gt_mask else {
        return Err(format!("{gshow}: ground truth must be a label map (integers), not scores"));
    };
    if (gh, gw) != (h, w) {
        return Err(format!("{gshow}: the file changed while it was read"));
    }
    let mut labels = Vec::with_capacity(h * w);
    for (i, &v) in gt_values.iter().enumerate() {
        labels.push(gt_class(v, c, binary, o.ignore, (i / w, i % w)).map_err(|e| format!("{gshow}: {e}"))?);
    }
    drop(gt_values);
    let pred_mask = read_mask_limited(pred, o.max_pixels).map_err(|e| format!("{pshow}: {e}"))?;
    if pred_mask.size() != (h, w) {
        return Err(format!("{pshow}: the file changed while it was read"));
    }
    let (pred_class, soft): (Vec<u32>, _) = match pred_mask {
        Mask::Labels { values, .. } => {
            let max = values.iter().copied().max().unwrap_or(0);
            let classes = if binary {
                let scale = if max <= 1 {
                    1.0
                } else if max <= 255 {
                    255.0
                } else {
                    65535.0
                };
                values
                    .iter()
                    .map(|&v| if max <= 1 { (v == 1) as u32 } else { (v as f64 / scale >= o.threshold) as u32 })
                    .collect()
            } else {
                if let Some((i, &v)) = values.iter().enumerate().find(|(_, &v)| v < 0 || v as u64 >= c as u64) {
                    return Err(format!(
                        "{pshow}: predicted class {v} at row {}, column {} is not below {c}",
                        i / w,
                        i % w
                    ));
                }
                values.iter().map(|&v| v as u32).collect()
            };
            (classes, None)
        }
        Mask::Scores { c: pc, values, .. } => {
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                let hw = h * w;
                let (k, px) = (i / hw, i % hw);
                return Err(format!(
                    "{pshow}: score {v} (not finite) at channel {k}, row {}, column {}",
                    px / w,
                    px % w
                ));
            }
            if binary && pc == 1 {
                let to_p = |x: f32| if o.logits { 1.0 / (1.0 + (-x as f64).exp()) } else { x as f64 };
                let classes = values.iter().map(|&x| (to_p(x) >= o.threshold) as u32).collect();
                let lab: Vec<u8> = labels.iter().map(|&l| if l == IGNORED { 255 } else { l as u8 }).collect();
                (classes, Some((values, lab, 1, h, w)))
            } else if !binary && pc == c {
                let hw = h * w;
                let classes = (0..hw)
                    .map(|i| {
                        (0..c).fold(0, |best, k| if values[k * hw + i] > values[best * hw + i] { k } else { best })
                            as u32
                    })
                    .collect();
                let lab: Vec<u8> = labels.iter().map(|&l| if l == IGNORED { 255 } else { l.min(254) as u8 }).collect();
                (classes, (c <= 254).then_some((values, lab, c, h, w)))
            } else {
                return Err(format!("{pshow}: {pc} score channels for {want} classes"));
            }
        }
    };
    let confusion = count(&labels, &pred_class, c);
    let surface = match (&o.surface, engine) {
        (Some(setup), Some(engine)) => Some(
            super::surface::compute(engine, setup, &pred_class, &labels, c, [depth, h / depth, w])
                .map_err(|e| format!("{pshow}: {e}"))?,
        ),
        _ => None,
    };
    if let Some(dir) = &o.overlay {
        let rgb: Vec<u8> = labels
            .iter()
            .zip(&pred_class)
            .flat_map(|(&t, &p)| match t {
                IGNORED => [0, 0, 0],
                t if t == p && p != 0 => [40, 200, 60], // true positive: green
                t if p != 0 && p != t => [220, 40, 40], // false positive (or wrong class): red
                t if t != 0 && p == 0 => [40, 90, 230], // false negative: blue
                _ => [70, 70, 70],                      // true background: grey
            })
            .collect();
        write_rgb_png(&dir.join(format!("{stem}.png")), w, h, &rgb).map_err(|e| format!("overlay: {e}"))?;
    }
    Ok(Scored { stem: stem.to_string(), pred: pred.to_path_buf(), confusion, soft, surface, _ticket: ticket })
}

/// The non-zero confusion counts of one image: dense counters for few classes, a map for
/// many (memory grows with the pixels, never with C²).
fn count(labels: &[u32], pred: &[u32], c: usize) -> Sparse {
    if c <= 64 {
        let mut dense = vec![0u64; c * c];
        for (&t, &p) in labels.iter().zip(pred) {
            if t != IGNORED {
                dense[t as usize * c + p as usize] += 1;
            }
        }
        return dense
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| ((i / c) as u32, (i % c) as u32, n))
            .collect();
    }
    let mut map: std::collections::HashMap<(u32, u32), u64> = std::collections::HashMap::new();
    for (&t, &p) in labels.iter().zip(pred) {
        if t != IGNORED {
            *map.entry((t, p)).or_default() += 1;
        }
    }
    let mut v: Sparse = map.into_iter().map(|((t, p), n)| (t, p, n)).collect();
    v.sort_unstable();
    v
}
