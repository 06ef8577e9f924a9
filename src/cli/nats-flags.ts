// nats-server's flags are Go flags: one or two dashes, underscores in names (`-ms 8443`,
// `-ports_file_dir DIR`, `--http_port 8222`). `admiral broker start` takes the same spellings, so
// a harness that starts nats-server can start the embedded broker; commander needs them as
// `--kebab-case`, which this rewrites them to.

/** nats-server flag (without dashes) → the `admiral broker start` flag. */
const ALIASES: Readonly<Record<string, string>> = {
  ms: '--https-port',
  https_port: '--https-port',
  http_port: '--http-port',
  ports_file_dir: '--ports-file-dir',
  addr: '--host',
  net: '--host',
  server_name: '--server-name',
};

/** Rewrites nats-server style flags in the arguments after `broker start`. */
export function natsStyleArgs(argv: readonly string[]): string[] {
  const out = [...argv];
  const at = out.findIndex((a, i) => a === 'start' && out[i - 1] === 'broker');
  if (at < 0) return out;
  for (let i = at + 1; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--') break;
    const m = /^--?([A-Za-z_]+)(=.*)?$/.exec(a);
    if (!m) continue;
    const alias = ALIASES[m[1]!];
    if (alias !== undefined) out[i] = alias + (m[2] ?? '');
  }
  return out;
}
