//! The report as people read it: a self-contained HTML page (inline SVG charts, the numbers as
//! tables, nothing fetched) and the terminal table.
use super::measure::Stats;
use super::Report;
use crate::ui::{human_bytes, human_ms};

const TEMPLATE: &str = include_str!("../../../templates/report/report.html");
const PALETTE: [&str; 4] = ["#3b6ea8", "#e08a2c", "#5aa469", "#b0413e"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Horizontal bars: (label, value, shown value), scaled to the largest.
fn bars(id: &str, rows: &[(String, f64, String)], color: &str) -> String {
    let (label_width, width, row_height) = (230.0, 520.0, 26.0);
    let max = rows.iter().map(|r| r.1).fold(f64::MIN_POSITIVE, f64::max);
    let height = row_height * rows.len() as f64 + 10.0;
    let mut svg = format!(
        r#"<svg id="{id}" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" viewBox="0 0 {} {height}" role="img">"#,
        label_width + width + 120.0,
        label_width + width + 120.0
    );
    for (i, (label, value, shown)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * row_height;
        let w = (value / max * width).max(1.0);
        svg.push_str(&format!(
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{label_width}" y="{}" width="{w:.1}" height="18" fill="{color}"><title>{}</title></rect><text x="{}" y="{}">{}</text>"#,
            label_width - 8.0,
            y + 13.0,
            escape(label),
            y,
            escape(shown),
            label_width + w + 6.0,
            y + 13.0,
            escape(shown)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Two stacked bars (raw, shipped), one segment per step of a cold start.
fn cold_start(report: &Report) -> String {
    let s = &report.startup;
    let median = |stats: Option<Stats>| stats.map_or(0.0, |s| s.median_ms);
    let load_label = if s.deserialize_cwasm.is_some() { "deserialize .cwasm" } else { "compile .wasm" };
    let rows: [(&str, Vec<(&str, f64)>); 2] = [
        (
            "raw .wasm",
            vec![
                ("compile", s.compile_raw.median_ms),
                ("instantiate", s.instantiate_raw.median_ms),
                ("init", median(s.init_raw)),
                ("first call", median(s.first_call_raw)),
            ],
        ),
        (
            "shipped",
            vec![
                (load_label, s.deserialize_cwasm.unwrap_or(s.compile_shipped).median_ms),
                ("instantiate", s.instantiate_shipped.median_ms),
                ("init", 0.0),
                ("first call", median(s.first_call_shipped)),
            ],
        ),
    ];
    let (label_width, width) = (120.0, 600.0);
    let max = rows.iter().map(|(_, parts)| parts.iter().map(|p| p.1).sum::<f64>()).fold(f64::MIN_POSITIVE, f64::max);
    let mut svg = format!(
        r#"<svg id="startup" xmlns="http://www.w3.org/2000/svg" width="{0}" height="110" viewBox="0 0 {0} 110" role="img">"#,
        label_width + width + 120.0
    );
    for (i, (label, parts)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * 32.0;
        svg.push_str(&format!(r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#, label_width - 8.0, y + 15.0));
        let mut x = label_width;
        for (j, (part, value)) in parts.iter().enumerate() {
            let w = value / max * width;
            svg.push_str(&format!(
                r#"<rect x="{x:.1}" y="{y}" width="{w:.2}" height="22" fill="{}"><title>{} {}</title></rect>"#,
                PALETTE[j],
                escape(part),
                human_ms(*value)
            ));
            x += w;
        }
        let total: f64 = parts.iter().map(|p| p.1).sum();
        svg.push_str(&format!(r#"<text x="{:.1}" y="{}">{}</text>"#, x + 6.0, y + 15.0, human_ms(total)));
    }
    for (j, part) in ["compile / load", "instantiate", "init", "first call"].iter().enumerate() {
        let x = label_width + j as f64 * 130.0;
        svg.push_str(&format!(
            r#"<rect x="{x}" y="78" width="12" height="12" fill="{}"/><text x="{}" y="89">{part}</text>"#,
            PALETTE[j],
            x + 16.0
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn waterfall(report: &Report) -> String {
    let b = &report.bytes;
    let mut rows = vec![
        ("raw .wasm (cargo)".to_string(), b.raw),
        ("raw .wasm, brotli".to_string(), b.raw_br),
        ("after pre-init".to_string(), b.preinit),
        ("after wasm-opt".to_string(), b.optimize),
        ("shipped .wasm (stripped)".to_string(), b.strip),
    ];
    rows.extend(b.br.map(|n| ("shipped .wasm.br".to_string(), n)));
    rows.extend(b.gz.map(|n| ("shipped .wasm.gz".to_string(), n)));
    rows.extend(b.cwasm.iter().map(|(label, n)| (format!(".cwasm {label}"), *n)));
    let rows: Vec<(String, f64, String)> = rows.into_iter().map(|(l, n)| (l, n as f64, human_bytes(n))).collect();
    bars("waterfall", &rows, PALETTE[0])
}

fn stats_row(name: &str, stats: Option<Stats>) -> Option<(String, Stats)> {
    stats.map(|s| (name.to_string(), s))
}

/// (name, stats) for every start-up timing that was measured.
fn startup_rows(report: &Report) -> Vec<(String, Stats)> {
    let s = &report.startup;
    [
        stats_row("compile raw .wasm", Some(s.compile_raw)),
        stats_row("compile shipped .wasm", Some(s.compile_shipped)),
        stats_row("deserialize .cwasm (from bytes)", s.deserialize_cwasm),
        stats_row("deserialize .cwasm (mapped file)", s.deserialize_cwasm_file),
        stats_row("instantiate raw", Some(s.instantiate_raw)),
        stats_row("instantiate shipped", Some(s.instantiate_shipped)),
        stats_row("init on raw (saved by pre-init)", s.init_raw),
        stats_row("first call, raw after init", s.first_call_raw),
        stats_row("first call, shipped", s.first_call_shipped),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn tables(report: &Report) -> String {
    let mut html = String::from(
        "<h2>Start-up, in detail</h2><table><tr><th>step</th><th>median</th><th>min</th><th>max</th></tr>",
    );
    for (name, s) in startup_rows(report) {
        html.push_str(&format!(
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            human_ms(s.median_ms),
            human_ms(s.min_ms),
            human_ms(s.max_ms)
        ));
    }
    html.push_str("</table><h2>Engines</h2><table id=\"engines\"><tr><th>engine</th><th>compile shipped .wasm</th><th>first call</th><th></th></tr>");
    for row in &report.engines {
        let cell = |s: Option<Stats>| s.map_or("-".to_string(), |s| human_ms(s.median_ms));
        let note = row.unavailable.as_deref().or(row.note.as_deref()).unwrap_or("");
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"note\">{}</td></tr>",
            row.name,
            cell(row.compile),
            cell(row.first_call),
            escape(note)
        ));
    }
    let m = &report.memory;
    html.push_str(&format!(
        "</table><h2>Memory</h2><table id=\"memory\"><tr><td>linear memory after pre-init</td><td>{}</td></tr>\
         <tr><td>peak during the measured call</td><td>{}</td></tr>\
         <tr><td>recommended cap (peak + {}%, recorded in manifest.json)</td><td>{}</td></tr></table>",
        human_bytes(m.after_preinit),
        human_bytes(m.peak),
        m.headroom_percent,
        human_bytes(m.recommended_cap)
    ));
    html
}

pub fn html(report: &Report) -> String {
    let subtitle = format!(
        "profile `{}`, call {}, medians of {} runs after a warm-up, measured by cargo-wasmship {}",
        report.profile,
        report.call.as_deref().unwrap_or("(none)"),
        report.reps,
        env!("CARGO_PKG_VERSION")
    );
    let headline: String = report.headline.iter().map(|l| format!("<p>{}</p>", escape(l))).collect();
    crate::stages::package::bindings::render(
        TEMPLATE,
        &[
            ("title", escape(&format!("{} {}: what the build bought", report.package, report.version))),
            ("subtitle", escape(&subtitle)),
            ("headline", headline),
            ("waterfall", waterfall(report)),
            ("startup", cold_start(report)),
            ("tables", tables(report)),
        ],
    )
}

/// The terminal table, on stderr.
pub fn table(report: &Report) {
    let b = &report.bytes;
    let mut lines = vec![String::new(), "  bytes".to_string()];
    let mut row = |name: &str, value: String| lines.push(format!("    {name:<34} {value:>12}"));
    row("raw .wasm (cargo)", human_bytes(b.raw));
    row("raw .wasm, brotli", human_bytes(b.raw_br));
    row("after pre-init", human_bytes(b.preinit));
    row("after wasm-opt", human_bytes(b.optimize));
    row("shipped .wasm", human_bytes(b.strip));
    if let Some(br) = b.br {
        row("shipped .wasm.br", human_bytes(br));
    }
    if let Some(gz) = b.gz {
        row("shipped .wasm.gz", human_bytes(gz));
    }
    for (label, n) in &b.cwasm {
        row(&format!(".cwasm {label}"), human_bytes(*n));
    }
    lines.push(format!("\n  start-up                             {:>12} {:>10} {:>10}", "median", "min", "max"));
    for (name, s) in startup_rows(report) {
        lines.push(format!(
            "    {name:<34} {:>12} {:>10} {:>10}",
            human_ms(s.median_ms),
            human_ms(s.min_ms),
            human_ms(s.max_ms)
        ));
    }
    if let (Some(call), Some(answer)) = (&report.call, &report.startup.answer) {
        lines.push(format!("    {call} answered {answer} on both (raw after init, shipped)"));
    }
    lines.push("\n  engines                              compile shipped   first call".to_string());
    for e in &report.engines {
        let cell = |s: Option<Stats>| s.map_or("-".to_string(), |s| human_ms(s.median_ms));
        let note = e.unavailable.as_deref().or(e.note.as_deref()).map(|u| format!("  ({u})")).unwrap_or_default();
        lines.push(format!("    {:<34} {:>15} {:>12}{note}", e.name, cell(e.compile), cell(e.first_call)));
    }
    let m = &report.memory;
    lines.push(format!(
        "\n  memory: {} after pre-init, peak {}, recommended cap {} (+{}%)",
        human_bytes(m.after_preinit),
        human_bytes(m.peak),
        human_bytes(m.recommended_cap),
        m.headroom_percent
    ));
    if let Some(image) = &m.image {
        let how = if image.copy_on_write {
            "one copy-on-write image: each instance maps it, nothing is copied"
        } else {
            "not one image: each instantiation copies the data segments"
        };
        lines.push(format!(
            "  initial memory: {} span, {} of data: {how} (instantiate shipped: {})",
            human_bytes(image.span),
            human_bytes(image.data),
            human_ms(report.startup.instantiate_shipped.median_ms)
        ));
    }
    for line in &report.headline {
        lines.push(format!("\n  {line}"));
    }
    eprintln!("{}", lines.join("\n"));
}
