//! `segloss versus`: the workloads timed side by side with PyTorch (PERFORMANCE.md), with the
//! host clock as a user sees them (upload and readback included), on the default adapter and
//! on the float64 reference. `scripts/torch_versus.py` reads the JSON and adds PyTorch.

use segloss::bench::{measure_host, versus_workloads, HostRow};
use segloss::Engine;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const HELP: &str = "\
segloss versus [--json] [--reps N] [--divide K] [--no-reference] [--only NAME[,NAME…]]
    forward and forward+backward host time of the side-by-side workloads (Dice binary
    8x1x512x512, five losses summed, Lovasz hinge per image, Dice and Dice+CE C=19 4x19x256x512,
    Lovasz softmax C=19; Hausdorff DT, boundary and clDice on 8x1x256x256 and, _3d, on
    2x1x64x128x128) on the default adapter and on the f64 reference; --divide K divides
    H and W by K; --only keeps the named workloads (dice, five_losses, lovasz_hinge, dice_mc,
    dice_ce_mc, lovasz_softmax_mc, hausdorff_dt, hausdorff_dt_3d, boundary, cldice, cldice_3d).
    scripts/torch_versus.py runs PyTorch's peers on the same shapes from the JSON.
    example: segloss versus --json --reps 5 > segloss.json && python3 scripts/torch_versus.py segloss.json
";

pub fn run(args: &[String]) -> Res<()> {
    let (mut json, mut reps, mut divide, mut reference) = (false, 5usize, 1usize, true);
    let mut only: Option<Vec<String>> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--no-reference" => reference = false,
            "--only" => {
                let v = it.next().ok_or("--only needs workload names")?;
                only = Some(v.split(',').map(str::to_string).collect());
            }
            "--reps" | "--divide" => {
                let v = it.next().ok_or_else(|| format!("{a} needs a number"))?;
                let n = v.parse().map_err(|_| format!("{a}: '{v}' is not a whole number"))?;
                if a == "--reps" {
                    reps = n
                } else {
                    divide = n
                }
            }
            "--help" | "-h" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("versus: unknown option '{other}'\n\n{HELP}").into()),
        }
    }
    if !(1..=64).contains(&divide) || !(1..=1000).contains(&reps) {
        return Err("versus: --divide must be 1..=64 and --reps 1..=1000".into());
    }
    let mut workloads = versus_workloads(divide);
    if let Some(names) = &only {
        if let Some(bad) = names.iter().find(|n| !workloads.iter().any(|w| &w.name == *n)) {
            return Err(format!("versus: --only: no workload '{bad}'\n\n{HELP}").into());
        }
        workloads.retain(|w| names.contains(&w.name));
    }
    let engine = Engine::new()?;
    let cpu = Engine::cpu();
    let mut rows: Vec<(HostRow, Option<HostRow>)> = Vec::new();
    for w in workloads {
        if !json {
            eprintln!("measuring {} {:?} …", w.name, w.shape);
        }
        let gpu = measure_host(&engine, &w, reps)?;
        let f64_ref = if reference { Some(measure_host(&cpu, &w, reps.min(3))?) } else { None };
        rows.push((gpu, f64_ref));
    }
    let info = engine.info();
    if json {
        let out = serde_json::json!({
            "adapter": info.name,
            "backend": info.backend,
            "device_type": info.device_type,
            "reps": reps,
            "rows": rows.iter().map(|(g, r)| serde_json::json!({
                "name": g.name,
                "shape": g.shape,
                "forward": g.forward,
                "forward_backward": g.forward_backward,
                "reference_forward_backward": r.as_ref().map(|r| r.forward_backward),
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("segloss versus on {} ({}, {}); host clock, median of {reps}", info.name, info.backend, info.device_type);
    println!("{:<20} {:<18} {:>12} {:>14} {:>16}", "workload", "shape", "forward ms", "fwd+bwd ms", "f64 ref ms");
    for (g, r) in &rows {
        let shape = segloss::bench::shape_label(&g.shape);
        let reference = r.as_ref().map_or("-".into(), |r| format!("{:.1}", r.forward_backward * 1e3));
        println!(
            "{:<20} {:<18} {:>12.1} {:>14.1} {:>16}",
            g.name,
            shape,
            g.forward * 1e3,
            g.forward_backward * 1e3,
            reference
        );
    }
    Ok(())
}
