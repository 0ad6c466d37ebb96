//! `cargo xtask bench [--full]`: every benchmark of the workspace in its short
//! mode (a few minutes; `--full` for the long runs), then one table of the
//! figures they report (`figure` lines): figure, unit, tsp-rs, baseline,
//! ratio, target. Timing goals are read off this table, never asserted.

use std::io::{BufRead, BufReader};
use std::process::{ExitCode, Stdio};

use crate::suite::cargo;

/// The benchmarks, as `cargo bench` arguments.
const BENCHES: &[&[&str]] = &[
    &["-p", "tsp-host", "--bench", "set_data"],
    &["-p", "tsp-host", "--bench", "request_path"],
    &["-p", "tsp-driver-serial", "--bench", "set_data_4k"],
    &["-p", "tspd", "--bench", "round_trip"],
];

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
struct Figure {
    name: String,
    unit: String,
    value: String,
    baseline: String,
    ratio: String,
    target: String,
}

/// A `figure\tname\tunit\tvalue\tbaseline\tratio\ttarget` line.
fn parse_figure(line: &str) -> Option<Figure> {
    let mut fields = line.strip_prefix("figure\t")?.split('\t');
    let mut next = || fields.next().unwrap_or("").to_owned();
    Some(Figure {
        name: next(),
        unit: next(),
        value: next(),
        baseline: next(),
        ratio: next(),
        target: next(),
    })
}

/// A number as the table shows it: three significant digits or whole.
fn shown(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(n) if n.abs() >= 100.0 => format!("{n:.0}"),
        Ok(n) => format!("{n:.2}"),
        Err(_) => text.to_owned(),
    }
}

fn table(figures: &[Figure]) -> String {
    let mut out = format!(
        "{:<46} {:<8} {:>14} {:>14} {:>7}  {}\n",
        "figure", "unit", "tsp-rs", "baseline", "ratio", "target"
    );
    for f in figures {
        out += &format!(
            "{:<46} {:<8} {:>14} {:>14} {:>7}  {}\n",
            f.name,
            f.unit,
            shown(&f.value),
            shown(&f.baseline),
            shown(&f.ratio),
            f.target
        );
    }
    out
}

/// Runs one benchmark, passing its own lines through, and returns its figures.
fn run(args: &[&str], full: bool) -> Result<Vec<Figure>, String> {
    let mut command = cargo();
    command.arg("bench").args(args).stdout(Stdio::piped());
    if !full {
        command.env("TSP_RS_BENCH", "short");
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    let mut figures = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match parse_figure(&line) {
                Some(figure) => figures.push(figure),
                None => println!("{line}"),
            }
        }
    }
    let status = child.wait().map_err(|e| format!("cargo bench: {e}"))?;
    if !status.success() {
        return Err(format!("cargo bench {} failed ({status})", args.join(" ")));
    }
    Ok(figures)
}

/// `cargo xtask bench [--full]`.
pub(crate) fn command(args: &[String]) -> Result<ExitCode, String> {
    let full = match args {
        [] => false,
        [flag] if flag == "--full" => true,
        _ => return Err("usage: cargo xtask bench [--full]".into()),
    };
    let mut figures = Vec::new();
    for bench in BENCHES {
        eprintln!("xtask bench: cargo bench {}", bench.join(" "));
        figures.extend(run(bench, full)?);
    }
    println!("\n{}", table(&figures));
    println!(
        "({} cores; figures vary from run to run, PERFORMANCE.md says by how much)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_benchmark_writes_is_what_the_table_reads() {
        let (_, line) = crate::figure::line("x", "req/s", 3.0, Some(2.0), "target");
        let figure = parse_figure(&line).expect("a figure line");
        assert_eq!(
            (figure.value.as_str(), figure.baseline.as_str()),
            ("3", "2")
        );
        assert_eq!(
            (figure.ratio.as_str(), figure.target.as_str()),
            ("1.5", "target")
        );
        let (_, time) = crate::figure::line("y", "ns", 4.0, Some(2.0), "");
        assert_eq!(
            parse_figure(&time).expect("a line").ratio,
            "0.5",
            "a time: lower is better"
        );
    }

    #[test]
    fn figure_lines_become_rows() {
        let line =
            "figure\tinline SetData, 1 thread\treq/s\t2600000\t17600000\t0.15\ttarget >= 0.5";
        let figure = parse_figure(line).expect("a figure");
        assert_eq!(figure.name, "inline SetData, 1 thread");
        assert_eq!(
            (figure.ratio.as_str(), figure.target.as_str()),
            ("0.15", "target >= 0.5")
        );
        assert!(parse_figure("requests per second:").is_none());
        let short = parse_figure("figure\tx\tms\t1.5").expect("fewer fields");
        assert_eq!((short.value.as_str(), short.baseline.as_str()), ("1.5", ""));
        assert!(table(&[figure]).contains("2600000"));
    }
}
