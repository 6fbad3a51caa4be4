//! The RSS-against-sessions plot of a bench run, as a small SVG (text,
//! axes and one polyline; no plotting crate needed).

use std::fmt::Write as _;

/// One measured point: sessions, RSS in bytes.
pub type Point = (usize, u64);

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 50.0;
const TOP: f64 = 40.0;
const RIGHT: f64 = 20.0;

/// An SVG line chart of RSS (MiB) against sessions, with the brief's
/// 512 MiB budget drawn when it is within reach of the data.
pub fn rss_svg(title: &str, points: &[Point]) -> String {
    let max_n = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let max_mib = points
        .iter()
        .map(|p| p.1 as f64 / 1048576.0)
        .fold(1.0, f64::max);
    let y_top = nice_ceiling(max_mib * 1.1);
    let x = |n: f64| LEFT + n / max_n * (W - LEFT - RIGHT);
    let y = |mib: f64| H - BOTTOM - mib / y_top * (H - BOTTOM - TOP);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Axes and ticks.
    let (x0, y0) = (LEFT, H - BOTTOM);
    let _ = write!(
        svg,
        r#"<path d="M{x0},{TOP} V{y0} H{}" stroke="black" fill="none"/>"#,
        W - RIGHT
    );
    for i in 0..=4 {
        let mib = y_top * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{x0}" x2="{x2}" y1="{yl}" y2="{yl}" stroke="#ddd"/><text x="{xt}" y="{yt}" text-anchor="end">{mib:.0}</text>"##,
            x2 = W - RIGHT,
            yl = y(mib),
            xt = x0 - 6.0,
            yt = y(mib) + 4.0
        );
        let n = max_n * i as f64 / 4.0;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{n:.0}</text>"#,
            x(n),
            y0 + 18.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">sessions</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0
    );
    let _ = write!(
        svg,
        r#"<text x="18" y="{}" transform="rotate(-90 18 {})" text-anchor="middle">RSS (MiB)</text>"#,
        (TOP + y0) / 2.0,
        (TOP + y0) / 2.0
    );
    // The data.
    let line: Vec<String> = points
        .iter()
        .map(|&(n, rss)| format!("{:.1},{:.1}", x(n as f64), y(rss as f64 / 1048576.0)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#1f6feb" stroke-width="2"/>"##,
        line.join(" ")
    );
    for &(n, rss) in points {
        let mib = rss as f64 / 1048576.0;
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1f6feb"/><text x="{:.1}" y="{:.1}">{mib:.0} MiB</text>"##,
            x(n as f64),
            y(mib),
            x(n as f64) - 20.0,
            y(mib) - 8.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Colours of the nodes' lines, in turn.
const COLOURS: [&str; 6] = [
    "#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a",
];

/// An SVG line chart of each node's sessions over time: `samples` are
/// (seconds, sessions per node, in the order of `nodes`).
pub fn nodes_svg(title: &str, nodes: &[String], samples: &[(f64, Vec<u64>)]) -> String {
    let max_t = samples.iter().map(|s| s.0).fold(1.0, f64::max);
    let max_n = samples
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_top = nice_ceiling(max_n * 1.1);
    let x = |t: f64| LEFT + t / max_t * (W - LEFT - RIGHT);
    let y = |n: f64| H - BOTTOM - n / y_top * (H - BOTTOM - TOP);
    let (x0, y0) = (LEFT, H - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12"><rect width="{W}" height="{H}" fill="white"/><text x="{}" y="22" text-anchor="middle" font-size="14">{}</text><path d="M{x0},{TOP} V{y0} H{}" stroke="black" fill="none"/>"#,
        W / 2.0,
        escape(title),
        W - RIGHT
    );
    for i in 0..=4 {
        let n = y_top * i as f64 / 4.0;
        let t = max_t * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{x0}" x2="{}" y1="{yl}" y2="{yl}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{n:.0}</text><text x="{}" y="{}" text-anchor="middle">{t:.0}</text>"##,
            W - RIGHT,
            x0 - 6.0,
            y(n) + 4.0,
            x(t),
            y0 + 18.0,
            yl = y(n),
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds</text><text x="18" y="{mid}" transform="rotate(-90 18 {mid})" text-anchor="middle">sessions</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0,
        mid = (TOP + y0) / 2.0
    );
    for (i, node) in nodes.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let line: Vec<String> = samples
            .iter()
            .filter_map(|(t, counts)| {
                let n = *counts.get(i)?;
                Some(format!("{:.1},{:.1}", x(*t), y(n as f64)))
            })
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}" fill="{colour}">{}</text>"#,
            line.join(" "),
            W - RIGHT - 60.0,
            TOP + 14.0 * (i as f64 + 1.0),
            escape(node)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    let mut step = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * step >= v {
                return m * step;
            }
        }
        step *= 10.0;
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_is_an_svg_with_every_point() {
        let svg = rss_svg(
            "t <1>",
            &[(1, 11 << 20), (1000, 43 << 20), (5000, 158 << 20)],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("158 MiB") && svg.contains("t &lt;1&gt;"));
        assert_eq!(nice_ceiling(173.0), 200.0);
        assert_eq!(nice_ceiling(0.5), 1.0);
    }
}
