import type { GoldenReport, ResultRow } from "./run.js";
import { BF16_REL_L2, describeBackend } from "./tolerance.js";

// The report as a plain-text table: case, kind, output, rel. L2 error, tolerance, result,
// under a line naming the backend the models ran on.

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
  const lines = [`backend: ${describeBackend(report.backend, report.precision)}`];
  if (report.precision === "bf16") {
    lines.push(
      `  model outputs judged at rel. L2 max(manifest, ${BF16_REL_L2.toExponential(0)}) ("(bf16)" below); ` +
        "integer ids, masks and timesteps stay exact; model-free cases keep the manifest's bounds",
    );
  }
  lines.push("", line(header), line(widths.map((w) => "-".repeat(w))));
  report.rows.forEach((row, i) => {
    lines.push(line(body[i] ?? []));
    if (row.note !== undefined && row.status !== "pass") lines.push(`    ${row.note}`);
  });
  const { pass, fail, unsupported } = report.counts;
  lines.push("", `${report.setDir}: ${pass} passed, ${fail} failed, ${unsupported} unsupported`);
  return lines.join("\n");
}
