//! The `segloss` command-line tool.

// Every write to standard output goes through `out::text`: a closed pipe ends quietly, a
// write error is one line and exit 1 (std's macros panic on both).
macro_rules! println {
    () => { $crate::out::text(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::out::text(format_args!($($arg)*), true) };
}
// Diagnostics on standard error never panic either (stderr itself may be a full disk).
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
macro_rules! print {
    ($($arg:tt)*) => { $crate::out::text(format_args!($($arg)*), false) };
}

mod bench;
mod demo;
mod eval;
mod info;
mod loss;
mod merge;
mod out;
mod versus;

const HELP: &str = "\
segloss — segmentation losses and their gradients on any GPU (wgpu), checked against float64

USAGE:
    segloss demo [--size N H W]   every loss and metric on a synthetic batch, GPU vs the f64
                                  reference, as a table with the adapter and the time taken
                                  (default 8 images of 512x512)
                                  example: segloss demo --size 2 257 263
    segloss bench [--json] [--full | --smoke] [--reps N] [--reference]
                                  time every op (binary losses, multiclass Dice+CE, Lovasz hinge,
                                  Lovasz softmax; forward and forward+backward) with GPU timestamps,
                                  GB/s and the ratio to a read-once / copy roofline on the same adapter
                                  (default: sizes for a software adapter; --full: 8 x 256² … 1024²;
                                  --smoke: tiny sizes, to check that it runs)
                                  example: segloss bench --reps 5 --reference
    segloss versus [--json] [--reps N] [--divide K] [--no-reference]
                                  host time of the workloads timed side by side with PyTorch
                                  (scripts/torch_versus.py adds PyTorch's peers from the JSON)
                                  example: segloss versus --json > segloss.json
    segloss eval --pred DIR --gt DIR [...]
                                  score a folder of predicted masks against ground truth
                                  (segloss eval --help for the options and an example;
                                  --shard K/N --partial FILE scores one shard of N)
    segloss merge PART.json... [--out FILE.csv|FILE.json]
                                  the report of a sharded eval from its shards' partial results,
                                  the same bytes as one unsharded run (segloss merge --help)
    segloss loss --logits L.npy --targets T.npy [--grad-out G.npy] [--grad-dtype f32|f64]
                 [--backend auto|gpu|cpu] [--json] (LOSS [KEY=VALUE ...] | --spec SPEC.json)
                                  a loss (segloss's, or a peer preset such as smp.DiceLoss or
                                  monai.DiceCELoss with the peer's keyword arguments) and its
                                  gradient on .npy files (segloss loss --help for more)
                                  example: segloss loss --logits x.npy --targets y.npy smp.DiceLoss mode=binary
    segloss info [--json]         the adapters found, the one segloss picks (WGPU_BACKEND=vulkan|gl|
                                  metal|dx12 chooses), their features and limits
                                  example: segloss info --json
    segloss help                  this text
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => parse_size(&args[1..]).and_then(|(n, h, w)| demo::run(n, h, w)),
        Some("info") => info::run(&args[1..]),
        Some("eval") => match eval::parse(&args[1..]).and_then(|o| eval::run(&o)) {
            Ok(code) => {
                out::flush();
                std::process::exit(code)
            }
            Err(e) => Err(e),
        },
        Some("merge") => match merge::parse(&args[1..]).and_then(|o| merge::run(&o)) {
            Ok(code) => {
                out::flush();
                std::process::exit(code)
            }
            Err(e) => Err(e),
        },
        Some("loss") => loss::parse(&args[1..]).and_then(|o| loss::run(&o)),
        Some("bench") => parse_bench(&args[1..]).and_then(|o| bench::run(&o)),
        Some("versus") => versus::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'\n\n{HELP}").into()),
    };
    if let Err(e) = result {
        // The error on one line; usage text after a blank line is kept as it is.
        let text = e.to_string();
        let (first, usage) = text.split_once("\n\n").unwrap_or((&text, ""));
        eprintln!("segloss: {}", one_line(first));
        if !usage.is_empty() {
            eprintln!("\n{usage}");
        }
        std::process::exit(1);
    }
    out::flush();
}

/// An error message on one line (wgpu's and some std messages span several).
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn parse_size(args: &[String]) -> Res<(usize, usize, usize)> {
    match args {
        [] => Ok((8, 512, 512)),
        [flag, n, h, w] if flag == "--size" => {
            let dim = |v: &String| match v.parse::<usize>() {
                Ok(d) if (1..=1 << 14).contains(&d) => Ok(d),
                _ => Err(format!("--size: '{v}' is not a whole number in 1..=16384")),
            };
            let (n, h, w) = (dim(n)?, dim(h)?, dim(w)?);
            if n.saturating_mul(h).saturating_mul(w) > 1 << 26 {
                return Err(format!("--size {n} {h} {w}: at most 2^26 pixels in all").into());
            }
            Ok((n, h, w))
        }
        [flag] if flag == "--help" || flag == "-h" => {
            print!("{HELP}");
            std::process::exit(0)
        }
        _ => Err(format!("demo takes `--size N H W`, got {args:?}").into()),
    }
}

fn parse_bench(args: &[String]) -> Res<bench::Options> {
    let mut o = bench::Options { json: false, full: false, smoke: false, reps: 5, reference: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => o.json = true,
            "--full" => o.full = true,
            "--smoke" => o.smoke = true,
            "--reference" => o.reference = true,
            "--reps" => {
                let v = it.next().ok_or("--reps needs a number")?;
                o.reps = v
                    .parse()
                    .ok()
                    .filter(|r| (1..=10_000).contains(r))
                    .ok_or_else(|| format!("--reps: '{v}' is not a whole number in 1..=10000"))?
            }
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0)
            }
            other => return Err(format!("bench: unknown option '{other}'").into()),
        }
    }
    Ok(o)
}
