/** Plain-text tables for the terminal: the first column left-aligned, the others right-aligned. */

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  for (const row of rows) {
    if (row.length !== header.length) throw new Error(`table row ${JSON.stringify(row)} has ${row.length} cells, the header ${header.length}`);
  }
  const widths = header.map((_, column) => Math.max(...all.map((row) => [...row[column]!].length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n') + '\n';
}

/** Seconds with two decimals: TCG boots vary by more than 10 ms from run to run. */
export const seconds = (value: number): string => value.toFixed(2);

/** Bytes in MiB with one decimal. */
export const mebibytes = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
