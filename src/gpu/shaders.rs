//! The WGSL kernels: one per file under `shaders/`, each composed with the shared prelude
//! (and the tree reduction where it uses one), and validated by naga without an adapter.

const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");
const TREE: &str = include_str!("../../shaders/tree.wgsl");

/// Every kernel segloss dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Fused forward pass, first stage, portable tree reduction.
    StatsPartials,
    /// Fused forward pass, first stage, subgroup reduction.
    StatsPartialsSubgroup,
    /// Fused forward pass, second stage: per-segment rows from the partials.
    StatsFinal,
    /// Backward pass: the elementwise gradient.
    Grad,
}

impl Kernel {
    /// All kernels.
    pub const ALL: [Kernel; 4] =
        [Kernel::StatsPartials, Kernel::StatsPartialsSubgroup, Kernel::StatsFinal, Kernel::Grad];

    /// The kernel's file name, also its pipeline label.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::StatsPartials => "stats_partials.wgsl",
            Kernel::StatsPartialsSubgroup => "stats_partials_subgroup.wgsl",
            Kernel::StatsFinal => "stats_final.wgsl",
            Kernel::Grad => "grad.wgsl",
        }
    }

    /// Whether the kernel needs `Features::SUBGROUP`.
    pub fn needs_subgroups(self) -> bool {
        self == Kernel::StatsPartialsSubgroup
    }

    /// The complete WGSL source: prelude, shared pieces, kernel.
    pub fn source(self) -> String {
        let (uses_tree, body) = match self {
            Kernel::StatsPartials => (true, include_str!("../../shaders/stats_partials.wgsl")),
            Kernel::StatsPartialsSubgroup => (false, include_str!("../../shaders/stats_partials_subgroup.wgsl")),
            Kernel::StatsFinal => (true, include_str!("../../shaders/stats_final.wgsl")),
            Kernel::Grad => (false, include_str!("../../shaders/grad.wgsl")),
        };
        let mut src = String::with_capacity(PRELUDE.len() + TREE.len() + body.len() + 2);
        src.push_str(PRELUDE);
        src.push('\n');
        if uses_tree {
            src.push_str(TREE);
            src.push('\n');
        }
        src.push_str(body);
        src
    }

    /// Parses and validates the kernel with naga (no adapter needed).
    pub fn validate(self) -> Result<naga::Module, String> {
        use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
        let src = self.source();
        let module =
            naga::front::wgsl::parse_str(&src).map_err(|e| format!("{}: {}", self.name(), e.emit_to_string(&src)))?;
        let caps = if self.needs_subgroups() { Capabilities::SUBGROUP } else { Capabilities::empty() };
        Validator::new(ValidationFlags::all(), caps)
            .subgroup_stages(ShaderStages::COMPUTE)
            .subgroup_operations(SubgroupOperationSet::all())
            .validate(&module)
            .map_err(|e| format!("{}: {}", self.name(), e.emit_to_string(&src)))?;
        Ok(module)
    }
}
