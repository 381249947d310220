//! The expected values of the peers' own test suites (`tests/fixtures/peer_test_values.json`,
//! each entry with its source repository, path and commit) through the presets, at each source
//! test's own tolerance, on the float64 reference and on the GPU.
mod common;
use segloss::preset::{evaluate, prediction_dims, Array, Preset};
use segloss::Engine;
use serde_json::{json, Value};

/// Entries not run, and why.
const SKIPPED: &[(usize, &str)] = &[
    (72, "smp soft_jaccard_score with dims=[1] then a mean over rows: a functional, no smp loss class aggregates so"),
    (73, "smp soft_jaccard_score with dims=[1] then a mean over rows: a functional, no smp loss class aggregates so"),
    (74, "smp soft_jaccard_score with dims=[1] then a mean over rows: a functional, no smp loss class aggregates so"),
    (101, "kornia's test broadcasts a batch-1 pred against a batch-2 target, which kornia 0.9.0 itself rejects"),
    (102, "kornia's test broadcasts a batch-1 pred against a batch-2 target, which kornia 0.9.0 itself rejects"),
];

/// Entries whose source test kornia 0.9.0 no longer reproduces (written for the pre-0.9.0
/// class-pooled tversky): checked against the installed kornia's value instead.
const INSTALLED_VALUE: &[usize] = &[104, 106];

/// Entries the presets must refuse with an error: `other_act` (an arbitrary callable), and
/// MONAI DiceCELoss without softmax on logits of ±100, whose Dice part MONAI evaluates on the
/// raw logits as if they were probabilities (segloss requires probabilities in [0, 1]).
fn refused(i: usize, e: &Value) -> bool {
    e["params"].get("other_act").is_some() || [59, 60, 61].contains(&i)
}

fn nested(v: &Value) -> (Vec<usize>, Vec<f64>) {
    match v {
        Value::Array(a) => {
            let parts: Vec<_> = a.iter().map(nested).collect();
            let mut dims = vec![a.len()];
            dims.extend(parts.first().map(|p| p.0.clone()).unwrap_or_default());
            (dims, parts.into_iter().flat_map(|p| p.1).collect())
        }
        other => (vec![], vec![other.as_f64().unwrap()]),
    }
}

fn array(v: &Value) -> Array {
    let (dims, vals) = nested(v.get("tensor").unwrap_or(v));
    Array::Float(dims, vals)
}

fn reshape(a: Array, dims: Vec<usize>) -> Array {
    match a {
        Array::Float(_, v) => Array::Float(dims, v),
        Array::Int(_, v) => Array::Int(dims, v),
    }
}

/// A 4-D array from a function of (n, c, h, w).
fn build(dims: [usize; 4], f: impl Fn(usize, usize, usize, usize) -> f64) -> Array {
    let [n, c, h, w] = dims;
    let mut v = Vec::new();
    for i in 0..n {
        for k in 0..c {
            for y in 0..h {
                for x in 0..w {
                    v.push(f(i, k, y, x));
                }
            }
        }
    }
    Array::Float(dims.to_vec(), v)
}

fn labels(n: usize, per_image: &[f64]) -> Array {
    Array::Float(vec![n, 1, per_image.len()], (0..n).flat_map(|_| per_image.to_vec()).collect())
}

/// The inputs of the entries the JSON describes in words (kornia's and two of MONAI's).
fn described(i: usize) -> Option<(Array, Array)> {
    let two_class = |ig: f64| {
        (
            build([2, 2, 1, 4], |_, c, _, x| if (c == 0 && x == 0) || (c == 1 && x >= 1) { 100.0 } else { 0.0 }),
            labels(2, &[0.0, 0.0, ig, ig]),
        )
    };
    Some(match i {
        103 | 104 => two_class(-100.0),
        105 | 106 => two_class(255.0),
        107..=113 => (
            build([4, 3, 1, 4], |_, c, _, x| if (c == 0 && x == 0) || (c == 2 && x >= 1) { 100.0 } else { 0.0 }),
            labels(4, &[0.0, 1.0, 2.0, 2.0]),
        ),
        114 | 115 => (build([2, 3, 1, 2], |_, c, _, _| if c == 0 { 10.0 } else { 1.0 }), labels(2, &[0.0, 0.0])),
        116 => (build([2, 2, 1, 2], |_, c, _, _| if c == 1 { 100.0 } else { 0.0 }), labels(2, &[1.0, 1.0])),
        117 => (build([2, 2, 1, 2], |_, c, _, _| if c == 0 { 100.0 } else { 0.0 }), labels(2, &[1.0, 1.0])),
        118 => (build([2, 1, 1, 2], |_, _, _, _| 1.0), labels(2, &[1.0, 1.0])),
        120 | 121 => (
            build([1, 2, 5, 5], |_, c, _, _| if c == 0 { 1.0 } else { 0.0 }),
            build([1, 2, 5, 5], |_, c, y, x| ((c == 0) != (y == 2 && x == 2)) as u8 as f64),
        ),
        _ => return None,
    })
}

/// The preset name and keyword arguments of an entry.
fn preset_of(e: &Value) -> (String, Value) {
    let peer = e["peer"].as_str().unwrap();
    let name = peer
        .replace("segmentation_models_pytorch.losses._functional.", "smp.")
        .replace("segmentation_models_pytorch.losses.", "smp.")
        .replace("monai.losses.", "monai.")
        .replace("kornia.losses.", "kornia.");
    let mut params = e["params"].clone();
    let m = params.as_object_mut().unwrap();
    // smp's score functionals: 1 − score is the binary loss of probabilities (no absent class here).
    let name = match name.as_str() {
        "smp.soft_dice_score" => "smp.DiceLoss",
        "smp.soft_jaccard_score" => "smp.JaccardLoss",
        "smp.soft_tversky_score" => "smp.TverskyLoss",
        other => other,
    }
    .to_string();
    if peer.contains("_functional") {
        m.insert("mode".into(), json!("binary"));
        m.insert("from_logits".into(), json!(false));
    }
    (name, params)
}

fn tolerance(e: &Value) -> (f64, f64) {
    let t = e["test_tolerance"].as_str().unwrap();
    let num = |key: &str| {
        t.split(key)
            .nth(1)
            .map(|r| r.trim_start_matches(['=', ' ']).split([',', ')', ' ']).next().unwrap().parse::<f64>().unwrap())
    };
    if t.starts_with("abs") {
        (0.0, num("abs").unwrap())
    } else {
        (num("rtol").unwrap_or(0.0), num("atol").unwrap_or(0.0))
    }
}

#[test]
fn peer_test_suite_values() {
    let d: Value = serde_json::from_str(include_str!("fixtures/peer_test_values.json")).expect("peer_test_values.json");
    let entries = d["entries"].as_array().unwrap();
    let engines = [("reference", Engine::cpu()), ("GPU", common::gpu())];
    let (mut passed, mut refused_ok, mut failures) = (0, 0, Vec::new());
    for (i, e) in entries.iter().enumerate() {
        if SKIPPED.iter().any(|(k, _)| *k == i) {
            continue;
        }
        let (name, mut params) = preset_of(e);
        let mut want = e["expected"].clone();
        if INSTALLED_VALUE.contains(&i) {
            want = e["installed_peer_value"].clone();
        }
        // reduction="none" returns a tensor: its mean is the reduction="mean" value.
        if params.get("reduction") == Some(&json!("none")) || want.is_array() {
            let (_, v) = nested(&want);
            want = json!(v.iter().sum::<f64>() / v.len() as f64);
            params.as_object_mut().unwrap().insert("reduction".into(), json!("mean"));
        }
        let want = want.as_f64().unwrap();
        // smp's functionals return a score: the loss is 1 − score.
        let want = if e["peer"].as_str().unwrap().contains("_functional") { 1.0 - want } else { want };
        let (x, t) = match described(i) {
            Some(xt) => xt,
            None => {
                let inputs = e["inputs"].as_object().unwrap();
                let pick = |keys: &[&str]| {
                    inputs.iter().find(|(k, _)| keys.iter().any(|p| k.starts_with(p))).map(|(_, v)| array(v)).unwrap()
                };
                let (x, t) = (pick(&["input", "y_pred", "pred"]), pick(&["target", "y_true"]));
                let shape = inputs.get("shape").and_then(Value::as_str).map(|s| {
                    s.trim_matches(['(', ')'])
                        .split(',')
                        .map(|d| d.trim().parse::<usize>().unwrap())
                        .collect::<Vec<_>>()
                });
                match (shape, x.dims().len()) {
                    (Some(s), _) => (reshape(x, s.clone()), reshape(t, s)),
                    // 1-D smp inputs: one channel, one image.
                    (None, 1) => {
                        let l = x.dims()[0];
                        (reshape(x, vec![1, 1, l]), reshape(t, vec![1, 1, l]))
                    }
                    // [N, C] logits with [N] labels (smp SoftCrossEntropy) or [N, C] targets.
                    (None, 2) => {
                        let (n, c) = (x.dims()[0], x.dims()[1]);
                        let td = if t.dims().len() == 2 { vec![n, c, 1] } else { vec![n, 1] };
                        (reshape(x, vec![n, c, 1]), reshape(t, td))
                    }
                    _ => (x, t),
                }
            }
        };
        let result = Preset::parse(&name, &params);
        if refused(i, e) {
            let got = result
                .clone()
                .and_then(|p| p.parts(prediction_dims(x.dims())?.c))
                .and_then(|parts| evaluate(&engines[0].1, &parts, &x, &t, false));
            match got {
                Err(_) => refused_ok += 1,
                Ok(v) => failures.push(format!("entry {i} ({name}): expected an error, got {}", v.total)),
            }
            continue;
        }
        let (rtol, atol) = tolerance(e);
        let mut ok = true;
        for (which, engine) in &engines {
            let got = result
                .clone()
                .and_then(|p| p.parts(prediction_dims(x.dims())?.c))
                .and_then(|parts| evaluate(engine, &parts, &x, &t, false));
            match got {
                Ok(ev) if (ev.total - want).abs() <= atol + rtol * want.abs() => {}
                Ok(ev) => {
                    failures.push(format!("entry {i} ({name} {params}) {which}: {} vs expected {want}", ev.total));
                    ok = false;
                }
                Err(err) => {
                    failures.push(format!("entry {i} ({name} {params}) {which}: {err}"));
                    ok = false;
                }
            }
        }
        passed += ok as usize;
    }
    println!("{passed} entries reproduced, {refused_ok} refused, {} skipped", SKIPPED.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(passed + refused_ok + SKIPPED.len(), entries.len());
}
