//! The benchmark report: runs the suite, then writes a markdown table of
//! spindle/tokio throughput ratios per workload and mode, and a bar chart of
//! them.
//!
//! ```text
//! cargo run --release -p benches --bin report              # run the suite, then report
//! cargo run --release -p benches --bin report -- --rounds 1 # one criterion round only
//! cargo run --release -p benches --bin report -- --no-run   # report on the last run's results
//! ```
//!
//! **Rounds.** The criterion benches run [`ROUNDS`] times (the whole suite
//! once, then the criterion benches alone again), and each runtime's time
//! for a workload is the median of its rounds' means. The shared 2-core
//! machines this runs on have slow spells seconds long in which a parallel
//! workload takes 20–200% longer on any runtime; criterion measures one
//! runtime for ~4 s, then the next, so a spell that lands on one runtime's
//! slot skews that ratio alone. Minutes apart, spells rarely hit the same
//! slot twice, and the median drops the round they hit.
//!
//! Output: `docs/bench-report.md` (the ratio table, then the tables the
//! latency and memory benches print) and `docs/bench-ratios.svg`. A ratio is
//! tokio's mean time over spindle's for the same workload: above 1 means
//! spindle is faster. Single-thread spindle is compared with tokio's
//! current-thread runtime, parallel spindle with tokio's multi-thread
//! runtime (same worker count).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use plotters::prelude::*;

/// The comparisons: (label, spindle runtime, tokio runtime).
const PAIRS: [(&str, &str, &str); 3] = [
    (
        "single vs current_thread",
        "spindle_single",
        "tokio_current_thread",
    ),
    (
        "parallel vs multi_thread",
        "spindle_parallel",
        "tokio_multi_thread",
    ),
    (
        "parallel, no monitor, vs multi_thread",
        "spindle_parallel_nomonitor",
        "tokio_multi_thread",
    ),
];

/// Criterion rounds by default (see the module docs).
const ROUNDS: usize = 3;

/// The benches that measure with criterion, run again in later rounds.
const CRITERION_BENCHES: [&str; 10] = [
    "blocking",
    "chained_spawn",
    "gather",
    "ping_pong",
    "queue",
    "spawn_many",
    "spawn_remote",
    "tcp_echo",
    "timers",
    "yield_many",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("criterion")
}

/// Mean time in ns of `group/runtime` from criterion's last run.
fn mean_ns(group: &Path, runtime: &str) -> Option<f64> {
    let text =
        std::fs::read_to_string(group.join(runtime).join("new").join("estimates.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// Runs `cargo bench -p benches` with `args` and `envs`, and returns what
/// the benches printed as tables (the harness-less ones' markdown).
fn run_benches(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["bench", "-p", "benches"])
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root())
        .output()
        .expect("run cargo bench");
    assert!(
        out.status.success(),
        "cargo bench failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter(|l| l.starts_with('|') || l.starts_with("spindle/tokio"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The criterion groups of the last run, sorted.
fn groups() -> Vec<PathBuf> {
    let mut groups: Vec<PathBuf> = std::fs::read_dir(criterion_dir())
        .expect("no criterion results: run the benches first")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("spindle_single").exists())
        .collect();
    groups.sort();
    groups
}

/// Mean times of every group and runtime of the last criterion run, added
/// to `into` (one entry per round).
fn collect_means(into: &mut HashMap<(String, &'static str), Vec<f64>>) {
    let mut runtimes: Vec<&'static str> = PAIRS.iter().flat_map(|(_, s, t)| [*s, *t]).collect();
    runtimes.sort_unstable();
    runtimes.dedup();
    for group in groups() {
        let name = group.file_name().unwrap().to_string_lossy().into_owned();
        for &runtime in &runtimes {
            if let Some(mean) = mean_ns(&group, runtime) {
                into.entry((name.clone(), runtime)).or_default().push(mean);
            }
        }
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let run = !args.iter().any(|a| a == "--no-run");
    let rounds = if run {
        args.iter()
            .position(|a| a == "--rounds")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(ROUNDS)
    } else {
        1
    };
    let printed = if run {
        run_benches(&[], &[])
    } else {
        String::new()
    };
    let mut means = HashMap::new();
    collect_means(&mut means);
    let mut again: Vec<&str> = Vec::new();
    for name in CRITERION_BENCHES {
        again.extend(["--bench", name]);
    }
    // Later rounds skip the latency and timer-spread passes.
    for round in 2..=rounds {
        eprintln!("criterion round {round} of {rounds}");
        run_benches(
            &again,
            &[("TCP_ECHO_REPS", "0"), ("TIMERS_CRITERION_ONLY", "1")],
        );
        collect_means(&mut means);
    }

    let mut rows: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for group in groups() {
        let name = group.file_name().unwrap().to_string_lossy().into_owned();
        let time = |runtime: &'static str| median(means.get(&(name.clone(), runtime))?);
        let ratios = PAIRS
            .iter()
            .map(|(_, s, t)| Some(time(t)? / time(s)?))
            .collect();
        rows.push((name, ratios));
    }

    let mut md = String::from(
        "# Benchmark report\n\nThroughput ratio = tokio mean time / spindle mean time (above 1: spindle faster).\n",
    );
    write!(
        md,
        "Each time is the median of {rounds} criterion rounds' means.\n\n| workload |"
    )
    .unwrap();
    for (label, _, _) in PAIRS {
        write!(md, " {label} |").unwrap();
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(PAIRS.len()));
    md.push('\n');
    for (name, ratios) in &rows {
        write!(md, "| {name} |").unwrap();
        for r in ratios {
            match r {
                Some(r) => write!(md, " {r:.2} |").unwrap(),
                None => md.push_str(" - |"),
            }
        }
        md.push('\n');
    }
    if !printed.is_empty() {
        md.push_str("\n## Latency, memory and timer tables\n\n");
        md.push_str(&printed);
        md.push('\n');
    }
    let docs = workspace_root().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("bench-report.md"), &md).unwrap();
    plot(&rows, &docs.join("bench-ratios.svg")).expect("plot");
    println!("{md}\nwrote docs/bench-report.md and docs/bench-ratios.svg");
}

/// A grouped bar chart of the ratios, with the parity line at 1.
fn plot(
    rows: &[(String, Vec<Option<f64>>)],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let width = 120 + 90 * rows.len() as u32;
    let root = SVGBackend::new(path, (width.max(640), 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = rows
        .iter()
        .flat_map(|(_, r)| r.iter().flatten())
        .fold(1.5f64, |m, &r| m.max(r))
        * 1.1;
    let n = rows.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "spindle / tokio throughput ratio (above 1: spindle faster)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(70)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..n, 0f64..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|x| {
            rows.get(x.floor() as usize)
                .map(|r| r.0.clone())
                .unwrap_or_default()
        })
        .y_desc("ratio")
        .draw()?;
    let colors = [
        RGBColor(66, 133, 244),
        RGBColor(219, 68, 55),
        RGBColor(244, 180, 0),
    ];
    let bar = 0.8 / PAIRS.len() as f64;
    for (k, (label, _, _)) in PAIRS.iter().enumerate() {
        let color = colors[k];
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, (_, r))| {
                let v = r[k]?;
                let x0 = i as f64 + 0.1 + k as f64 * bar;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + bar * 0.9, v)],
                    color.filled(),
                ))
            }))?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart.draw_series(LineSeries::new(
        [(0.0, 1.0), (n, 1.0)],
        BLACK.stroke_width(1),
    ))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
