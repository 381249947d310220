//! Keyword arguments of a preset: typed getters whose errors name the preset and the key, and
//! the one range check every number passes.

use super::{bad, PARAM_LIMIT};
use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// Keyword arguments of one preset, with typed getters whose errors name the preset and key.
pub(crate) struct Kw<'a> {
    pub preset: &'a str,
    pub map: &'a Map<String, Value>,
}

impl Kw<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn err(&self, key: &str, why: impl std::fmt::Display) -> Error {
        let v = self.map.get(key).map_or("(default)".to_string(), |v| v.to_string());
        bad(format!("{}: {key}={v}: {why}", self.preset))
    }

    pub fn is_set(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn f64(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match scalar(v) {
                Some(x) => self.in_range(key, x).map(Some),
                None => Err(self.err(key, "expected a number")),
            },
        }
    }

    /// Every number of every keyword lies in [-PARAM_LIMIT, PARAM_LIMIT]: beyond it the f32
    /// arithmetic of the GPU path would overflow to a NaN where the f64 reference does not.
    fn in_range(&self, key: &str, x: f64) -> Result<f64> {
        if x.abs() <= PARAM_LIMIT {
            Ok(x)
        } else {
            Err(self.err(key, format!("outside the accepted range [-{PARAM_LIMIT:e}, {PARAM_LIMIT:e}]")))
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.err(key, "expected true or false")),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(key, "expected a string")),
        }
    }

    pub fn str_or<'b>(&'b self, key: &str, default: &'b str) -> Result<&'b str> {
        Ok(self.opt_str(key)?.unwrap_or(default))
    }

    /// One of `accepted` (default `default`).
    pub fn choice<'b>(&'b self, key: &str, default: &'b str, accepted: &[&str]) -> Result<&'b str> {
        let v = self.str_or(key, default)?;
        if accepted.contains(&v) {
            Ok(v)
        } else {
            Err(self.err(key, format!("accepted: {}", accepted.join(", "))))
        }
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>> {
        match self.opt_f64(key)? {
            None => Ok(None),
            Some(x) if x.fract() == 0.0 => Ok(Some(x as i64)),
            Some(_) => Err(self.err(key, "expected an integer")),
        }
    }

    /// A number or a list of numbers (also `{"tensor": [...]}`), as a list.
    pub fn opt_list(&self, key: &str) -> Result<Option<Vec<f64>>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let v = v.get("tensor").unwrap_or(v);
        if let Some(x) = scalar(v) {
            return Ok(Some(vec![self.in_range(key, x)?]));
        }
        let list = flatten(v).ok_or_else(|| self.err(key, "expected a number or a list of numbers"))?;
        for &x in &list {
            self.in_range(key, x)?;
        }
        Ok(Some(list))
    }

    /// Whether the value is a list (not a scalar).
    pub fn is_list(&self, key: &str) -> bool {
        self.get(key).map(|v| v.get("tensor").unwrap_or(v)).is_some_and(Value::is_array)
    }

    /// A list of class indices.
    pub fn opt_classes(&self, key: &str) -> Result<Option<Vec<usize>>> {
        let Some(list) = self.opt_list(key)? else { return Ok(None) };
        list.iter()
            .map(|&x| {
                if x >= 0.0 && x.fract() == 0.0 {
                    Ok(x as usize)
                } else {
                    Err(self.err(key, "expected class indices >= 0"))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Errs when `key` is set to anything but one of the values segloss reproduces.
    pub fn unsupported(&self, key: &str, why: &str) -> Result<()> {
        if self.is_set(key) {
            Err(self.err(key, why))
        } else {
            Ok(())
        }
    }
}

impl crate::loss::Keywords for Kw<'_> {
    fn f64(&self, key: &str, default: f64) -> Result<f64> {
        Kw::f64(self, key, default)
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        Kw::opt_f64(self, key)
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool> {
        Kw::bool(self, key, default)
    }

    fn choice(&self, key: &str, default: &'static str, accepted: &[&'static str]) -> Result<&'static str> {
        let v = Kw::choice(self, key, default, accepted)?;
        Ok(accepted.iter().copied().find(|a| *a == v).unwrap_or(default))
    }

    fn is_set(&self, key: &str) -> bool {
        Kw::is_set(self, key)
    }

    fn is_null(&self, key: &str) -> bool {
        matches!(self.map.get(key), Some(Value::Null))
    }
}

fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(*b as u8 as f64),
        Value::Array(a) if a.len() == 1 => scalar(&a[0]).filter(|_| !a[0].is_array()),
        _ => None,
    }
}

fn flatten(v: &Value) -> Option<Vec<f64>> {
    match v {
        Value::Array(a) => {
            let mut out = Vec::new();
            for x in a {
                match x {
                    Value::Array(_) => out.extend(flatten(x)?),
                    _ => out.push(x.as_f64()?),
                }
            }
            Some(out)
        }
        _ => None,
    }
}
