import type { Row, Table } from "./suite.js";

/**
 * Plain-text tables for the terminal. Columns are the union of the rows' keys
 * in first-seen order (a row may leave a cell out); numbers are right-aligned
 * and rounded for reading only — the JSON keeps full precision.
 */

/** Round for display: about 3–4 significant digits, thousands grouped. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "–" : v > 0 ? "∞" : "-∞";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString("en-US");
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

export function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const k of Object.keys(row)) seen.add(k);
  return [...seen];
}

/** The table as text: title, header, rule, rows, then notes prefixed with "·". */
export function formatTable(table: Table): string {
  const columns = columnsOf(table.rows);
  const cells = table.rows.map((row) =>
    columns.map((c) => {
      const v = row[c];
      return v === undefined ? "" : typeof v === "number" ? formatNumber(v) : v;
    }),
  );
  // A column is right-aligned when every present value in it is a number.
  const numeric = columns.map((c) => table.rows.every((r) => r[c] === undefined || typeof r[c] === "number"));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const pad = (text: string, i: number): string =>
    numeric[i] ? text.padStart(widths[i] as number) : text.padEnd(widths[i] as number);
  const line = (parts: string[]): string => parts.map(pad).join("  ").trimEnd();

  const out = [table.title, "=".repeat(table.title.length)];
  if (columns.length > 0) {
    out.push(line(columns), widths.map((w) => "-".repeat(w)).join("  "));
    for (const r of cells) out.push(line(r));
  }
  for (const note of table.notes ?? []) out.push(`  · ${note}`);
  return out.join("\n");
}
