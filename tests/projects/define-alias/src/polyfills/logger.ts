// Stands in for a logger that writes to files with node:fs.
export const lines: string[] = [];

export function log(line: string): void {
  lines.push(`[worker] ${line}`);
}
