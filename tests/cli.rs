//! The command-line tool: `demo` prints the table; no adapter is a clear error, not a panic.
use std::process::Command;

fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

#[test]
fn demo_prints_the_table_and_agrees_with_the_reference() {
    let out = segloss().args(["demo", "--size", "2", "33", "47"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in
        ["adapter:", "dice/batch", "focal/per_image", "combo/batch", "hard iou @0.5", "gradient of the sum", "time"]
    {
        assert!(stdout.contains(needle), "missing '{needle}' in:\n{stdout}");
    }
    assert!(stdout.contains("all values within 1e-5 of the float64 reference"), "{stdout}");
}

#[test]
fn no_adapter_is_an_error_that_says_how_to_get_one() {
    // No DX12 on this platform's test machines: the instance finds no adapter at all.
    if cfg!(windows) {
        return;
    }
    let out = segloss().arg("info").env("WGPU_BACKEND", "dx12").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no GPU adapter found") && stderr.contains("mesa-vulkan-drivers"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_command_is_an_error_with_help() {
    let out = segloss().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("USAGE"));
}

#[test]
fn bench_reports_every_op_against_the_roofline() {
    let out = segloss().args(["bench", "--json", "--smoke", "--reps", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("{\"adapter\":"), "{stdout}");
    for op in [
        "binary: 14 losses",
        "binary: dice",
        "multiclass C=19: dice+ce",
        "lovasz hinge",
        "lovasz softmax C=19",
        "plan bce-dice f32/f32",
        "plan bce-dice f16/u8",
        "plan C=19 dice+ce u8 map",
        "radix sort",
        "prefix scan",
    ] {
        assert!(stdout.contains(op), "missing {op} in {stdout}");
    }
    // 5 workloads × 2 passes + 5 encoded plans + 2 primitives, each with a time and ratio.
    assert_eq!(stdout.matches("\"ratio\":").count(), 17, "{stdout}");
    assert!(!stdout.contains("NaN") && !stdout.contains("inf"), "{stdout}");
    let text = segloss().args(["bench", "--smoke", "--reps", "1"]).output().unwrap();
    let table = String::from_utf8_lossy(&text.stdout);
    assert!(table.contains("roofline ms") && table.contains("GB/s") && table.contains("segloss bench on"), "{table}");
}

#[test]
fn info_lists_adapters_and_every_subcommand_has_help_with_an_example() {
    let out = segloss().args(["info", "--json"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s}");
    let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"));
    assert!(v["adapters"][0]["name"].is_string() && v["segloss_uses"]["name"].is_string(), "{s}");
    assert!(s.contains("max_storage_buffer_binding_size"), "{s}");
    let text = segloss().arg("info").output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("segloss uses:"));
    for sub in ["demo", "bench", "eval", "info"] {
        let out = segloss().args([sub, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sub} --help failed");
        assert!(help.to_lowercase().contains("example"), "{sub} --help has no example:\n{help}");
        assert!(help.contains(&format!("segloss {sub}")), "{sub} --help does not describe {sub}:\n{help}");
    }
}

#[test]
fn versus_refuses_an_unknown_workload_naming_the_flag() {
    for args in [&["versus", "--only", "dice,nope"][..], &["versus", "--only"][..]] {
        let out = segloss().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--only"), "{args:?}: {err}");
    }
    let err = String::from_utf8_lossy(&segloss().args(["versus", "--only", "dice,nope"]).output().unwrap().stderr)
        .into_owned();
    assert!(err.contains("'nope'"), "{err}");
}
