import type { GoldenReport, ResultRow } from "./run.js";

// The report as a plain-text table: case, kind, output, rel. L2 error, tolerance, result.

function errorText(row: ResultRow): string {
  if (row.error === null) return "-";
  if (row.error === 0) return "0";
  return Number.isNaN(row.error) ? "NaN" : row.error.toExponential(2);
}

export function formatReport(report: GoldenReport): string {
  const header = ["case", "kind", "output", "rel. L2 error", "tolerance", "result"];
  const body = report.rows.map((r) => [
    r.case,
    r.component,
    r.output,
    errorText(r),
    r.tolerance || "-",
    r.status === "pass" ? "pass" : r.status === "fail" ? "FAIL" : "unsupported",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const lines = [line(header), line(widths.map((w) => "-".repeat(w)))];
  report.rows.forEach((row, i) => {
    lines.push(line(body[i] ?? []));
    if (row.note !== undefined && row.status !== "pass") lines.push(`    ${row.note}`);
  });
  const { pass, fail, unsupported } = report.counts;
  lines.push("", `${report.setDir}: ${pass} passed, ${fail} failed, ${unsupported} unsupported`);
  return lines.join("\n");
}
