//! `segloss bench`: every op's time, GB/s and ratio to the roofline on this adapter.

use segloss::bench::{measure, measure_plans, measure_primitives, workloads, Row};
use segloss::{Engine, EngineOptions};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub struct Options {
    pub json: bool,
    pub full: bool,
    pub smoke: bool,
    pub reps: usize,
    pub reference: bool,
}

pub fn run(o: &Options) -> Res<()> {
    let engine = Engine::with_options(EngineOptions { profile: true, ..Default::default() })?;
    let info = engine.info().clone();
    let mut rows: Vec<Row> = Vec::new();
    let sides: &[usize] = if o.smoke {
        &[32]
    } else if o.full {
        &[256, 512, 1024]
    } else {
        &[256]
    };
    for w in workloads(sides, !o.full) {
        if !o.json {
            eprintln!("measuring {} {:?} …", w.name, w.shape);
        }
        rows.extend(measure(&engine, &w, o.reps, o.reference)?);
    }
    for &side in sides {
        if !o.json {
            eprintln!("measuring encoded plans at side {side} …");
        }
        rows.extend(measure_plans(&engine, side, o.reps)?);
    }
    let n = if o.full {
        8 << 20
    } else if o.smoke {
        4099
    } else {
        1 << 19
    };
    if !o.json {
        eprintln!("measuring the sort and scan primitives over {n} elements …");
    }
    rows.extend(measure_primitives(&engine, n, o.reps)?);
    let gpu_clock = rows.iter().all(|r| r.gpu_clock);
    if o.json {
        print_json(&info, gpu_clock, &rows);
        return Ok(());
    }
    println!("segloss bench on {} ({} backend, {} device)", info.name, info.backend, info.device_type);
    println!(
        "clock: {}; median of {} calls after a warm-up",
        if gpu_clock {
            "GPU timestamps of the compute passes (upload and readback excluded)"
        } else {
            "host time of the blocking call (upload and readback included)"
        },
        o.reps
    );
    if info.device_type == "Cpu" {
        println!("note: a software adapter runs the shaders on the CPU: these are not GPU speeds");
    }
    println!();
    println!(
        "{:<26} {:<16} {:<17} {:>10} {:>8} {:>12} {:>7} {:>12}",
        "op", "size", "pass", "time ms", "GB/s", "roofline ms", "ratio", "f64 ref ms"
    );
    for r in &rows {
        let reference = r.reference_seconds.map_or("-".to_string(), |s| format!("{:.1}", s * 1e3));
        println!(
            "{:<26} {:<16} {:<17} {:>10.3} {:>8.2} {:>12.3} {:>7.2} {:>12}",
            r.name,
            r.size,
            r.pass,
            r.seconds * 1e3,
            r.gbps,
            r.roofline_seconds * 1e3,
            r.ratio,
            reference
        );
    }
    Ok(())
}

fn print_json(info: &segloss::BackendInfo, gpu_clock: bool, rows: &[Row]) {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = format!(
        "{{\"adapter\":\"{}\",\"backend\":\"{}\",\"device_type\":\"{}\",\"gpu_clock\":{},\"rows\":[",
        esc(&info.name),
        esc(&info.backend),
        esc(&info.device_type),
        gpu_clock
    );
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"op\":\"{}\",\"size\":\"{}\",\"pass\":\"{}\",\"seconds\":{:e},\"bytes\":{},\"gbps\":{:e},\"roofline_seconds\":{:e},\"ratio\":{:e},\"reference_seconds\":{}}}",
            esc(&r.name),
            r.size,
            r.pass,
            r.seconds,
            r.bytes,
            r.gbps,
            r.roofline_seconds,
            r.ratio,
            r.reference_seconds.map_or("null".to_string(), |s| format!("{s:e}"))
        ));
    }
    out.push_str("]}");
    println!("{out}");
}
