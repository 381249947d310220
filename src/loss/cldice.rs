//! Soft clDice (Shit et al. 2021), as MONAI 1.6.1's `SoftclDiceLoss` defines it: the soft
//! skeletons S_p of the prediction and S_t of the target (iterated soft erosions and openings,
//! [`crate::cpu::skeleton`]), then over a segment
//!
//! - topology precision  Tprec = (Σ S_p·t + s_nr) / (Σ S_p + s_dr),
//! - topology sensitivity Tsens = (Σ S_t·p + s_nr) / (Σ S_t + s_dr),
//! - clDice = 1 − 2·Tprec·Tsens / (Tprec + Tsens + s).
//!
//! MONAI's `SoftDiceclDiceLoss` is (1 − α)·its `DiceLoss` + α·this: the presets compose the
//! two. The target's skeleton is a constant; the gradient reaches p directly (Tsens) and
//! through S_p (PyTorch's pooling backward). A segment is one image (MONAI: the sums run over
//! the channels and the pixels of each image, then a mean over the images) or the batch, with
//! the selected classes pooled into it (`ClassOptions::pool`, MONAI's form) or averaged class
//! by class. The skeletons run on the host in f64 on every engine.

use super::planes::{back_to_input, need_2d_or_3d, per_plane, planes, Planes};
use super::{Catalogued, Family, Keywords, LossDef, Runner, StandaloneLoss};
use crate::cpu::skeleton::Skeleton;
use crate::error::Result;
use crate::input::Input;
use crate::options::{Aggregation, ClassOptions, TermOptions};

/// Soft clDice (MONAI `SoftclDiceLoss`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClDice {
    /// Soft erosions of the skeleton (MONAI `iter_`: 3).
    pub iterations: u32,
    /// Added to the numerators of Tprec and Tsens (MONAI: 1).
    pub smooth_nr: f64,
    /// Added to their denominators (MONAI: 1; must be > 0: an empty skeleton gives 0/0).
    pub smooth_dr: f64,
    /// Added to the denominator of the harmonic mean (MONAI: 1e-4; must be > 0).
    pub smooth: f64,
}

impl ClDice {
    /// The most soft erosions accepted: each keeps its intermediate images for the backward.
    pub const MAX_ITERATIONS: u32 = 1024;

    /// `iterations` from a keyword's number: a whole number in 0..=[`ClDice::MAX_ITERATIONS`].
    pub(crate) fn iterations_from(x: f64) -> Option<u32> {
        ((0.0..=Self::MAX_ITERATIONS as f64).contains(&x) && x.fract() == 0.0).then_some(x as u32)
    }
}

impl Default for ClDice {
    fn default() -> Self {
        ClDice { iterations: 3, smooth_nr: 1.0, smooth_dr: 1.0, smooth: 1e-4 }
    }
}

/// The sums of one segment: Σ S_p·t, Σ S_p, Σ S_t·p, Σ S_t.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    skel_p_t: f64,
    skel_p: f64,
    skel_t_p: f64,
    skel_t: f64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.skel_p_t += o.skel_p_t;
        self.skel_p += o.skel_p;
        self.skel_t_p += o.skel_t_p;
        self.skel_t += o.skel_t;
    }
}

/// A segment's loss and its derivatives: ∂/∂S_p(j) = `skel_p_per_t`·t_j + `skel_p_const`,
/// ∂/∂p(j) directly = `p_per_skel_t`·S_t(j).
struct Segment {
    value: f64,
    skel_p_per_t: f64,
    skel_p_const: f64,
    p_per_skel_t: f64,
}

impl ClDice {
    fn segment(&self, s: &Sums) -> Segment {
        let (prec_num, prec_den) = (s.skel_p_t + self.smooth_nr, s.skel_p + self.smooth_dr);
        let (sens_num, sens_den) = (s.skel_t_p + self.smooth_nr, s.skel_t + self.smooth_dr);
        let (tprec, tsens) = (prec_num / prec_den, sens_num / sens_den);
        let sum = tprec + tsens + self.smooth;
        // clDice = 1 − 2·A·B/(A + B + s): ∂/∂A = −2B(B + s)/sum², ∂/∂B = −2A(A + s)/sum².
        let d_prec = -2.0 * tsens * (tsens + self.smooth) / (sum * sum);
        let d_sens = -2.0 * tprec * (tprec + self.smooth) / (sum * sum);
        Segment {
            value: 1.0 - 2.0 * tprec * tsens / sum,
            skel_p_per_t: d_prec / prec_den,
            skel_p_const: -d_prec * prec_num / (prec_den * prec_den),
            p_per_skel_t: d_sens / sens_den,
        }
    }
}

/// Which segment each selected plane belongs to, and how many there are.
fn segments(planes: &Planes, opts: &TermOptions) -> (Vec<usize>, usize) {
    let classes: Vec<usize> = {
        let mut c: Vec<usize> = planes.which.iter().map(|&(_, c)| c).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let per_class = if opts.classes.pool { 1 } else { classes.len() };
    let images = match opts.aggregation {
        Aggregation::Batch => 1,
        Aggregation::PerImage => planes.which.iter().map(|&(i, _)| i + 1).max().unwrap_or(0),
    };
    let of = planes
        .which
        .iter()
        .map(|&(i, c)| {
            let image = if opts.aggregation == Aggregation::Batch { 0 } else { i };
            let class = if opts.classes.pool { 0 } else { classes.binary_search(&c).unwrap_or(0) };
            image * per_class + class
        })
        .collect();
    (of, images * per_class)
}

impl LossDef for ClDice {
    fn validate(&self) -> Result<()> {
        if self.iterations > Self::MAX_ITERATIONS {
            let why = "must be at most 1024 (ClDice::MAX_ITERATIONS): each erosion keeps its images";
            return Err(crate::check::invalid("ClDice", "iterations", self.iterations as f64, why));
        }
        crate::check::non_negative("ClDice", "smooth_nr", self.smooth_nr)?;
        for (name, v, why) in [
            ("smooth_dr", self.smooth_dr, "must be finite and > 0 (an empty skeleton would give 0/0)"),
            ("smooth", self.smooth, "must be finite and > 0 (Tprec = Tsens = 0 would give 0/0)"),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(crate::check::invalid("ClDice", name, v, why));
            }
        }
        Ok(())
    }

    fn check_classes(&self, classes: &ClassOptions) -> std::result::Result<(), String> {
        match classes.weights {
            Some(_) => Err("class weights are not supported by clDice".into()),
            None => Ok(()),
        }
    }

    fn family(&self) -> Family<'_> {
        Family::Standalone(self)
    }
}

impl StandaloneLoss for ClDice {
    fn evaluate(
        &self,
        _runner: Runner,
        input: &Input,
        opts: &TermOptions,
        grad: bool,
    ) -> Result<(f64, Option<Vec<f32>>)> {
        let planes = planes(input, opts)?;
        need_2d_or_3d(&planes, opts, "clDice")?;
        let (hw, dims, iters) = (planes.pixels, planes.spatial.clone(), self.iterations as usize);
        let (of, count) = segments(&planes, opts);
        if count == 0 {
            return Ok((0.0, grad.then(|| vec![0.0; input.len()])));
        }
        // Per plane: its share of the sums, S_t, and — the backward through S_p being linear
        // in ∂L/∂S_p = a·t + b, with (a, b) known only once every plane is summed — the way
        // back of t and of 1, so that no skeleton outlives its plane.
        let results = per_plane(planes.which.len(), |k| {
            let (p, t) = (&planes.p[k * hw..(k + 1) * hw], &planes.t[k * hw..(k + 1) * hw]);
            let sp = Skeleton::of(p, &dims, iters);
            let st = Skeleton::of(t, &dims, iters).skel;
            let mut s = Sums::default();
            for j in 0..hw {
                s.skel_p_t += sp.skel[j] * t[j];
                s.skel_p += sp.skel[j];
                s.skel_t_p += st[j] * p[j];
                s.skel_t += st[j];
            }
            let back = grad.then(|| (sp.backward(t), sp.backward(&vec![1.0; hw])));
            (s, st, back)
        });
        let mut sums = vec![Sums::default(); count];
        for (k, (s, _, _)) in results.iter().enumerate() {
            sums[of[k]].add(s);
        }
        let segs: Vec<Segment> = sums.iter().map(|s| self.segment(s)).collect();
        let value = segs.iter().map(|s| s.value).sum::<f64>() / count as f64;
        if !grad {
            return Ok((value, None));
        }
        let scale = opts.weight / count as f64;
        let mut dp = Vec::with_capacity(planes.p.len());
        for (k, (_, st, back)) in results.iter().enumerate() {
            let (seg, (of_t, of_one)) = (&segs[of[k]], back.as_ref().expect("computed with grad"));
            dp.extend((0..hw).map(|j| {
                let through = seg.skel_p_per_t * of_t[j] + seg.skel_p_const * of_one[j];
                scale * (seg.p_per_skel_t * st[j] + through)
            }));
        }
        Ok((value, Some(back_to_input(input, &planes, &dp))))
    }
}

impl Catalogued for ClDice {
    const NAME: &'static str = "cldice";
    const KEYWORDS: &'static [&'static str] = &["iterations", "smooth_nr", "smooth_dr", "smooth"];
    const GPU_KINDS: &'static [&'static str] = &[];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = ClDice::default();
        let x = kw.f64("iterations", d.iterations as f64)?;
        let Some(iterations) = ClDice::iterations_from(x) else {
            return Err(crate::check::invalid("cldice", "iterations", x, "must be a whole number in 0..=1024"));
        };
        Ok(ClDice {
            iterations,
            smooth_nr: kw.f64("smooth_nr", d.smooth_nr)?,
            smooth_dr: kw.f64("smooth_dr", d.smooth_dr)?,
            smooth: kw.f64("smooth", d.smooth)?,
        })
    }

    fn examples() -> Vec<Self> {
        vec![
            ClDice::default(),
            ClDice { iterations: 1, smooth_nr: 0.0, smooth_dr: 0.5, smooth: 1.0 },
            ClDice { iterations: 0, smooth_nr: 2.0, smooth_dr: 1.0, smooth: 1e-4 },
        ]
    }
}
