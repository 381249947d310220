//! Parameter-domain checks shared by the losses and the class options: each names the
//! loss, the parameter, its value and the accepted range.

use crate::error::{Error, Result};

pub(crate) fn invalid(loss: &'static str, param: &'static str, value: f64, reason: &'static str) -> Error {
    Error::InvalidParameter { loss, param, value, reason }
}

pub(crate) fn finite(loss: &'static str, param: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(invalid(loss, param, v, "must be finite"))
    }
}

pub(crate) fn non_negative(loss: &'static str, param: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(loss, param, v, "must be finite and >= 0"))
    }
}

pub(crate) fn unit_interval(loss: &'static str, param: &'static str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(loss, param, v, "must be in [0, 1]"))
    }
}

/// A denominator `sums + smooth` clamped at `eps` is positive only if `smooth + eps > 0`.
pub(crate) fn positive_sum(loss: &'static str, param: &'static str, smooth: f64, eps: f64) -> Result<()> {
    if smooth + eps > 0.0 {
        Ok(())
    } else {
        Err(invalid(loss, param, smooth, "smoothing and eps are both 0: an empty segment would divide by zero"))
    }
}
