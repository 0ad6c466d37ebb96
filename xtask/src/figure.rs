//! How a benchmark reports a figure to `cargo xtask bench`: one line a reader
//! can read, then the `figure\t…` line the table is made from. The benchmarks
//! include this file (`#[path]`), so the format is written in one place and
//! read in one place (`bench.rs`).

/// Prints figure `name` (`value` in `unit`), against `baseline` when there is
/// one (the ratio is tsp-rs's over the baseline for a rate, the baseline's over
/// tsp-rs's for a time or a size: above 1 is better either way), with the
/// target in words.
#[allow(dead_code)] // Each benchmark uses what it needs.
pub fn figure(name: &str, unit: &str, value: f64, baseline: Option<f64>, target: &str) {
    println!("{}", line(name, unit, value, baseline, target).0);
    println!("{}", line(name, unit, value, baseline, target).1);
}

/// The two lines of [`figure`]: for a reader, and for the table.
pub fn line(
    name: &str,
    unit: &str,
    value: f64,
    baseline: Option<f64>,
    target: &str,
) -> (String, String) {
    let rate = unit.ends_with("/s");
    let ratio = baseline.map(|b| if rate { value / b } else { b / value });
    let shown = ratio.map_or_else(String::new, |r| format!("ratio {r:.2}"));
    let readable = format!("{name:<44} {value:>14.2} {unit:<8} {shown} {target}");
    let baseline = baseline.map_or_else(String::new, |b| b.to_string());
    let ratio = ratio.map_or_else(String::new, |r| r.to_string());
    let tabbed = format!("figure\t{name}\t{unit}\t{value}\t{baseline}\t{ratio}\t{target}");
    (readable, tabbed)
}
