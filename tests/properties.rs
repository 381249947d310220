//! Property tests over the readers and parsers that take untrusted input (issue 14): the .npy
//! reader (bytes and files), the PNG reader, the preset/spec keyword parser, and the CLI end
//! to end on generated and mutated files. The property: no panic, no allocation beyond what
//! the input's size justifies, and either an error or the correct value. Bounded to well
//! under a minute in all (a few hundred cases per reader, a few dozen CLI runs).
#[path = "common/files.rs"]
mod files;
use files::*;
use proptest::prelude::*;
use segloss::io::mask::{read_mask_limited, Mask};
use segloss::io::npy::{Npy, NpyData};
use segloss::preset::Preset;
use std::path::Path;

/// A valid .npy of a few elements of some dtype.
fn valid_npy() -> impl Strategy<Value = Npy> {
    let shape = prop::collection::vec(1usize..4, 1..4);
    (shape, 0u8..4).prop_map(|(shape, kind)| {
        let n: usize = shape.iter().product();
        let data = match kind {
            0 => NpyData::F32((0..n).map(|i| i as f32 * 0.5 - 1.0).collect()),
            1 => NpyData::F64((0..n).map(|i| i as f64 * 0.25).collect()),
            2 => NpyData::U8((0..n).map(|i| (i % 7) as u8).collect()),
            _ => NpyData::I64((0..n).map(|i| i as i64 - 2).collect()),
        };
        Npy { shape, data }
    })
}

/// Mutations of a byte string: flipped bytes, a cut, inserted bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Insert(i, v)),
    ]
}

fn mutate(mut bytes: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Set(i, b) => {
                let i = i % bytes.len();
                bytes[i] = *b;
            }
            Mutation::Truncate(i) => bytes.truncate(i % bytes.len()),
            Mutation::Insert(i, v) => {
                let i = i % bytes.len();
                bytes.splice(i..i, v.iter().copied());
            }
        }
    }
    bytes
}

/// Header texts whose values lie (shapes, dtypes, lengths).
fn lying_header() -> impl Strategy<Value = Vec<u8>> {
    let shape = prop_oneof![
        Just("(18446744073709551615,)".to_string()),
        Just("(4294967296, 4294967296)".to_string()),
        Just("(100000, 100000)".to_string()),
        Just("(-1,)".to_string()),
        Just("()".to_string()),
        Just("(3,".to_string()),
        prop::collection::vec(0usize..1 << 20, 0..5)
            .prop_map(|v| format!("({})", v.iter().map(|d| format!("{d},")).collect::<String>())),
    ];
    let descr = prop::sample::select(vec!["<f4", "<f8", "<f2", "|u1", "<i8", ">f4", "<c8", "O", ""]);
    let version = prop::sample::select(vec![1u8, 2, 3, 4]);
    let body = prop::collection::vec(any::<u8>(), 0..64);
    (shape, descr, version, body, any::<bool>()).prop_map(|(shape, descr, version, body, lie_len)| {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY".to_vec();
        out.extend_from_slice(&[version, 0]);
        let len = if lie_len { u32::MAX as usize } else { header.len() };
        if version == 1 {
            out.extend_from_slice(&(len.min(u16::MAX as usize) as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(len as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&body);
        out
    })
}

fn elements(d: &NpyData) -> usize {
    match d {
        NpyData::F32(v) | NpyData::F16(v) => v.len(),
        NpyData::F64(v) => v.len(),
        NpyData::U8(v) => v.len(),
        NpyData::U16(v) => v.len(),
        NpyData::I32(v) => v.len(),
        NpyData::I64(v) => v.len(),
    }
}

/// The .npy reader on bytes and on a file agree, never panic, and an array read has exactly
/// the elements its shape declares, within the file's size.
fn check_npy(bytes: &[u8], dir: &Path) -> Result<(), TestCaseError> {
    let parsed = Npy::parse(bytes);
    let path = dir.join("case.npy");
    std::fs::write(&path, bytes).unwrap();
    let read = Npy::read(&path);
    match (&parsed, &read) {
        (Ok(a), Ok(b)) => {
            // Bit for bit (NaN != NaN under PartialEq).
            prop_assert_eq!(&a.shape, &b.shape);
            prop_assert_eq!(a.to_bytes(), b.to_bytes());
            prop_assert_eq!(elements(&a.data), a.shape.iter().product::<usize>());
            prop_assert!(elements(&a.data) <= bytes.len());
        }
        (Err(_), Err(e)) => prop_assert!(!e.0.is_empty()),
        _ => prop_assert!(false, "parse and read disagree: {:?} vs {:?}", parsed.is_ok(), read.is_ok()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn npy_mutations_are_an_error_or_the_declared_array(npy in valid_npy(), ms in prop::collection::vec(mutation(), 0..4)) {
        let dir = temp_dir("prop-npy");
        let bytes = mutate(npy.to_bytes(), &ms);
        check_npy(&bytes, &dir)?;
        if ms.is_empty() {
            prop_assert_eq!(Npy::parse(&bytes).unwrap(), npy);
        }
    }

    #[test]
    fn npy_lying_headers_are_errors_without_large_allocations(bytes in lying_header()) {
        let dir = temp_dir("prop-npy-lie");
        check_npy(&bytes, &dir)?;
    }

    #[test]
    fn npy_random_bytes_are_errors(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(Npy::parse(&bytes).is_err() || bytes.starts_with(b"\x93NUMPY"));
    }
}

/// A valid small grayscale PNG (8 bits) of `w`×`h`, its values and its bytes.
fn small_png(w: u32, h: u32, seed: u8) -> (Vec<u8>, Vec<i64>) {
    let mut raw = Vec::new();
    let mut values = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            let v = (x as u8).wrapping_mul(31).wrapping_add(y as u8).wrapping_add(seed) % 5;
            raw.push(v);
            values.push(v as i64);
        }
    }
    // A stored (uncompressed) deflate block: the test needs no compressor.
    let mut z = vec![0x78, 0x01, 1];
    z.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    z.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    z.extend_from_slice(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    (png_with(w, h, 8, &z), values)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn png_mutations_are_an_error_or_an_image_within_the_budget(
        w in 1u32..24, h in 1u32..24, seed in any::<u8>(), ms in prop::collection::vec(mutation(), 0..4),
        wide in prop::option::of((1u32..200_000, 1u32..200_000)),
    ) {
        let dir = temp_dir("prop-png");
        let (mut bytes, values) = small_png(w, h, seed);
        if let Some((lw, lh)) = wide {
            // A lying header (the CRC is fixed up, so only the size lies).
            bytes = png_with(lw, lh, 8, &bytes[33 + 8..bytes.len() - 16]);
        }
        let bytes = mutate(bytes, &ms);
        let path = dir.join("case.png");
        std::fs::write(&path, &bytes).unwrap();
        let budget = 4096u64;
        match read_mask_limited(&path, budget) {
            Ok(Mask::Labels { h: ih, w: iw, values: got }) => {
                prop_assert_eq!(got.len(), ih * iw);
                prop_assert!((ih * iw) as u64 <= budget);
                if ms.is_empty() && wide.is_none() {
                    prop_assert_eq!(got, values);
                }
            }
            Ok(other) => prop_assert!(false, "a PNG read as {:?}", other),
            Err(e) => {
                prop_assert!(!(ms.is_empty() && wide.is_none()), "a valid PNG failed: {}", e);
                prop_assert!(!e.is_empty());
            }
        }
    }
}

/// JSON values of any shape, for keyword arguments.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        prop::sample::select(vec![0.0, -0.5, 0.5, 1.0, 2.0, 255.0, -100.0, 1e-300, 1e12, 1e13, 1e38, 1e308, -1e308])
            .prop_map(|x| serde_json::json!(x)),
        any::<i64>().prop_map(|x| serde_json::json!(x)),
        prop::sample::select(vec!["mean", "sum", "none", "binary", "multiclass", "multilabel", "", "x"])
            .prop_map(|s| serde_json::json!(s)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            inner.prop_map(|v| serde_json::json!({ "tensor": v })),
        ]
    })
}

fn keyword() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "alpha",
        "gamma",
        "smooth",
        "eps",
        "mode",
        "weight",
        "pos_weight",
        "ignore_index",
        "reduction",
        "softmax",
        "sigmoid",
        "to_onehot_y",
        "include_background",
        "from_logits",
        "classes",
        "log_loss",
        "beta",
        "smooth_nr",
        "smooth_dr",
        "lambda_dice",
        "lambda_ce",
        "label_smoothing",
        "per_image",
        "bogus",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any name and keyword arguments: a preset or an error, and a preset's parts for any
    /// channel count are parts or an error; a parsed preset's numbers are within the limit.
    #[test]
    fn presets_parse_any_keywords_without_panicking(
        name_i in any::<prop::sample::Index>(),
        kws in prop::collection::btree_map(keyword(), json_value(), 0..4),
        channels in 1usize..6,
    ) {
        let names = segloss::preset::names();
        let name = name_i.get(&names).clone();
        let params = serde_json::Value::Object(kws.into_iter().collect());
        match Preset::parse(&name, &params) {
            Ok(p) => {
                let _ = p.parts(channels);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// `segloss loss` on mutated logits and targets, and on random KEY=VALUE arguments: a finite
    /// result (exit 0) or one error line (exit 1); never a panic, a signal, or a NaN.
    #[test]
    fn cli_loss_on_mutated_files_is_a_finite_result_or_one_error_line(
        ms in prop::collection::vec(mutation(), 0..3),
        on_targets in any::<bool>(),
        kv in prop::option::of((keyword(), json_value())),
    ) {
        let dir = temp_dir("prop-cli");
        let l = dir.join("l.npy");
        let t = dir.join("t.npy");
        let logits = Npy { shape: vec![2, 1, 3, 4], data: NpyData::F32((0..24).map(|i| i as f32 / 8.0 - 1.5).collect()) };
        let targets = Npy { shape: vec![2, 1, 3, 4], data: NpyData::F32((0..24).map(|i| (i % 2) as f32).collect()) };
        let (lb, tb) = if on_targets {
            (logits.to_bytes(), mutate(targets.to_bytes(), &ms))
        } else {
            (mutate(logits.to_bytes(), &ms), targets.to_bytes())
        };
        std::fs::write(&l, lb).unwrap();
        std::fs::write(&t, tb).unwrap();
        let mut args = vec![
            "loss".to_string(), "--json".into(), "--backend".into(), "cpu".into(),
            "--logits".into(), l.display().to_string(), "--targets".into(), t.display().to_string(),
            "bce_dice".into(),
        ];
        if let Some((k, v)) = kv {
            args.push(format!("{k}={v}"));
        }
        let (code, out, err) = run_within(segloss().args(&args), 60);
        match code {
            Some(0) => {
                let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| TestCaseError::fail(format!("{e}: {out}")))?;
                prop_assert!(v["loss"].as_f64().is_some_and(f64::is_finite), "{}", out);
            }
            Some(1) => {
                prop_assert!(!err.contains("panicked"), "{}", err);
                prop_assert_eq!(err.lines().filter(|l| l.starts_with("segloss")).count(), 1, "{}", err);
            }
            other => prop_assert!(false, "exit {:?}: {}", other, err),
        }
    }

    /// `segloss eval` on mutated PNG and .npy masks: every pair is scored or skipped with a
    /// reason; exit 0 or 1; never a panic.
    #[test]
    fn cli_eval_on_mutated_masks_scores_or_skips(
        ms_png in prop::collection::vec(mutation(), 0..3),
        ms_npy in prop::collection::vec(mutation(), 0..3),
        seed in any::<u8>(),
    ) {
        let dir = temp_dir("prop-eval");
        for sub in ["p", "g"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let (png, _) = small_png(7, 5, seed);
        std::fs::write(dir.join("g/a.png"), &png).unwrap();
        std::fs::write(dir.join("p/a.png"), mutate(png, &ms_png)).unwrap();
        let m = Npy { shape: vec![5, 7], data: NpyData::U8((0..35).map(|i| (i % 5) as u8).collect()) };
        std::fs::write(dir.join("g/b.npy"), m.to_bytes()).unwrap();
        std::fs::write(dir.join("p/b.npy"), mutate(m.to_bytes(), &ms_npy)).unwrap();
        let (code, out, err) = run_within(
            segloss().args(["eval", "--num-classes", "5", "--pred"]).arg(dir.join("p")).arg("--gt").arg(dir.join("g")),
            60,
        );
        prop_assert!(!err.contains("panicked"), "{}", err);
        match code {
            Some(0) => prop_assert!(out.contains("2 images scored, 0 skipped"), "{}", out),
            Some(1) => prop_assert!(out.contains("skipped:") || err.contains("segloss"), "{}{}", out, err),
            other => prop_assert!(false, "exit {:?}: {}", other, err),
        }
    }
}
