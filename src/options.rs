//! The options of a term that are not the loss's own parameters: how per-image values become
//! one loss ([`Aggregation`]) and how classes are weighted, selected and averaged
//! ([`ClassOptions`]).

use crate::check;
use crate::error::{Error, Result};

/// How per-image values become one loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregation {
    /// The whole batch as one segment: the loss of the summed statistics (the seed's flatten).
    #[default]
    Batch,
    /// The mean over images of each image's loss (images without a valid pixel left out).
    PerImage,
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
    /// Distances between the classes, a C×C matrix row-major, `M[target·C + predicted]`: the
    /// generalized Wasserstein Dice loss's ground cost (no other loss takes it); none means
    /// every confusion costs 1 (M = 1 − I).
    pub class_distances: Option<Vec<f64>>,
}

impl Default for ClassOptions {
    fn default() -> Self {
        ClassOptions {
            weights: None,
            normalize_weights: true,
            selection: ClassSelection::All,
            absent: AbsentClass::Smoothed,
            pool: false,
            class_distances: None,
        }
    }
}

impl ClassOptions {
    /// Checks the weights' values (their count is checked against the batch in `check`).
    pub fn validate(&self) -> Result<()> {
        for &w in self.weights.iter().flatten() {
            check::non_negative("ClassOptions", "weights", w)?;
        }
        for &d in self.class_distances.iter().flatten() {
            check::non_negative("ClassOptions", "class_distances", d)?;
        }
        if let Some(m) = &self.class_distances {
            if !m.iter().any(|&d| d > 0.0) {
                let why = "has no positive distance (it is scaled by its maximum)";
                return Err(check::invalid("ClassOptions", "class_distances", 0.0, why));
            }
        }
        Ok(())
    }

    pub(crate) fn check(&self, classes: usize, term: usize) -> Result<()> {
        if let Some(w) = &self.weights {
            if w.len() != classes {
                return Err(Error::InvalidRequest(format!(
                    "term {term}: {} class weights for {classes} classes",
                    w.len()
                )));
            }
        }
        if let Some(m) = &self.class_distances {
            if m.len() != classes * classes {
                return Err(Error::InvalidRequest(format!(
                    "term {term}: {} class distances for {classes} classes (a {classes}x{classes} matrix has {})",
                    m.len(),
                    classes * classes
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

    /// The weight of `class` (1 without weights).
    pub(crate) fn weight(&self, class: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[class])
    }

    /// The selected classes, in order.
    pub(crate) fn selected(&self, classes: usize) -> Vec<usize> {
        match &self.selection {
            ClassSelection::All => (0..classes).collect(),
            ClassSelection::NoBackground => (1..classes).collect(),
            ClassSelection::Only(list) => list.clone(),
        }
    }

    /// Per class, whether it is selected.
    pub(crate) fn selection_mask(&self, classes: usize) -> Vec<bool> {
        let mut mask = vec![false; classes];
        for k in self.selected(classes) {
            mask[k] = true;
        }
        mask
    }
}

/// A term's options as a standalone loss reads them (everything but the loss itself).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TermOptions<'a> {
    /// The term's index in the request (for messages).
    pub index: usize,
    /// Per image or whole batch.
    pub aggregation: Aggregation,
    /// The term's weight.
    pub weight: f64,
    /// Class weights, selection and averaging.
    pub classes: &'a ClassOptions,
    /// The value an image with an undefined loss counts as (per image).
    pub undefined_images: Option<f64>,
}
