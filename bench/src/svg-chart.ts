/**
 * Hand-written SVG charts for docs/benchmarks.md: a line chart (latency by
 * size) and a grouped bar chart (latency by operation), with axes, labels
 * and a legend. No chart library: the output is small, deterministic text
 * that diffs well in git and renders on GitHub.
 *
 * Our figures are solid; reference figures from the paper ("paper" style)
 * are dashed lines or hatched bars, so the two platforms are never confused.
 */

export interface Series {
  readonly name: string;
  /** One value per category (undefined: no point there). */
  readonly values: readonly (number | undefined)[];
  readonly style: "ours" | "paper";
}

export interface ChartSpec {
  readonly kind: "line" | "bar";
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  readonly series: readonly Series[];
  /** Logarithmic y axis (latencies spanning µs to s). */
  readonly logY: boolean;
}

const WIDTH = 820;
const M = { left: 78, right: 250, top: 62 };
const PLOT_W = WIDTH - M.left - M.right;
const PLOT_H = 314;
/** Rough width of a 12 px label character, to decide when x labels must be slanted. */
const CHAR_W = 6.5;
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/\.?0+$/, ""));

/** A tick label: 0.001 → "0.001", 1000 → "1,000". */
function tickLabel(v: number): string {
  if (v >= 1000) return Math.round(v).toLocaleString("en-US");
  if (v >= 1) return String(Number(v.toPrecision(3)));
  return String(Number(v.toPrecision(2)));
}

interface Scale {
  readonly y: (v: number) => number;
  readonly ticks: readonly number[];
  readonly floor: number;
}

function scaleOf(values: readonly number[], log: boolean): Scale {
  const positive = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (positive.length === 0) return { y: () => M.top + PLOT_H, ticks: [], floor: 0 };
  if (log) {
    const lo = Math.floor(Math.log10(Math.min(...positive)));
    const hi = Math.ceil(Math.log10(Math.max(...positive)));
    const top = hi === lo ? lo + 1 : hi;
    const ticks: number[] = [];
    for (let e = lo; e <= top; e++) ticks.push(10 ** e);
    const y = (v: number): number => M.top + PLOT_H - ((Math.log10(v) - lo) / (top - lo)) * PLOT_H;
    return { y, ticks, floor: 10 ** lo };
  }
  const max = Math.max(...positive, 0);
  const step = niceStep(max / 5);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(t);
  return { y: (v) => M.top + PLOT_H - (v / top) * PLOT_H, ticks, floor: 0 };
}

function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Render the chart as a standalone SVG document. */
export function renderChart(spec: ChartSpec): string {
  const all = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const scale = scaleOf(all, spec.logY);
  const n = Math.max(1, spec.categories.length);
  const band = PLOT_W / n;
  const cx = (i: number): number => M.left + band * (i + 0.5);
  // Labels wider than their band are slanted, and the chart grows to fit them.
  const longest = Math.max(0, ...spec.categories.map((c) => c.length)) * CHAR_W;
  const slant = longest > band - 4;
  const bottom = slant ? 40 + Math.ceil(longest * 0.5) + 12 : 64;
  const height = M.top + PLOT_H + bottom;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<defs><pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-opacity="0.35" stroke-width="2"/></pattern></defs>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${M.left}" y="24" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  if (spec.subtitle !== undefined) {
    out.push(`<text x="${M.left}" y="44" fill="#555">${escapeXml(spec.subtitle)}</text>`);
  }
  // Grid and y axis.
  for (const t of scale.ticks) {
    const y = fmt(scale.y(t));
    out.push(
      `<line x1="${M.left}" x2="${M.left + PLOT_W}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#333">${tickLabel(t)}</text>`,
    );
  }
  out.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + PLOT_H}" stroke="#333"/>`,
    `<line x1="${M.left}" x2="${M.left + PLOT_W}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H}" stroke="#333"/>`,
    `<text transform="translate(18 ${M.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}${spec.logY ? " (log scale)" : ""}</text>`,
    `<text x="${M.left + PLOT_W / 2}" y="${height - 14}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
  );
  spec.categories.forEach((c, i) => {
    const y = M.top + PLOT_H + 18;
    const place = slant
      ? `x="${fmt(cx(i))}" y="${y}" text-anchor="end" transform="rotate(-30 ${fmt(cx(i))} ${y})"`
      : `x="${fmt(cx(i))}" y="${y}" text-anchor="middle"`;
    out.push(`<text ${place} fill="#333">${escapeXml(c)}</text>`);
  });
  if (spec.kind === "line") out.push(...lines(spec, scale, cx));
  else out.push(...bars(spec, scale, band));
  out.push(...legend(spec));
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function color(i: number): string {
  return PALETTE[i % PALETTE.length] as string;
}

function lines(spec: ChartSpec, scale: Scale, cx: (i: number) => number): string[] {
  const out: string[] = [];
  spec.series.forEach((s, si) => {
    const c = color(si);
    const dash = s.style === "paper" ? ` stroke-dasharray="6 4"` : "";
    // A size this series was not measured at is skipped: the line joins its neighbours.
    let path = "";
    s.values.forEach((v, i) => {
      if (v === undefined || (spec.logY && v <= 0)) return;
      path += `${path === "" ? "M" : "L"}${fmt(cx(i))} ${fmt(scale.y(v))} `;
    });
    if (path !== "") out.push(`<path d="${path.trim()}" fill="none" stroke="${c}" stroke-width="2"${dash}/>`);
    s.values.forEach((v, i) => {
      if (v === undefined || (spec.logY && v <= 0)) return;
      const fill = s.style === "paper" ? "#fff" : c;
      out.push(
        `<circle cx="${fmt(cx(i))}" cy="${fmt(scale.y(v))}" r="3.5" fill="${fill}" stroke="${c}" stroke-width="1.5"><title>${escapeXml(`${s.name}: ${tickLabel(v)}`)}</title></circle>`,
      );
    });
  });
  return out;
}

function bars(spec: ChartSpec, scale: Scale, band: number): string[] {
  const out: string[] = [];
  const k = Math.max(1, spec.series.length);
  const w = (band * 0.8) / k;
  const base = M.top + PLOT_H;
  spec.series.forEach((s, si) => {
    const c = color(si);
    s.values.forEach((v, i) => {
      if (v === undefined || (spec.logY && v <= 0)) return;
      const x = M.left + band * i + band * 0.1 + w * si;
      const y = Math.min(base, scale.y(Math.max(v, scale.floor)));
      const h = Math.max(1, base - y);
      const label = `<title>${escapeXml(`${s.name}: ${tickLabel(v)}`)}</title>`;
      if (s.style === "paper") {
        out.push(
          `<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(w - 1)}" height="${fmt(h)}" fill="${c}" fill-opacity="0.35" stroke="${c}" stroke-dasharray="3 2">${label}</rect>`,
          `<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(w - 1)}" height="${fmt(h)}" fill="url(#hatch)"/>`,
        );
      } else {
        out.push(
          `<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(w - 1)}" height="${fmt(h)}" fill="${c}">${label}</rect>`,
        );
      }
    });
  });
  return out;
}

function legend(spec: ChartSpec): string[] {
  const out: string[] = [];
  const x = M.left + PLOT_W + 16;
  spec.series.forEach((s, si) => {
    const y = M.top + 8 + si * 20;
    const c = color(si);
    if (spec.kind === "line") {
      const dash = s.style === "paper" ? ` stroke-dasharray="6 4"` : "";
      out.push(`<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${c}" stroke-width="2"${dash}/>`);
    } else {
      const paper = s.style === "paper";
      out.push(
        `<rect x="${x}" y="${y - 6}" width="24" height="12" fill="${c}"${paper ? ` fill-opacity="0.35" stroke="${c}" stroke-dasharray="3 2"` : ""}/>`,
      );
      if (paper) out.push(`<rect x="${x}" y="${y - 6}" width="24" height="12" fill="url(#hatch)"/>`);
    }
    out.push(`<text x="${x + 30}" y="${y}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  return out;
}
