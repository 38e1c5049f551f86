// Small SVG charts, sized by the viewBox so they scale with the page. Each has a
// title for assistive technology; the numbers are always also shown as text nearby.
import { svg, uid } from "./dom.js";
import { formatNumber } from "./ui.js";

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** The value the full bar width stands for (bars of the same figure share a scale across charts). */
  readonly max: number;
}

/** Horizontal bars, one per figure, labelled with name and value. */
export function barChart(title: string, bars: readonly Bar[]): SVGSVGElement {
  const rowH = 24;
  const labelW = 72;
  const valueW = 56;
  const width = 260;
  const barW = width - labelW - valueW;
  const height = Math.max(1, bars.length) * rowH + 4;
  const titleId = uid("chart");
  return svg(
    "svg",
    { class: "chart bar-chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": titleId, preserveAspectRatio: "xMinYMin meet" },
    svg("title", { id: titleId }, title),
    bars.map((b, i) => {
      const y = i * rowH + 2;
      const frac = b.max > 0 && Number.isFinite(b.value) ? Math.min(1, Math.max(0, b.value / b.max)) : 0;
      return svg(
        "g",
        null,
        svg("text", { x: 0, y: y + 16, class: "chart-label" }, b.label),
        svg("rect", { x: labelW, y: y + 3, width: barW, height: rowH - 8, rx: 3, class: "chart-track" }),
        svg("rect", { x: labelW, y: y + 3, width: Math.max(frac * barW, frac > 0 ? 2 : 0), height: rowH - 8, rx: 3, class: "chart-bar" }),
        svg("text", { x: width - 2, y: y + 16, "text-anchor": "end", class: "chart-value" }, formatNumber(b.value)),
      );
    }),
  );
}

export interface Point {
  readonly label: string;
  readonly value: number;
}

/** A line through points in order (for example a figure across versions, oldest first). */
export function lineChart(title: string, points: readonly Point[]): SVGSVGElement {
  const width = 480;
  const height = 160;
  const pad = { left: 48, right: 12, top: 12, bottom: 28 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const finite = points.filter((p) => Number.isFinite(p.value));
  const lo = Math.min(0, ...finite.map((p) => p.value));
  const hi = Math.max(lo + 1e-9, ...finite.map((p) => p.value));
  const x = (i: number) => pad.left + (points.length <= 1 ? innerW / 2 : (i / (points.length - 1)) * innerW);
  const y = (v: number) => pad.top + innerH - ((v - lo) / (hi - lo)) * innerH;
  const titleId = uid("chart");
  const path = points
    .map((p, i) => (Number.isFinite(p.value) ? `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}` : ""))
    .join(" ");
  return svg(
    "svg",
    { class: "chart line-chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId }, title),
    svg("line", { x1: pad.left, y1: pad.top + innerH, x2: pad.left + innerW, y2: pad.top + innerH, class: "chart-axis" }),
    svg("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: pad.top + innerH, class: "chart-axis" }),
    svg("text", { x: pad.left - 6, y: pad.top + 4, "text-anchor": "end", class: "chart-tick" }, formatNumber(hi)),
    svg("text", { x: pad.left - 6, y: pad.top + innerH, "text-anchor": "end", class: "chart-tick" }, formatNumber(lo)),
    svg("path", { d: path, class: "chart-line", fill: "none" }),
    points.map((p, i) =>
      Number.isFinite(p.value)
        ? svg("circle", { cx: x(i), cy: y(p.value), r: 3.5, class: "chart-dot" }, svg("title", null, `${p.label}: ${formatNumber(p.value)}`))
        : null,
    ),
    // Label at most about 8 points so the labels never overlap.
    points.map((p, i) =>
      i % Math.ceil(points.length / 8) === 0 || i === points.length - 1
        ? svg("text", { x: x(i), y: height - 8, "text-anchor": "middle", class: "chart-tick" }, p.label)
        : null,
    ),
  );
}
