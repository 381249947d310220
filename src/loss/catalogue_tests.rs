//! Catalogue-wide checks of the parameter domains: every loss's example parameter sets are
//! accepted, and a non-finite number given to any numeric keyword of any loss is refused as
//! an `InvalidParameter` that names that parameter, before any data is read.

use super::{Keywords, CATALOGUE};
use crate::error::{Error, Result};
use std::cell::Cell;

/// Keyword arguments where one keyword holds `value` and every other is unset.
struct OneNumber {
    key: &'static str,
    value: f64,
    read_as_number: Cell<bool>,
}

impl Keywords for OneNumber {
    fn f64(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }
    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        if key == self.key {
            self.read_as_number.set(true);
            return Ok(Some(self.value));
        }
        Ok(None)
    }
    fn bool(&self, _key: &str, default: bool) -> Result<bool> {
        Ok(default)
    }
    fn choice(&self, _key: &str, default: &'static str, _accepted: &[&'static str]) -> Result<&'static str> {
        Ok(default)
    }
    fn is_set(&self, key: &str) -> bool {
        key == self.key
    }
    fn is_null(&self, _key: &str) -> bool {
        false
    }
}

#[test]
fn every_example_parameter_set_is_accepted() {
    for entry in CATALOGUE {
        let examples = (entry.examples)();
        assert!(!examples.is_empty(), "{}: no examples", entry.name);
        for loss in examples {
            loss.validate().unwrap_or_else(|e| panic!("{}: {loss:?} refused: {e}", entry.name));
        }
    }
}

#[test]
fn a_non_finite_number_is_refused_naming_its_parameter() {
    for entry in CATALOGUE {
        let mut numeric = Vec::new();
        for &key in entry.keywords {
            for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let kw = OneNumber { key, value, read_as_number: Cell::new(false) };
                let result = (entry.parse)(&kw).and_then(|loss| loss.validate());
                if !kw.read_as_number.get() {
                    // A boolean or a choice: not this test's business.
                    result.unwrap_or_else(|e| panic!("{} {key} left at its default: {e}", entry.name));
                    continue;
                }
                if !numeric.contains(&key) {
                    numeric.push(key);
                }
                match result {
                    Err(Error::InvalidParameter { param, .. }) => assert!(
                        param.starts_with(key) || key.starts_with(param),
                        "{} {key} = {value}: the error names {param}",
                        entry.name
                    ),
                    other => panic!("{} {key} = {value}: {other:?}", entry.name),
                }
            }
        }
        // Written out, so that a keyword that stops being read as a number is noticed.
        let expected = NUMERIC.iter().find(|(n, _)| *n == entry.name).map_or(&[][..], |(_, k)| k);
        assert_eq!(numeric, expected, "{}: the numeric keywords probed", entry.name);
    }
}

/// The numeric keywords of each loss (the others are booleans and choices; a loss not listed
/// has none).
const NUMERIC: &[(&str, &[&str])] = &[
    ("dice", &["smooth", "smooth_nr", "smooth_dr", "eps"]),
    ("iou", &["smooth", "eps"]),
    ("tversky", &["alpha", "beta", "smooth", "eps", "gamma"]),
    ("bce", &["pos_weight", "label_smoothing"]),
    ("bce_dice", &["pos_weight", "label_smoothing", "smooth", "weight_bce", "weight_dice"]),
    ("focal", &["alpha", "gamma"]),
    ("combo", &["ce_ratio", "beta", "smooth", "eps"]),
    ("cross_entropy", &["label_smoothing"]),
    ("dice_ce", &["smooth", "label_smoothing", "weight_dice", "weight_ce"]),
    ("generalized_dice", &["smooth_nr", "smooth_dr"]),
    ("mcc", &["eps", "smooth_nr", "smooth_dr"]),
    ("hausdorff_dt", &["alpha"]),
    ("cldice", &["iterations", "smooth_nr", "smooth_dr", "smooth"]),
    ("wasserstein_dice", &["smooth_nr", "smooth_dr"]),
];
