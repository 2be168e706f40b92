//! The calibration suite: one trial per calibration check of the wall, named
//! `calibration::<id>`; a drift fails the trial with its diff.

fn main() -> std::process::ExitCode {
    auditwall_suites::main(auditwall_spec::Suite::Calibration)
}
