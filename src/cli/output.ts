import { InvalidArgumentError } from 'commander';
import { CliError } from './errors.js';

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

/** Refuses `--cols` naming a column `command` does not have, listing the ones it has. */
export function checkCols(
  cols: readonly string[] | undefined,
  valid: readonly string[],
  command: string,
): void {
  const unknown = (cols ?? []).filter((c) => !valid.includes(c));
  if (unknown.length === 0) return;
  throw new CliError(
    `--cols: ${command} has no column ${unknown.map((c) => JSON.stringify(c)).join(', ')}; its columns: ${valid.join(', ')}`,
  );
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

/**
 * Renders rows; `cols` picks and orders columns. A column that is neither in `known` nor a field
 * of any row is refused (a typo would otherwise print an empty column).
 */
export function renderRows(
  rows: readonly Row[],
  format: Format,
  cols: readonly string[],
  known: readonly string[] = [],
): string {
  if (rows.length > 0 || known.length > 0) {
    checkCols(
      cols,
      [...new Set([...known, ...rows.flatMap((r) => Object.keys(r))])],
      'this listing',
    );
  }
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
