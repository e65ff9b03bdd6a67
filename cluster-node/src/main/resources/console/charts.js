// Small inline-SVG charts: a line chart of series over time and a bar chart. No library: the page ships as is.

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

export function color(i) { return COLORS[i % COLORS.length]; }

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function format(v) {
  if (v >= 100) return Math.round(v).toString();
  if (v >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}

/**
 * Draws series ({name, points: [[t, v|null], ...]}) into the svg as lines over the last windowMs; a null value is
 * a gap. unit labels the y axis.
 */
export function lineChart(svg, series, { windowMs = 180000, unit = "" } = {}) {
  const W = 420, H = 200, L = 52, R = 10, T = 12, B = 26;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const now = Date.now(), from = now - windowMs;
  let max = 0;
  for (const s of series) for (const [, v] of s.points) if (v != null && v > max) max = v;
  max = niceMax(max);
  const x = t => L + (W - L - R) * (t - from) / windowMs;
  const y = v => T + (H - T - B) * (1 - v / max);
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, format(v)));
  }
  svg.append(el("text", { x: L, y: H - 6, class: "axis" }, windowMs >= 60000 ? `-${Math.round(windowMs / 60000)} min` : `-${Math.round(windowMs / 1000)} s`));
  svg.append(el("text", { x: W - R, y: H - 6, "text-anchor": "end", class: "axis" }, "now" + (unit ? ` (${unit})` : "")));
  series.forEach((s, i) => {
    let d = "";
    let pen = false;
    for (const [t, v] of s.points) {
      if (t < from || v == null) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    if (d) svg.append(el("path", { d, fill: "none", stroke: color(i), "stroke-width": 2 }));
  });
}

/** Bars ({label, value}) into the svg, labelled under each bar and with its value on top. */
export function barChart(svg, bars, { unit = "" } = {}) {
  const W = 600, H = 220, L = 52, R = 10, T = 16, B = 30;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const max = niceMax(Math.max(0, ...bars.map(b => b.value)));
  const y = v => T + (H - T - B) * (1 - v / max);
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, format(v)));
  }
  if (!bars.length) {
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "no usage recorded yet"));
    return;
  }
  const slot = (W - L - R) / bars.length;
  const bw = Math.min(60, slot * 0.7);
  bars.forEach((b, i) => {
    const cx = L + slot * (i + 0.5);
    svg.append(el("rect", { x: cx - bw / 2, y: y(b.value), width: bw, height: y(0) - y(b.value), fill: color(0) },));
    svg.append(el("text", { x: cx, y: y(b.value) - 3, "text-anchor": "middle", class: "axis" }, format(b.value)));
    svg.append(el("text", { x: cx, y: H - 10, "text-anchor": "middle", class: "axis" }, b.label));
  });
  if (unit) svg.append(el("text", { x: L, y: 10, class: "axis" }, unit));
}
