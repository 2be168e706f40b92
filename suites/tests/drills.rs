//! The drills suite: one trial per drill of the wall, named `drills::<id>`. Drills are
//! disruptive: ignored unless `AUDITWALL_ALLOW_DISRUPTIVE=1`, and in the `disruptive` nextest
//! test group (one at a time).

fn main() -> std::process::ExitCode {
    auditwall_suites::main(auditwall_spec::Suite::Drills)
}
