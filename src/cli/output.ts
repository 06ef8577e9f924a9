import { InvalidArgumentError } from 'commander';

// Output for every listing command (bpclient's --format and --cols): text (aligned columns),
// json, jsonl, csv and csv-noheader.

export const FORMATS = ['text', 'json', 'jsonl', 'csv', 'csv-noheader'] as const;
export type Format = (typeof FORMATS)[number];

export function parseFormat(value: string): Format {
  if ((FORMATS as readonly string[]).includes(value)) return value as Format;
  throw new InvalidArgumentError(`expected one of ${FORMATS.join(', ')}, got "${value}"`);
}

export function parseCols(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
  ];
}

type Row = Readonly<Record<string, unknown>>;

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function csvCell(v: unknown): string {
  const s = cell(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Renders rows; `cols` picks and orders columns (default: `defaultCols`). */
export function renderRows(rows: readonly Row[], format: Format, cols: readonly string[]): string {
  const pick = (r: Row): Record<string, unknown> => Object.fromEntries(cols.map((c) => [c, r[c]]));
  switch (format) {
    case 'json':
      return `${JSON.stringify(rows.map(pick), null, 2)}\n`;
    case 'jsonl':
      return rows.map((r) => `${JSON.stringify(pick(r))}\n`).join('');
    case 'csv':
    case 'csv-noheader': {
      const lines = rows.map((r) => cols.map((c) => csvCell(r[c])).join(','));
      if (format === 'csv') lines.unshift(cols.join(','));
      return lines.length > 0 ? `${lines.join('\n')}\n` : '';
    }
    default: {
      const table = [
        cols.map((c) => c.toUpperCase()),
        ...rows.map((r) => cols.map((c) => cell(r[c]))),
      ];
      const widths = cols.map((_, i) => Math.max(...table.map((line) => line[i]!.length)));
      return table
        .map((line) =>
          line.map((v, i) => (i === line.length - 1 ? v : v.padEnd(widths[i]!))).join('  '),
        )
        .map((l) => `${l.trimEnd()}\n`)
        .join('');
    }
  }
}
