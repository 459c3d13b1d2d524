// A stacked bar chart of opt-outs per period by source, as inline SVG built with DOM calls (no library, no inline
// style: colours come from classes in console.css).

import { h } from "./dom.js";

export const SOURCES = ["keyword", "natural_language", "carrier", "manual", "import", "bounce"];

/** rows: [{period, opt_outs, by_source: {source: n}}]; an <svg> with a <title> and a bar per period. */
export function optOutChart(rows, title) {
  const width = 640;
  const height = 240;
  const left = 36;
  const bottom = 28;
  const top = 10;
  const plotHeight = height - top - bottom;
  const max = Math.max(1, ...rows.map((row) => row.opt_outs || 0));
  const step = rows.length ? (width - left - 8) / rows.length : 0;
  const barWidth = Math.max(2, Math.min(40, step * 0.7));
  const bars = [];
  rows.forEach((row, index) => {
    let y = top + plotHeight;
    const x = left + index * step + (step - barWidth) / 2;
    const parts = [];
    for (const source of SOURCES) {
      const count = (row.by_source || {})[source] || 0;
      if (!count) continue;
      const barHeight = (count / max) * plotHeight;
      y -= barHeight;
      parts.push(
        h(
          "rect",
          { x: x.toFixed(1), y: y.toFixed(1), width: barWidth.toFixed(1), height: barHeight.toFixed(1), class: `bar ${source}` },
          h("title", {}, `${row.period}: ${count} ${source.replace("_", " ")}`),
        ),
      );
    }
    bars.push(h("g", {}, parts));
    if (rows.length <= 16 || index % Math.ceil(rows.length / 8) === 0) {
      bars.push(h("text", { x: (x + barWidth / 2).toFixed(1), y: height - 10, class: "axis", "text-anchor": "middle" }, String(row.period).slice(5)));
    }
  });
  return h(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" },
    h("title", {}, title),
    h("line", { x1: left, y1: top + plotHeight, x2: width - 4, y2: top + plotHeight, class: "axis-line" }),
    h("text", { x: left - 6, y: top + 8, class: "axis", "text-anchor": "end" }, String(max)),
    h("text", { x: left - 6, y: top + plotHeight, class: "axis", "text-anchor": "end" }, "0"),
    bars,
  );
}

/** The chart's legend: one swatch per source. */
export function legend() {
  return h(
    "ul",
    { class: "legend" },
    SOURCES.map((source) =>
      h(
        "li",
        {},
        h("svg", { viewBox: "0 0 10 10", class: "swatch", "aria-hidden": "true" }, h("rect", { width: 10, height: 10, class: `bar ${source}` })),
        source.replace("_", " "),
      ),
    ),
  );
}
