//! `segloss info`: the adapters wgpu finds, which one segloss picks, and the features and
//! limits that matter to it.

use segloss::wgpu;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub const HELP: &str = "\
segloss info — the GPU adapters found, the one segloss uses, and what they offer

USAGE:
    segloss info [--json]

Lists every adapter on every backend (name, backend, device type, driver), the features
segloss uses (SUBGROUP, SHADER_F16, TIMESTAMP_QUERY) and the limits that size its passes.
WGPU_BACKEND=vulkan|gl|metal|dx12 and WGPU_ADAPTER_NAME choose the adapter segloss uses.

EXAMPLE:
    WGPU_BACKEND=gl segloss info --json
";

struct Adapter {
    name: String,
    backend: String,
    device_type: String,
    driver: String,
    features: Vec<&'static str>,
    limits: Vec<(&'static str, u64)>,
}

fn describe(a: &wgpu::Adapter) -> Adapter {
    let info = a.get_info();
    let f = a.features();
    let l = a.limits();
    let features = [
        (wgpu::Features::SUBGROUP, "SUBGROUP"),
        (wgpu::Features::SHADER_F16, "SHADER_F16"),
        (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
    ]
    .into_iter()
    .filter(|(flag, _)| f.contains(*flag))
    .map(|(_, name)| name)
    .collect();
    Adapter {
        name: info.name.clone(),
        backend: info.backend.to_string(),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        features,
        limits: vec![
            ("max_storage_buffer_binding_size", l.max_storage_buffer_binding_size),
            ("max_buffer_size", l.max_buffer_size),
            ("max_compute_workgroup_storage_size", l.max_compute_workgroup_storage_size as u64),
            ("max_compute_invocations_per_workgroup", l.max_compute_invocations_per_workgroup as u64),
            ("max_compute_workgroups_per_dimension", l.max_compute_workgroups_per_dimension as u64),
            ("max_storage_buffers_per_shader_stage", l.max_storage_buffers_per_shader_stage as u64),
            ("subgroup_min_size", info.subgroup_min_size as u64),
            ("subgroup_max_size", info.subgroup_max_size as u64),
        ],
    }
}

pub fn run(args: &[String]) -> Res<()> {
    let json = match args {
        [] => false,
        [a] if a == "--json" => true,
        [a] if a == "--help" || a == "-h" => {
            print!("{HELP}");
            return Ok(());
        }
        _ => return Err(format!("info: unknown arguments {args:?}\n\n{HELP}").into()),
    };
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters: Vec<Adapter> =
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all())).iter().map(describe).collect();
    let chosen = segloss::Engine::new();
    if json {
        let list: Vec<serde_json::Value> = adapters
            .iter()
            .map(|a| {
                let limits: serde_json::Map<String, serde_json::Value> =
                    a.limits.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
                serde_json::json!({
                    "name": a.name,
                    "backend": a.backend,
                    "device_type": a.device_type,
                    "driver": a.driver,
                    "features": a.features,
                    "limits": limits,
                })
            })
            .collect();
        let used = match &chosen {
            Ok(e) => {
                let i = e.info();
                serde_json::json!({
                    "name": i.name,
                    "backend": i.backend,
                    "device_type": i.device_type,
                    "subgroups": i.subgroups,
                    "sort": format!("{:?}", i.sort),
                    "transfer": format!("{:?}", i.transfer),
                    "classes": format!("{:?}", i.classes),
                })
            }
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        println!("{}", serde_json::json!({ "adapters": list, "segloss_uses": used }));
        return Ok(());
    }
    if adapters.is_empty() {
        println!("no adapter found");
    }
    for a in &adapters {
        println!("{} ({} backend, {} device; driver {})", a.name, a.backend, a.device_type, a.driver);
        println!("  features: {}", if a.features.is_empty() { "-".to_string() } else { a.features.join(", ") });
        for (k, v) in &a.limits {
            println!("  {k}: {v}");
        }
    }
    match chosen {
        Ok(e) => {
            let i = e.info();
            println!(
                "segloss uses: {} ({} backend, {} device, {} reduction, {:?} sort, {:?} transfer, {:?} multiclass pass)",
                i.name,
                i.backend,
                i.device_type,
                if i.subgroups { "subgroup" } else { "portable tree" },
                i.sort,
                i.transfer,
                i.classes
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
