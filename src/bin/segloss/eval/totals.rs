//! What the dataset rows of an eval report are computed from: the dataset's confusion matrix
//! and, for each mean over images, the exact sum of the images' values and their number.
//! [`Totals`] of disjoint sets of images merge exactly, so a report from the merged totals of
//! shards is the report of one run over all of them (no mean of means, no rounding order).

use super::exact_sum::ExactSum;
use super::surface::SurfaceSums;
use super::Sparse;
use segloss::surface::SurfaceMetrics;
use segloss::Metrics;

/// Per-class metrics, mean IoU (over classes occurring) and pixel accuracy of a confusion matrix.
pub(crate) struct Summary {
    pub(crate) per_class: Vec<Metrics>,
    pub(crate) mean_iou: f64,
    pub(crate) pixel_accuracy: f64,
    pub(crate) pixels: u64,
    /// `--surface`: per class (an image's values, or the means over images); None otherwise
    /// and in the pooled row.
    pub(crate) surface: Option<Vec<SurfaceMetrics>>,
}

/// The summary of confusion counts given as (true class, predicted class, pixels).
pub(crate) fn summarize(counts: impl Iterator<Item = (usize, usize, u64)>, c: usize) -> Summary {
    let (mut tp, mut fp, mut fn_) = (vec![0u64; c], vec![0u64; c], vec![0u64; c]);
    let mut pixels = 0u64;
    for (t, p, n) in counts {
        pixels += n;
        if t == p {
            tp[t] += n;
        } else {
            fp[p] += n;
            fn_[t] += n;
        }
    }
    let mut per_class = Vec::with_capacity(c);
    let mut ious = Vec::new();
    for k in 0..c {
        let m = Metrics::from_counts(tp[k], fp[k], fn_[k]);
        if tp[k] + fp[k] + fn_[k] > 0 {
            ious.push(m.iou);
        }
        per_class.push(m);
    }
    let correct: u64 = tp.iter().sum();
    Summary {
        per_class,
        mean_iou: if ious.is_empty() { 1.0 } else { ious.iter().sum::<f64>() / ious.len() as f64 },
        pixel_accuracy: if pixels == 0 { 1.0 } else { correct as f64 / pixels as f64 },
        pixels,
        surface: None,
    }
}

/// The summary of one image's confusion counts (its report row).
pub(crate) fn image_summary(confusion: &Sparse, c: usize) -> Summary {
    summarize(confusion.iter().map(|&(t, p, n)| (t as usize, p as usize, n)), c)
}

/// The most pixels a report counts, all images together: every count and every sum of
/// counts in the metrics (2·TP + FP + FN) then fits in a u64.
const MAX_TOTAL_PIXELS: u64 = 1 << 62;

/// The exact sums of the per-image values averaged in "mean over images".
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImageSums {
    pub(crate) iou: Vec<ExactSum>,
    pub(crate) dice: Vec<ExactSum>,
    pub(crate) precision: Vec<ExactSum>,
    pub(crate) recall: Vec<ExactSum>,
    pub(crate) mean_iou: ExactSum,
    pub(crate) pixel_accuracy: ExactSum,
}

impl ImageSums {
    fn new(c: usize) -> ImageSums {
        ImageSums {
            iou: vec![ExactSum::default(); c],
            dice: vec![ExactSum::default(); c],
            precision: vec![ExactSum::default(); c],
            recall: vec![ExactSum::default(); c],
            mean_iou: ExactSum::default(),
            pixel_accuracy: ExactSum::default(),
        }
    }

    /// Every sum, per-class lists first: (name, sums), in a fixed order.
    pub(crate) fn lists(&self) -> [(&'static str, &[ExactSum]); 6] {
        [
            ("iou", &self.iou),
            ("dice", &self.dice),
            ("precision", &self.precision),
            ("recall", &self.recall),
            ("mean_iou", std::slice::from_ref(&self.mean_iou)),
            ("pixel_accuracy", std::slice::from_ref(&self.pixel_accuracy)),
        ]
    }

    fn lists_mut(&mut self) -> [&mut [ExactSum]; 6] {
        [
            &mut self.iou,
            &mut self.dice,
            &mut self.precision,
            &mut self.recall,
            std::slice::from_mut(&mut self.mean_iou),
            std::slice::from_mut(&mut self.pixel_accuracy),
        ]
    }

    /// The sums of the lists named as in [`ImageSums::lists`], each read by `read(name, len)`.
    pub(crate) fn read(
        c: usize,
        mut read: impl FnMut(&'static str, usize) -> Result<Vec<ExactSum>, String>,
    ) -> Result<ImageSums, String> {
        let mut sums = ImageSums::new(c);
        let names = sums.lists().map(|(name, list)| (name, list.len()));
        for ((name, len), list) in names.into_iter().zip(sums.lists_mut()) {
            list.clone_from_slice(&read(name, len)?);
        }
        Ok(sums)
    }
}

/// The mergeable accumulators of an eval report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) classes: usize,
    /// The dataset's confusion matrix, C × C (rows: true class).
    pub(crate) confusion: Vec<u64>,
    /// Images scored.
    pub(crate) images: u64,
    pub(crate) sums: ImageSums,
    /// `--surface`: the sums and counts of the surface metrics' means.
    pub(crate) surface: Option<SurfaceSums>,
    /// Σ of the confusion matrix (at most `MAX_TOTAL_PIXELS`).
    pixels: u64,
}

impl Totals {
    pub(crate) fn new(classes: usize, surface: bool) -> Totals {
        Totals {
            classes,
            confusion: vec![0; classes * classes],
            images: 0,
            sums: ImageSums::new(classes),
            surface: surface.then(|| SurfaceSums::new(classes)),
            pixels: 0,
        }
    }

    /// Totals read back from their parts (a partial result), the confusion counts checked.
    pub(crate) fn from_parts(
        classes: usize,
        confusion: &Sparse,
        images: u64,
        sums: ImageSums,
        surface: Option<SurfaceSums>,
    ) -> Result<Totals, String> {
        let mut totals = Totals { images, sums, surface, ..Totals::new(classes, false) };
        for &(t, p, n) in confusion {
            let (t, p) = (t as usize, p as usize);
            if t >= classes || p >= classes {
                return Err(format!("confusion entry ({t}, {p}) is outside {classes} classes"));
            }
            totals.add_pixels(n)?;
            totals.confusion[t * classes + p] += n;
        }
        Ok(totals)
    }

    fn add_pixels(&mut self, n: u64) -> Result<(), String> {
        match self.pixels.checked_add(n) {
            Some(total) if total <= MAX_TOTAL_PIXELS => {
                self.pixels = total;
                Ok(())
            }
            _ => Err("more than 2^62 pixels in all".into()),
        }
    }

    /// Adds one image's confusion counts and, with `--surface`, its surface metrics; returns
    /// the image's summary (its report row).
    pub(crate) fn add_image(
        &mut self,
        confusion: &Sparse,
        surface: Option<&[SurfaceMetrics]>,
    ) -> Result<Summary, String> {
        match (&mut self.surface, surface) {
            (Some(sums), Some(image)) => sums.add(image)?,
            (None, None) => {}
            (Some(_), None) => return Err("an image without surface metrics in a --surface report".into()),
            (None, Some(_)) => return Err("an image with surface metrics in a report without --surface".into()),
        }
        let c = self.classes;
        let mut pixels = 0u64;
        for &(t, p, n) in confusion {
            if t as usize >= c || p as usize >= c {
                return Err(format!("confusion entry ({t}, {p}) is outside {c} classes"));
            }
            pixels = pixels.checked_add(n).ok_or("pixel counts overflow")?;
        }
        self.add_pixels(pixels)?;
        for &(t, p, n) in confusion {
            self.confusion[t as usize * c + p as usize] += n;
        }
        let mut summary = image_summary(confusion, c);
        summary.surface = surface.map(<[SurfaceMetrics]>::to_vec);
        let per_class = [|m: &Metrics| m.iou, |m: &Metrics| m.dice, |m: &Metrics| m.precision, |m: &Metrics| m.recall];
        for (pick, sums) in per_class.into_iter().zip(self.sums.lists_mut()) {
            for (sum, m) in sums.iter_mut().zip(&summary.per_class) {
                sum.add(pick(m))?;
            }
        }
        self.sums.mean_iou.add(summary.mean_iou)?;
        self.sums.pixel_accuracy.add(summary.pixel_accuracy)?;
        self.images += 1;
        Ok(summary)
    }

    /// Adds the totals of another, disjoint set of images.
    pub(crate) fn merge(&mut self, other: &Totals) -> Result<(), String> {
        if other.classes != self.classes {
            return Err(format!("{} classes where {} were expected", other.classes, self.classes));
        }
        self.add_pixels(other.pixels)?;
        for (a, &b) in self.confusion.iter_mut().zip(&other.confusion) {
            *a += b;
        }
        self.images = self.images.checked_add(other.images).ok_or("image counts overflow")?;
        match (&mut self.surface, &other.surface) {
            (Some(a), Some(b)) => a.merge(b)?,
            (None, None) => {}
            _ => return Err("totals with and without surface metrics".into()),
        }
        for (mine, theirs) in self.sums.lists_mut().into_iter().zip(other.sums.lists()) {
            for (a, b) in mine.iter_mut().zip(theirs.1) {
                a.merge(b)?;
            }
        }
        Ok(())
    }

    /// The dataset rows: pooled (from the confusion matrix) and mean over images (each exact
    /// sum rounded once, divided by the number of images). At least one image is needed.
    pub(crate) fn summaries(&self) -> (Summary, Summary) {
        let c = self.classes;
        let pooled =
            summarize(self.confusion.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| (i / c, i % c, n)), c);
        let n = self.images as f64;
        let mean = |s: &ExactSum| s.to_f64() / n;
        let s = &self.sums;
        let mean_summary = Summary {
            per_class: (0..c)
                .map(|k| Metrics {
                    iou: mean(&s.iou[k]),
                    dice: mean(&s.dice[k]),
                    precision: mean(&s.precision[k]),
                    recall: mean(&s.recall[k]),
                })
                .collect(),
            mean_iou: mean(&s.mean_iou),
            pixel_accuracy: mean(&s.pixel_accuracy),
            pixels: pooled.pixels,
            surface: self.surface.as_ref().map(SurfaceSums::means),
        };
        (pooled, mean_summary)
    }
}
