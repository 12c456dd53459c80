//! `make soak` (infra/local/soak.sh): the night and the ESR exports again and again on the local
//! cloud under random faults (support/soak.rs), with progress as it runs and one closing line,
//! `soak: N iterations, F faults, V invariant violations`. A failing iteration prints its seed
//! and faults: `make soak SEED=<seed> ITERATIONS=1` replays it.

use std::collections::BTreeMap;

use clap::Parser;
use integration_tests::soak::Soak;

#[derive(Parser)]
struct Args {
    /// How many iterations.
    #[arg(long, default_value_t = 60)]
    iterations: u64,
    /// The first iteration's seed; iteration k's is SEED + k (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// People seeded in TCS's tables before the first iteration.
    #[arg(long, default_value_t = 1000)]
    persons: i64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| chrono::Utc::now().timestamp() as u64);
    let soak = Soak::connect(integration_tests::cloud_env()).await;
    soak.seed(args.persons).await;
    let (mut faults, mut violations) = (0, 0);
    let mut classes: BTreeMap<&str, u64> = BTreeMap::new();
    for k in 0..args.iterations {
        let iteration = soak.iteration(seed + k).await;
        // Injected: planned and reached (a crash point no process came to injected nothing).
        let injected: Vec<_> = iteration.faults.iter().filter(|f| !iteration.unreached.contains(f)).collect();
        faults += injected.len();
        for fault in &injected {
            *classes.entry(fault.class()).or_default() += 1;
        }
        let verdict = if iteration.violations.is_empty() { "ok" } else { "VIOLATED" };
        println!(
            "iteration {}/{} seed {} as of {}: {} — {:?}",
            k + 1,
            args.iterations,
            iteration.seed,
            iteration.as_of,
            verdict,
            iteration.faults
        );
        if !iteration.unreached.is_empty() {
            println!("  not reached (not counted): {:?}", iteration.unreached);
        }
        for violation in &iteration.violations {
            println!("  violation: {violation}");
        }
        if !iteration.violations.is_empty() {
            println!("  replay: make soak SEED={} ITERATIONS=1", iteration.seed);
        }
        violations += iteration.violations.len();
    }
    println!("faults by class:");
    for (class, count) in &classes {
        println!("  {count:>4}  {class}");
    }
    println!("soak: {} iterations, {faults} faults, {violations} invariant violations", args.iterations);
    if violations > 0 {
        std::process::exit(1);
    }
}
