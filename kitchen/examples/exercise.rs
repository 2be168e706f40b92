//! A bench driver for the exerciser library: `exercise <hub-url> <seconds> <seed>
//! <findings-dir>` exercises a running hub (for example one from `auditwall up`) and prints
//! the summary line. `scripts/bench/exercise.sh` uses it when the `auditwall` binary at hand
//! has no `loop exercise` subcommand.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use auditwall_kitchen::{exercise, Options};

const USAGE: &str = "usage: exercise <hub-url> <seconds> <seed> <findings-dir>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [hub, seconds, seed, findings] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (Ok(seconds), Ok(seed)) = (seconds.parse::<u64>(), seed.parse::<u64>()) else {
        eprintln!("<seconds> and <seed> must be whole numbers\n{USAGE}");
        return ExitCode::from(2);
    };
    let options = Options::new(
        hub,
        Duration::from_secs(seconds),
        seed,
        PathBuf::from(findings),
    );
    match exercise(&options, &mut |_| {}) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::from(u8::from(summary.failure.is_some()))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}
