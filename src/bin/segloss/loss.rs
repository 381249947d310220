//! `segloss loss`: a loss (segloss's own or a peer preset) and its gradient on .npy files.

use super::Res;
use segloss::io::npy::{Npy, NpyData};
use segloss::preset::{evaluate, prediction_dims, Array, Part, Preset};
use segloss::{Engine, Error};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The help text; the segloss names come from the loss catalogue.
pub fn help() -> String {
    HELP.replace("{NAMES}", &segloss::Loss::names().join(", "))
}

const HELP: &str = "\
segloss loss --logits L.npy --targets T.npy [--grad-out G.npy] [--grad-dtype f32|f64]
             [--backend auto|gpu|cpu] [--json] (LOSS [KEY=VALUE ...] | --spec SPEC.json)

    LOSS: a segloss loss ({NAMES}) or a peer preset under the peer's own name and
    keyword arguments (smp.DiceLoss, monai.DiceCELoss, kornia.focal_loss,
    torchvision.sigmoid_focal_loss, ...). VALUE is JSON (1e-5, true, [1,2], null) or a bare string.
    SPEC.json: [{\"loss\": NAME, \"params\": {...}, \"weight\": 1.0}, ...], the weighted sum of the terms.
    Logits: float16/32/64 [N,C,*spatial] ([N,C,L], [N,C,H,W] or [N,C,D,H,W]); targets: float32/64 of
    the logits' shape, or an integer class map int64/int32/uint8/uint16 [N,*spatial] or [N,1,*spatial].
    example: segloss loss --logits x.npy --targets y.npy smp.DiceLoss mode=multiclass
";

pub struct Options {
    logits: PathBuf,
    targets: PathBuf,
    grad_out: Option<PathBuf>,
    grad_f64: bool,
    backend: String,
    json: bool,
    spec: Vec<(String, Value, f64)>,
    /// The spec file the terms came from, for error messages.
    spec_file: Option<PathBuf>,
}

/// A command-line value: JSON if it parses (Python's True/False/None too), else a string.
fn value(text: &str) -> Value {
    match text {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::Null,
        _ => {}
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

pub fn parse(args: &[String]) -> Res<Options> {
    let (mut logits, mut targets, mut grad_out, mut spec_file) = (None, None, None, None);
    let (mut grad_f64, mut json, mut backend) = (false, false, "auto".to_string());
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut next = |what: &str| it.next().cloned().ok_or_else(|| format!("{a} needs {what}"));
        match a.as_str() {
            "--logits" => logits = Some(PathBuf::from(next("a file")?)),
            "--targets" => targets = Some(PathBuf::from(next("a file")?)),
            "--grad-out" => grad_out = Some(PathBuf::from(next("a file")?)),
            "--spec" => spec_file = Some(PathBuf::from(next("a file")?)),
            "--grad-dtype" => match next("f32 or f64")?.as_str() {
                "f32" => grad_f64 = false,
                "f64" => grad_f64 = true,
                other => return Err(format!("--grad-dtype takes f32 or f64, got '{other}'").into()),
            },
            "--backend" => {
                backend = next("auto, gpu or cpu")?;
                if !["auto", "gpu", "cpu"].contains(&backend.as_str()) {
                    return Err(format!("--backend takes auto, gpu or cpu, got '{backend}'").into());
                }
            }
            "--json" => json = true,
            "--help" | "-h" => {
                print!("{}", help());
                std::process::exit(0)
            }
            s if s.starts_with("--") => return Err(format!("loss: unknown option '{s}'").into()),
            _ => rest.push(a.clone()),
        }
    }
    let logits = logits.ok_or("loss needs --logits L.npy")?;
    let targets = targets.ok_or("loss needs --targets T.npy")?;
    if let Some(g) = &grad_out {
        for (flag, input) in
            [("--logits", Some(&logits)), ("--targets", Some(&targets)), ("--spec", spec_file.as_ref())]
        {
            if input.is_some_and(|i| segloss::io::same_file(g, i)) {
                return Err(
                    format!("--grad-out {}: is the {flag} file; refusing to overwrite an input", g.display()).into()
                );
            }
        }
    }
    let spec = match (&spec_file, rest.split_first()) {
        (Some(_), Some(_)) => return Err("give either --spec SPEC.json or LOSS KEY=VALUE..., not both".into()),
        (Some(f), None) => read_spec(f)?,
        (None, Some((name, kvs))) => {
            let mut params = serde_json::Map::new();
            for kv in kvs {
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got '{kv}'"))?;
                params.insert(k.to_string(), value(v));
            }
            vec![(name.clone(), Value::Object(params), 1.0)]
        }
        (None, None) => return Err(format!("loss needs LOSS [KEY=VALUE ...] or --spec SPEC.json\n\n{}", help()).into()),
    };
    Ok(Options { logits, targets, grad_out, grad_f64, backend, json, spec, spec_file })
}

/// The keys of a spec term.
const SPEC_KEYS: [&str; 3] = ["loss", "params", "weight"];
/// The largest spec file read.
const MAX_SPEC_BYTES: u64 = 16 << 20;

fn read_spec(path: &Path) -> Res<Vec<(String, Value, f64)>> {
    let p = path.display();
    let (file, len) = segloss::io::open_regular(path).map_err(|e| format!("{p}: {e}"))?;
    if len > MAX_SPEC_BYTES {
        return Err(format!("{p}: {len} bytes; a spec file may have at most {MAX_SPEC_BYTES}").into());
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_SPEC_BYTES), &mut text)
        .map_err(|e| format!("{p}: reading: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{p}: not JSON: {e}"))?;
    let list = v.as_array().ok_or_else(|| format!("{p}: expected a list of terms"))?;
    if list.is_empty() {
        return Err(format!("{p}: the list of terms is empty").into());
    }
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let obj = t.as_object().ok_or_else(|| {
                format!("{p}: term {i} is not an object {{\"loss\": ..., \"params\": ..., \"weight\": ...}}")
            })?;
            if let Some(k) = obj.keys().find(|k| !SPEC_KEYS.contains(&k.as_str())) {
                return Err(format!("{p}: term {i}: unknown key '{k}'; accepted: {}", SPEC_KEYS.join(", ")).into());
            }
            let name = t["loss"].as_str().ok_or_else(|| format!("{p}: term {i} has no \"loss\" name"))?;
            let weight = match &t["weight"] {
                Value::Null => 1.0,
                w => w
                    .as_f64()
                    .filter(|w| w.abs() <= segloss::preset::PARAM_LIMIT)
                    .ok_or_else(|| format!("{p}: term {i}: weight must be a number in [-1e12, 1e12]"))?,
            };
            Ok((name.to_string(), t["params"].clone(), weight))
        })
        .collect()
}

fn read(path: &Path, what: &str) -> Res<Array> {
    let p = path.display();
    let npy = Npy::read(path).map_err(|e| format!("{p}: {e}"))?;
    Ok(match npy.data {
        NpyData::F32(_) | NpyData::F64(_) | NpyData::F16(_) => Array::Float(npy.shape.clone(), npy.to_f64()),
        _ if what == "logits" => {
            return Err(format!("{p}: logits must be float16, float32 or float64, not an integer array").into())
        }
        _ => Array::Int(npy.shape.clone(), npy.to_i64().unwrap_or_default()),
    })
}

fn engine(backend: &str) -> Res<Engine> {
    Ok(match backend {
        "cpu" => Engine::cpu(),
        "gpu" => Engine::new().map_err(one_line)?,
        _ => Engine::new().unwrap_or_else(|_| Engine::cpu()),
    })
}

fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string().lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// Which file an evaluation error is about.
fn blame(e: &Error, o: &Options) -> String {
    let targets = match e {
        Error::NonFinite { tensor, .. } | Error::OutOfRange { tensor, .. } | Error::ShapeMismatch { tensor, .. } => {
            *tensor == segloss::Tensor::Target
        }
        Error::InvalidRequest(m) => m.starts_with("targets"),
        Error::InvalidShape { reason, .. } => reason.starts_with("targets"),
        _ => false,
    };
    let data = matches!(
        e,
        Error::NonFinite { .. } | Error::OutOfRange { .. } | Error::ShapeMismatch { .. } | Error::InvalidShape { .. }
    ) || matches!(e, Error::InvalidRequest(m) if m.starts_with("predictions") || m.starts_with("the prediction"));
    match (targets, data) {
        (true, _) => format!("{}: {}", o.targets.display(), one_line(e)),
        (false, true) => format!("{}: {}", o.logits.display(), one_line(e)),
        _ => one_line(e),
    }
}

pub fn run(o: &Options) -> Res<()> {
    let logits = read(&o.logits, "logits")?;
    let targets = read(&o.targets, "targets")?;
    let dims = prediction_dims(logits.dims()).map_err(|e| format!("{}: {}", o.logits.display(), one_line(e)))?;
    let presets: Vec<(Preset, f64)> = o
        .spec
        .iter()
        .enumerate()
        .map(|(i, (name, params, w))| {
            let preset = Preset::parse(name, params).map_err(|e| match &o.spec_file {
                Some(f) => format!("{}: term {i}: {}", f.display(), one_line(e)),
                None => one_line(e),
            })?;
            Ok((preset, *w))
        })
        .collect::<Res<_>>()?;
    let engine = engine(&o.backend)?;
    let mut total = 0.0;
    let mut terms = Vec::new();
    let mut grad: Option<Vec<f64>> = None;
    for (preset, weight) in &presets {
        // Each term is evaluated unweighted (its value is reported as is, whatever its weight,
        // 0 included) and enters the total and the gradient times its weight.
        let parts: Vec<Part> = preset.parts(dims.c).map_err(one_line)?;
        let e = evaluate(&engine, &parts, &logits, &targets, o.grad_out.is_some()).map_err(|e| blame(&e, o))?;
        total += weight * e.total;
        terms.push(json!({"loss": preset.name, "value": e.total, "weight": weight}));
        if let Some(g) = e.grad {
            match &mut grad {
                Some(acc) => acc.iter_mut().zip(g).for_each(|(a, b)| *a += weight * b),
                None => grad = Some(g.into_iter().map(|b| weight * b).collect()),
            }
        }
    }
    // A backstop: whatever the inputs, a NaN or infinite result is an error, never printed.
    let representable = |x: &f64| if o.grad_f64 { x.is_finite() } else { (*x as f32).is_finite() };
    if !total.is_finite() || grad.as_ref().is_some_and(|g| !g.iter().all(representable)) {
        return Err(format!(
            "the result is not finite (f32 overflow): the logits in {} or the loss parameters are too large",
            o.logits.display()
        )
        .into());
    }
    if let (Some(path), Some(g)) = (&o.grad_out, grad) {
        let data = if o.grad_f64 { NpyData::F64(g) } else { NpyData::F32(g.iter().map(|&x| x as f32).collect()) };
        let npy = Npy { shape: logits.dims().to_vec(), data };
        segloss::io::AtomicFile::write_all(path, &npy.to_bytes())?;
    }
    let info = engine.info();
    let adapter = info.name.clone();
    let backend = if engine.is_reference() { "cpu".to_string() } else { format!("gpu ({})", info.backend) };
    let text = if o.json {
        format!("{}\n", json!({"loss": total, "terms": terms, "backend": backend, "adapter": adapter}))
    } else {
        let mut s = format!("loss {total}\n");
        for t in &terms {
            s += &format!("  {} {} (weight {})\n", t["loss"].as_str().unwrap_or(""), t["value"], t["weight"]);
        }
        s + &format!("backend {backend}, adapter {adapter}\n")
    };
    write_stdout(&text)
}

/// Writes to stdout; a closed pipe (`segloss loss … | head -1`) is not an error.
fn write_stdout(text: &str) -> Res<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("writing the result: {e}").into()),
        _ => Ok(()),
    }
}
