//! The probes suite: one trial per probe check of the wall, named `probes::<id>`.

fn main() -> std::process::ExitCode {
    auditwall_suites::main(auditwall_spec::Suite::Probes)
}
