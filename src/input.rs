//! A batch of any mode ([`Input`]) and what its statistics rows describe ([`Layout`],
//! [`Mode`]).

use crate::batch::{BinaryBatch, MulticlassBatch};

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

/// Images, classes and mode of a batch's statistics. Rows are image-major: row `i·C + c` is
/// image i, class c (C = 1 in binary mode).
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

/// A batch of any mode.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Binary or multilabel (sigmoid per channel).
    Binary(BinaryBatch<'a>),
    /// Multiclass (softmax over classes).
    Multiclass(MulticlassBatch<'a>),
}

impl<'a> From<&BinaryBatch<'a>> for Input<'a> {
    fn from(b: &BinaryBatch<'a>) -> Input<'a> {
        Input::Binary(*b)
    }
}

impl<'a> From<&MulticlassBatch<'a>> for Input<'a> {
    fn from(b: &MulticlassBatch<'a>) -> Input<'a> {
        Input::Multiclass(*b)
    }
}

impl Input<'_> {
    /// Images, classes and mode.
    pub fn layout(&self) -> Layout {
        match self {
            Input::Binary(b) => Layout {
                images: b.shape.n,
                classes: b.channels,
                mode: if b.channels == 1 { Mode::Binary } else { Mode::Multilabel },
            },
            Input::Multiclass(m) => Layout { images: m.shape.n, classes: m.classes, mode: Mode::Multiclass },
        }
    }

    /// Elements of the input (logits), which is also the gradient's length.
    pub fn len(&self) -> usize {
        match self {
            Input::Binary(b) => b.input.len(),
            Input::Multiclass(m) => m.logits.len(),
        }
    }

    /// Whether the input has no element (never true of a validated batch).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
