//! segloss's own losses by name (`dice`, `focal`, …) with their parameters as keywords, for the
//! command line and spec files. The names, keywords, parsing and defaults are each loss's own
//! (its module in `src/loss/`); here only the keywords every loss shares.

use super::{part, Activation, InputSpec, Kw, Part, Scale, TargetKind};
use crate::error::Result;
use crate::input::Mode;
use crate::loss::{self, Entry};
use crate::options::{AbsentClass, ClassOptions, ClassSelection};

/// A catalogue entry, by its place in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name(usize);

impl Name {
    fn entry(self) -> &'static Entry {
        &loss::CATALOGUE[self.0]
    }
}

/// Every name, in catalogue order.
pub(crate) fn names() -> Vec<&'static str> {
    loss::CATALOGUE.iter().map(|e| e.name).collect()
}

pub(crate) fn name(n: &str) -> Option<Name> {
    loss::CATALOGUE.iter().position(|e| e.name == n).map(Name)
}

const COMMON: &[&str] =
    &["mode", "aggregation", "ignore_index", "probabilities", "class_weights", "include_background", "absent"];

pub(crate) fn keywords(n: Name) -> Vec<&'static str> {
    [COMMON, n.entry().keywords].concat()
}

pub(crate) fn is_single_channel(kw: &Kw) -> bool {
    kw.opt_str("mode").ok().flatten() == Some("binary")
}

pub(crate) fn parts(n: Name, kw: &Kw, channels: usize) -> Result<Vec<Part>> {
    let entry = n.entry();
    let loss = (entry.parse)(kw)?;
    let default_mode = if !loss.def().applies(Mode::Binary) {
        "multiclass"
    } else if channels == 1 {
        "binary"
    } else {
        "multilabel"
    };
    let mode = kw.choice("mode", default_mode, &["binary", "multilabel", "multiclass"])?;
    let ignore = kw.opt_f64("ignore_index")?;
    let input = if mode == "multiclass" {
        InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore }
    } else {
        let activation = if kw.bool("probabilities", false)? { Activation::Probabilities } else { Activation::Sigmoid };
        InputSpec { activation, target: TargetKind::Float, ignore }
    };
    let term = match kw.choice("aggregation", "batch", &["batch", "per_image"])? {
        "batch" => loss.batch(),
        _ => loss.per_image(),
    };
    let absent = match kw.choice("absent", "smoothed", &["smoothed", "zero", "skip"])? {
        "zero" => AbsentClass::Zero,
        "skip" => AbsentClass::Skip,
        _ => AbsentClass::Smoothed,
    };
    let selection =
        if kw.bool("include_background", true)? { ClassSelection::All } else { ClassSelection::NoBackground };
    let classes = ClassOptions { weights: kw.opt_list("class_weights")?, selection, absent, ..ClassOptions::default() };
    Ok(vec![part(input, entry.name, term.with_classes(classes), Scale::default())])
}
