//! Draws the RSS-against-sessions plot of BENCHMARKS.md as a PNG: wasp
//! serve from a `wasp bench` report (one line, or one over `ws://` and
//! one over `wss://` from a `--tls` report), and optionally the
//! whatsapp-rust peer from `peer_rss`'s JSON lines, on one chart.
//!
//! ```sh
//! cargo run --release --example plot_rss -- bench.json docs/rss-vs-sessions.png [peer.jsonl]
//! ```
//!
//! Text is drawn with a TrueType font read at run time (DejaVu Sans from
//! the system by default, `PLOT_FONT=/path/to/font.ttf` to choose another);
//! no font file is part of the repository.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde::Deserialize;

/// Where Debian and most distributions keep DejaVu Sans.
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The brief's budget for 5,000 sessions: 512 MB.
const BUDGET_MIB: f64 = 512e6 / 1048576.0;

/// The parts of a `wasp bench` report this plot needs.
#[derive(Deserialize)]
struct BenchReport {
    profile: String,
    baseline_rss_bytes: u64,
    steps: Vec<Step>,
}

/// A plain report, or a `--tls` one: a report per transport.
#[derive(Deserialize)]
#[serde(untagged)]
enum Reports {
    Both { ws: BenchReport, wss: BenchReport },
    One(BenchReport),
}

/// One measured step (the same shape in both inputs).
#[derive(Deserialize)]
struct Step {
    sessions: usize,
    rss_bytes: u64,
}

/// (sessions, RSS in MiB).
type Point = (f64, f64);

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn load_font() -> Result<()> {
    let path = std::env::var("PLOT_FONT").unwrap_or_else(|_| DEFAULT_FONT.to_string());
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the font {path} (set PLOT_FONT to a .ttf file)"))?;
    // plotters keeps registered fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{path} is not a usable TrueType font"))
}

/// The baseline (0 sessions) and each step of a report.
fn points_of(report: &BenchReport) -> Vec<Point> {
    let mut points = vec![(0.0, mib(report.baseline_rss_bytes))];
    points.extend(
        report
            .steps
            .iter()
            .map(|s| (s.sessions as f64, mib(s.rss_bytes))),
    );
    points
}

fn read_peer(path: &Path) -> Result<Vec<Point>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let step: Step = serde_json::from_str(l)?;
            Ok((step.sessions as f64, mib(step.rss_bytes)))
        })
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [report, out, rest @ ..] = args.as_slice() else {
        bail!("usage: plot_rss BENCH.json OUT.png [PEER.jsonl]");
    };
    let reports: Reports = serde_json::from_slice(
        &std::fs::read(report).with_context(|| format!("reading {report}"))?,
    )
    .with_context(|| format!("{report} is not a wasp bench report"))?;
    let (report, over_tls) = match reports {
        Reports::Both { ws, wss } => (ws, points_of(&wss)),
        Reports::One(report) => (report, Vec::new()),
    };
    let wasp = points_of(&report);
    let peer = match rest.first() {
        Some(path) => read_peer(Path::new(path)).with_context(|| format!("reading {path}"))?,
        None => Vec::new(),
    };
    load_font()?;

    let max_x = wasp.iter().chain(&peer).map(|p| p.0).fold(1.0, f64::max);
    // The budget line is always in view: the headroom is the point.
    let max_y = wasp
        .iter()
        .chain(&over_tls)
        .chain(&peer)
        .map(|p| p.1)
        .fold(BUDGET_MIB, f64::max)
        * 1.1;
    let root = BitMapBackend::new(out, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "RSS against connected idle sessions ({} builds)",
                report.profile
            ),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..max_x * 1.02, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("connected sessions")
        .y_desc("RSS (MiB)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 14))
        .draw()?;

    let plain = if over_tls.is_empty() {
        "wasp serve (whole service)"
    } else {
        "wasp serve (whole service), ws://"
    };
    let series: [(&str, &[Point], RGBColor); 3] = [
        (plain, &wasp, RGBColor(31, 119, 180)),
        (
            "wasp serve (whole service), wss://",
            &over_tls,
            RGBColor(44, 160, 44),
        ),
        ("whatsapp-rust clients", &peer, RGBColor(214, 39, 40)),
    ];
    for (label, points, color) in series {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    let grey = RGBColor(120, 120, 120);
    chart
        .draw_series(LineSeries::new(
            [(0.0, BUDGET_MIB), (max_x * 1.02, BUDGET_MIB)],
            grey.stroke_width(1),
        ))?
        .label("budget: 512 MB for 5,000 sessions")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], grey));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("plot written to {out}");
    Ok(())
}
