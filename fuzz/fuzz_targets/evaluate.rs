//! A preset evaluated on the float64 reference with arrays read from the input: the first
//! bytes choose the preset and dims, the rest are the values. An error or a finite total
//! (the CLI's contract: never a NaN returned as a result).
#![no_main]
use libfuzzer_sys::fuzz_target;
use segloss::preset::{evaluate, names, Array, Preset};
use segloss::Engine;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let names = names();
    let name = &names[data[0] as usize % names.len()];
    let (n, c, h, w) = (1 + data[1] as usize % 2, 1 + data[2] as usize % 3, 1 + data[3] as usize % 4, 1 + data[4] as usize % 4);
    let int_targets = data[5] & 1 == 1;
    let body = &data[6..];
    let len = n * c * h * w;
    let value = |i: usize| {
        let b: [u8; 4] = std::array::from_fn(|k| body.get(4 * i + k).copied().unwrap_or(0));
        f32::from_le_bytes(b) as f64
    };
    let logits = Array::Float(vec![n, c, h, w], (0..len).map(value).collect());
    let targets = if int_targets {
        Array::Int(vec![n, h, w], (0..n * h * w).map(|i| body.get(i).copied().unwrap_or(0) as i64 % 4).collect())
    } else {
        Array::Float(vec![n, c, h, w], (0..len).map(|i| value(len + i)).collect())
    };
    let Ok(preset) = Preset::parse(name, &serde_json::Value::Null) else { return };
    let Ok(parts) = preset.parts(c) else { return };
    let engine = Engine::cpu();
    if let Ok(e) = evaluate(&engine, &parts, &logits, &targets, true) {
        // Non-finite totals are caught by the CLI's backstop; here they are only allowed when
        // an input is not finite.
        let finite_inputs = (0..2 * len).all(|i| value(i).is_finite());
        assert!(e.total.is_finite() || !finite_inputs, "{name}: {}", e.total);
    }
});
