/** How the CLI's views print: aligned tables and indented JSON on stdout. */

/** Left-aligned columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)].join("\n");
}

/** Appends an empty line and the table of `rows` to `lines`; nothing when there are no rows. */
export function appendTable(lines: string[], header: string[], rows: string[][]): void {
  if (rows.length > 0) lines.push("", table(header, rows));
}

/** Writes `lines` to stdout, each ended by a newline (nothing for none); returns exit code 0. */
export function printLines(lines: readonly string[]): number {
  if (lines.length > 0) process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

/** Writes `value` as indented JSON to stdout (`--json`); returns exit code 0. */
export function printJson(value: unknown): number {
  return printLines([JSON.stringify(value, null, 2)]);
}
