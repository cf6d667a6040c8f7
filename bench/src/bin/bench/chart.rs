//! The SVG chart: for every compared figure, each server's median relative to the best
//! peer (1.0 = best peer, longer is better whichever way the figure goes), and below it
//! weir's targets, met or missed.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{fmt, Better, Row};
use crate::server::KINDS;

const WIDTH: i32 = 1100;
const LABEL_W: i32 = 430;
const BAR_H: i32 = 13;
const GROUP_GAP: i32 = 12;
/// Relative scores are drawn up to this (longer bars are clipped and marked).
const MAX_SCORE: f64 = 2.0;

fn color(server: &str) -> RGBColor {
    match server {
        "weir" => RGBColor(230, 120, 30),
        "actix-web" => RGBColor(60, 110, 200),
        _ => RGBColor(70, 160, 90),
    }
}

/// Render `rows` into an SVG file at `path`; `subtitle` says where the figures come from.
pub fn render(rows: &[Row], subtitle: &str, path: &Path) -> Result<(), String> {
    let compared: Vec<&Row> = rows
        .iter()
        .filter(|r| r.in_table && r.best_peer.is_some())
        .collect();
    let targets: Vec<&Row> = rows.iter().filter(|r| r.target.is_some()).collect();
    let group_h = KINDS.len() as i32 * BAR_H + GROUP_GAP;
    let top = 90;
    let chart_h = compared.len() as i32 * group_h;
    let height = top + chart_h + 50 + 22 * targets.len() as i32 + 20;
    let root = SVGBackend::new(path, (WIDTH as u32, height as u32)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("drawing the chart: {e:?}");
    root.fill(&WHITE).map_err(err)?;

    let font = |size: i32| ("sans-serif", size).into_font();
    let left = TextStyle::from(font(12)).pos(Pos::new(HPos::Left, VPos::Center));
    let right = TextStyle::from(font(12)).pos(Pos::new(HPos::Right, VPos::Center));
    let center = TextStyle::from(font(11)).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(
        "weir vs actix-web vs hyper: each median relative to the best peer (longer is better)",
        (10, 18),
        font(17),
    ))
    .map_err(err)?;
    root.draw(&Text::new(subtitle.to_owned(), (10, 40), font(12)))
        .map_err(err)?;
    root.draw(&Text::new(
        "bar = server ÷ best peer for ↑ figures, best peer ÷ server for ↓ figures; raw median in parentheses",
        (500, 64),
        left.clone(),
    ))
    .map_err(err)?;
    // Legend.
    let mut x = 10;
    for k in KINDS {
        root.draw(&Rectangle::new(
            [(x, 58), (x + 14, 70)],
            color(k.name).filled(),
        ))
        .map_err(err)?;
        root.draw(&Text::new(k.name, (x + 20, 64), left.clone()))
            .map_err(err)?;
        x += 120;
    }

    let plot_x0 = LABEL_W;
    let plot_w = WIDTH - LABEL_W - 150;
    let sx =
        |score: f64| plot_x0 + (score.clamp(0.0, MAX_SCORE) / MAX_SCORE * plot_w as f64) as i32;
    // Grid: 0, 0.5, 1 (the best peer), 1.5, 2.
    for i in 0..=4 {
        let score = i as f64 * 0.5;
        let gx = sx(score);
        let style = if i == 2 {
            BLACK.stroke_width(1)
        } else {
            RGBColor(210, 210, 210).stroke_width(1)
        };
        root.draw(&PathElement::new(
            vec![(gx, top - 4), (gx, top + chart_h)],
            style,
        ))
        .map_err(err)?;
        root.draw(&Text::new(
            format!("{score:.1}×"),
            (gx, top + chart_h + 4),
            center.clone(),
        ))
        .map_err(err)?;
    }

    for (g, row) in compared.iter().enumerate() {
        let y0 = top + g as i32 * group_h;
        let best = row
            .best_peer
            .and_then(|b| row.servers.get(b))
            .map(|s| s.median);
        let arrow = if row.better == Better::Higher {
            "↑"
        } else {
            "↓"
        };
        root.draw(&Text::new(
            format!("{}: {} {arrow}", row.workload, row.label.replace('`', "")),
            (10, y0 + group_h / 2 - GROUP_GAP / 2),
            left.clone(),
        ))
        .map_err(err)?;
        for (i, k) in KINDS.iter().enumerate() {
            let yb = y0 + i as i32 * BAR_H;
            let (Some(st), Some(best)) = (row.servers.get(k.name), best) else {
                continue;
            };
            // weir's bar is the table's paired ratio; the peers' are medians over the best.
            let ratio = match (k.name, row.ratio) {
                ("weir", Some(r)) => r,
                _ => st.median / best,
            };
            let score = match row.better {
                Better::Higher => ratio,
                Better::Lower => 1.0 / ratio,
            };
            if !score.is_finite() {
                continue;
            }
            root.draw(&Rectangle::new(
                [(plot_x0, yb + 1), (sx(score), yb + BAR_H - 1)],
                color(k.name).filled(),
            ))
            .map_err(err)?;
            let clipped = if score > MAX_SCORE { " ▶" } else { "" };
            root.draw(&Text::new(
                format!("{score:.2}×{clipped}  ({})", fmt(st.median)),
                (sx(score).max(sx(1.0)) + 6, yb + BAR_H / 2),
                TextStyle::from(font(10)).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        }
    }

    let ty = top + chart_h + 36;
    root.draw(&Text::new("weir's targets", (10, ty), font(14)))
        .map_err(err)?;
    for (i, row) in targets.iter().enumerate() {
        let t = row.target.as_ref().expect("filtered");
        let y = ty + 24 + i as i32 * 22;
        let (mark, c) = if t.met {
            ("met", RGBColor(40, 140, 60))
        } else {
            ("missed", RGBColor(200, 40, 40))
        };
        let value = if t.text.starts_with('≥') {
            format!("{:.2}×", t.value)
        } else {
            fmt(t.value)
        };
        root.draw(&Text::new(
            format!(
                "{}: {} — {}",
                row.workload,
                row.label.replace('`', ""),
                t.text
            ),
            (10, y),
            left.clone(),
        ))
        .map_err(err)?;
        root.draw(&Text::new(
            format!("{value}  {mark}"),
            (WIDTH - 20, y),
            right.clone().color(&c),
        ))
        .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
