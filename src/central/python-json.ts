// bpbroker's clients print JSON as Python's `json.dumps` writes it: `", "` and `": "` between
// items, non-ASCII escaped as \uXXXX (ensure_ascii). Scripts parse the transcripts' exact text
// (seed 000: `{"last_write_ts": 1420068290, "last_write_ip": "127.0.0.1", "key": "special data"}`).

function str(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** `value` as Python's `json.dumps(value)` prints it. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return str(value);
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
    return JSON.stringify(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${str(k)}: ${pythonJson(v)}`,
    );
    return `{${items.join(', ')}}`;
  }
  return str(String(value));
}
