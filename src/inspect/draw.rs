//! Draws an analysed [`Call`] as a PNG with plotters (bitmap backend, the
//! labels in an embedded DejaVu Sans subset: no system fonts needed).
//!
//! In: a [`Call`], the PNG path, the width in pixels. Out: the PNG, written
//! under a temporary name and renamed (no half-drawn picture under the final
//! name). Per channel, top to bottom: the waveform with a band of VAD
//! decisions (blue: speech frames) and of chunks (green: kept; orange and
//! red: speech dropped as `short_speech` / `shorter_than_min_chunk`), with
//! the kept chunks shaded; under it the log-mel spectrogram (viridis). Each
//! panel has a time axis in seconds.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use super::Call;
use crate::stages::chunk::DropReason;

/// The embedded label font (DejaVu Sans, printable ASCII; licence in
/// `assets/FONT-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-ascii.ttf");

/// Height of one channel's panels, pixels.
const CHANNEL_PX: u32 = 330;
/// Height of the title and legend band, pixels.
const HEADER_PX: u32 = 34;

const KEPT: RGBColor = RGBColor(46, 160, 67);
const SHORT_SPEECH: RGBColor = RGBColor(245, 140, 20);
const TOO_SHORT: RGBColor = RGBColor(215, 40, 40);
const VOICED: RGBColor = RGBColor(40, 90, 220);
const WAVE: RGBColor = RGBColor(60, 60, 60);

fn reason_color(r: DropReason) -> RGBColor {
    match r {
        DropReason::ShortSpeech => SHORT_SPEECH,
        DropReason::ShorterThanMinChunk => TOO_SHORT,
    }
}

/// A drawing error as an I/O error (plotters' errors are not `Send + Sync`).
fn err<E: std::fmt::Display>(e: E) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Picture height for `channels` channels.
pub fn height_px(channels: usize) -> u32 {
    HEADER_PX + CHANNEL_PX * channels as u32
}

/// Draws `call` into `png` (`width_px` wide; [`height_px`] high).
pub fn draw(call: &Call, png: &Path, width_px: u32) -> std::io::Result<()> {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // The font is compiled in and parses (the inspect tests draw with it).
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let dir = png.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        std::fs::create_dir_all(d)?;
    }
    let name = png.file_name().unwrap_or_default().to_string_lossy();
    let tmp = png.with_file_name(format!(
        ".{name}{}{}.png",
        crate::output::atomic::TMP_MARK,
        std::process::id()
    ));
    let result = render(call, &tmp, width_px).and_then(|()| std::fs::rename(&tmp, png));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn render(call: &Call, path: &Path, width_px: u32) -> std::io::Result<()> {
    let h = height_px(call.channels.len());
    let root = BitMapBackend::new(path, (width_px, h)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (header, body) = root.split_vertically(HEADER_PX);
    legend(call, &header).map_err(err)?;
    let panels = body.split_evenly((call.channels.len(), 1));
    for (ch, area) in call.channels.iter().zip(&panels) {
        channel(call, ch, area).map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawResult =
    Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

fn legend(call: &Call, area: &Area) -> DrawResult {
    let title = format!(
        "{}   {:.2}-{:.2} s of {:.2} s   {} Hz",
        call.name, call.from_s, call.to_s, call.duration_s, call.sample_rate_hz
    );
    area.draw(&Text::new(title, (10, 9), ("sans-serif", 16).into_font()))?;
    let items = [
        (VOICED, "VAD speech"),
        (KEPT, "chunk kept"),
        (SHORT_SPEECH, "dropped: short_speech"),
        (TOO_SHORT, "dropped: shorter_than_min_chunk"),
    ];
    let font = TextStyle::from(("sans-serif", 13).into_font());
    let mut widths = Vec::with_capacity(items.len());
    for (_, label) in items {
        widths.push(area.estimate_text_size(label, &font)?.0 as i32 + 30);
    }
    let (w, _) = area.dim_in_pixel();
    let mut x = (w as i32 - 10 - widths.iter().sum::<i32>()).max(10);
    for ((c, label), width) in items.into_iter().zip(widths) {
        area.draw(&Rectangle::new([(x, 11), (x + 14, 23)], c.filled()))?;
        area.draw(&Text::new(label, (x + 18, 10), font.clone()))?;
        x += width;
    }
    Ok(())
}

fn channel(call: &Call, ch: &super::ChannelView, area: &Area) -> DrawResult {
    let rate = f64::from(call.sample_rate_hz);
    let (from, to) = (call.from_s, call.to_s);
    let secs = |s: usize| s as f64 / rate;
    let (wave_area, mel_area) = area.split_vertically(CHANNEL_PX * 52 / 100);
    let mut chart = ChartBuilder::on(&wave_area)
        .caption(
            format!("channel {}: {}", ch.index, ch.role),
            ("sans-serif", 14),
        )
        .margin_left(8)
        .margin_right(16)
        .x_label_area_size(22)
        .y_label_area_size(44)
        .build_cartesian_2d(from..to, -1.3f64..1.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(12)
        .y_labels(3)
        .x_label_formatter(&|x| format!("{x:.0} s"))
        .label_style(("sans-serif", 11))
        .draw()?;
    let visible = |a: f64, b: f64| b > from && a < to;
    let clip = |a: f64, b: f64| (a.max(from), b.min(to));
    // Kept chunks: shaded behind the waveform, and a band under it.
    let kept: Vec<(f64, f64)> = ch
        .plan
        .chunks
        .iter()
        .map(|s| (secs(s.start), secs(s.end)))
        .filter(|&(a, b)| visible(a, b))
        .map(|(a, b)| clip(a, b))
        .collect();
    chart.draw_series(
        kept.iter()
            .map(|&(a, b)| Rectangle::new([(a, -1.0), (b, 1.0)], KEPT.mix(0.10).filled())),
    )?;
    chart.draw_series(
        kept.iter()
            .map(|&(a, b)| Rectangle::new([(a, -1.28), (b, -1.17)], KEPT.filled())),
    )?;
    chart.draw_series(
        ch.plan
            .dropped
            .iter()
            .map(|(s, r)| (secs(s.start), secs(s.end), *r))
            .filter(|&(a, b, _)| visible(a, b))
            .map(|(a, b, r)| {
                let (a, b) = clip(a, b);
                Rectangle::new([(a, -1.28), (b, -1.17)], reason_color(r).filled())
            }),
    )?;
    // VAD decisions: runs of speech frames as a band.
    let mut runs = Vec::new();
    let mut open: Option<usize> = None;
    for (i, &v) in ch.voiced.iter().chain([&false]).enumerate() {
        match (v, open) {
            (true, None) => open = Some(i),
            (false, Some(s)) => {
                runs.push((secs(s * ch.frame_len), secs(i * ch.frame_len)));
                open = None;
            }
            _ => {}
        }
    }
    chart.draw_series(
        runs.into_iter()
            .filter(|&(a, b)| visible(a, b))
            .map(|(a, b)| {
                let (a, b) = clip(a, b);
                Rectangle::new([(a, -1.14), (b, -1.05)], VOICED.filled())
            }),
    )?;
    // Waveform: the min and max of the samples under each pixel column.
    let px = chart.plotting_area().get_pixel_range().0;
    let (px0, px1) = (px.start, px.end);
    let cols = (px1 - px0).max(1) as usize;
    let a = ((from * rate) as usize).min(ch.samples.len());
    let b = ((to * rate) as usize).clamp(a, ch.samples.len());
    let part = &ch.samples[a..b];
    let lines = (0..cols).filter_map(|c| {
        let s = c * part.len() / cols;
        let e = ((c + 1) * part.len() / cols).max(s + 1).min(part.len());
        let block = part.get(s..e)?;
        let lo = f64::from(*block.iter().min()?) / 32768.0;
        let hi = f64::from(*block.iter().max()?) / 32768.0;
        let t = from + (to - from) * (c as f64 + 0.5) / cols as f64;
        Some(PathElement::new(
            vec![(t, lo), (t, hi.max(lo + 0.004))],
            WAVE,
        ))
    });
    chart.draw_series(lines)?;
    mel(call, ch, &mel_area)
}

fn mel(call: &Call, ch: &super::ChannelView, area: &Area) -> DrawResult {
    let n_mels = call.n_mels;
    let mut chart = ChartBuilder::on(area)
        .margin_left(8)
        .margin_right(16)
        .margin_bottom(6)
        .x_label_area_size(22)
        .y_label_area_size(44)
        .build_cartesian_2d(call.from_s..call.to_s, 0..n_mels)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(12)
        .y_labels(3)
        .y_desc("mel")
        .x_label_formatter(&|x| format!("{x:.0} s"))
        .label_style(("sans-serif", 11))
        .draw()?;
    if ch.mel_frames == 0 || n_mels == 0 {
        return Ok(());
    }
    let (lo, hi) = ch
        .mel
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    // The top 12 units of the log values (about 52 dB for natural logs);
    // anything quieter is the darkest colour.
    let floor = lo.max(hi - 12.0);
    let plot = chart.plotting_area();
    let (xr, yr) = plot.get_pixel_range();
    let (w, h) = ((xr.end - xr.start).max(1), (yr.end - yr.start).max(1));
    let pixels = plot.strip_coord_spec();
    for py in 0..h {
        // Row 0 is the top: the highest mel bin.
        let m = n_mels - 1 - (py as usize * n_mels / h as usize).min(n_mels - 1);
        let row = &ch.mel[m * ch.mel_frames..(m + 1) * ch.mel_frames];
        for px in 0..w {
            let f = (px as usize * ch.mel_frames / w as usize).min(ch.mel_frames - 1);
            let c =
                ViridisRGB::get_color_normalized(row[f].max(floor), floor, hi.max(floor + 1e-6));
            pixels.draw_pixel((px, py), &c)?;
        }
    }
    Ok(())
}
