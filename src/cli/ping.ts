import type { Command } from 'commander';
import { connectClient } from '../client/connect.js';
import { type PingReport, pingFleet } from '../fleet/ping.js';
import { parseDuration } from './duration.js';
import { type Format, renderRows } from './output.js';
import { narrowToOnline, noMatchReason } from './no-match.js';
import { runPingEcho } from './ping-echo.js';
import { addTargetOptions, type TargetFlags, targetFromOptions } from './target.js';

// `admiral ping [target]`: Choria's fast ping (one broadcast, answers collected; docs/fleet.md).
// `admiral ping --data X` is bpclient's end-to-end echo through the central (docs/broker-services.md).

/** Exit codes, the same numbers as `admiral run` (docs/jobs.md, "Exit codes"). */
export const PING_EXIT = { ok: 0, error: 1, someNoAnswer: 3, noNodes: 5 } as const;

interface PingFlags extends TargetFlags {
  broker?: string;
  centralWait?: number;
  dataDir?: string;
  format?: Format;
  cols?: string[];
  timeout: number;
  data?: string;
  online?: boolean;
}

const ms = (v: number): string => `${v.toFixed(2)} ms`;

function renderText(report: PingReport): string {
  const width = Math.max(4, ...report.replies.map((r) => r.node.length));
  const lines = report.replies.map((r) => `${r.node.padEnd(width)}  time=${ms(r.rttMs)}`);
  lines.push('', '---- ping statistics ----');
  const { stats } = report;
  const expected = report.expected === undefined ? '' : ` of ${report.expected.length} expected`;
  lines.push(
    stats === undefined
      ? `0 replies${expected}`
      : `${report.replies.length} replies${expected} min/avg/max = ${stats.min.toFixed(2)}/${stats.avg.toFixed(2)}/${stats.max.toFixed(2)} ms, in ${ms(report.elapsedMs)}`,
  );
  if (report.missing.length > 0) {
    lines.push(`did not answer (${report.missing.length}): ${report.missing.join(', ')}`);
  }
  if (report.note !== undefined) lines.push(`note: ${report.note}`);
  return `${lines.join('\n')}\n`;
}

function renderStructured(report: PingReport, format: Format, cols: readonly string[]): string {
  if (format === 'json') {
    return `${JSON.stringify(
      {
        replies: report.replies,
        missing: report.missing,
        expected: report.expected ?? null,
        stats: report.stats ?? null,
        elapsedMs: report.elapsedMs,
        ...(report.note !== undefined && { note: report.note }),
      },
      null,
      2,
    )}\n`;
  }
  const rows = [
    ...report.replies.map((r) => ({ node: r.node, status: 'ok', rttMs: r.rttMs })),
    ...report.missing.map((node) => ({ node, status: 'no-answer', rttMs: null })),
  ];
  return renderRows(rows, format, cols, ['node', 'status', 'rttMs']);
}

export function registerPing(program: Command): void {
  addTargetOptions(
    program
      .command('ping')
      .argument('[target]', 'node names (a,b) or one filter (fact=glob); default every node')
      .description(
        'ping nodes: each answers with its round-trip time; then min/avg/max and who did not answer',
      )
      .option('--timeout <duration>', 'how long to wait for answers', parseDuration, 2)
      .option('--online', 'only the targeted nodes that are online now')
      .option('--data <text>', "echo TEXT through the central's broker services (bpclient ping)"),
  ).action(async (positional: string | undefined, _opts: unknown, command: Command) => {
    const opts = command.optsWithGlobals<PingFlags>();
    if (opts.data !== undefined) {
      // bpclient's echo through the central (docs/broker-services.md).
      await runPingEcho(opts, opts.data, opts.timeout);
      return;
    }
    let target = targetFromOptions(opts, positional);
    const client = await connectClient({
      ...(opts.broker !== undefined && { broker: opts.broker }),
      ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
      ...(opts.centralWait !== undefined && { centralWaitMs: opts.centralWait * 1000 }),
    });
    let report: PingReport;
    let reason: string | undefined;
    try {
      if (opts.online === true) target = await narrowToOnline(client, target);
      report = await pingFleet(client.nc, client.subjects, {
        target,
        identity: client.identity,
        timeoutMs: Math.round(opts.timeout * 1000),
      });
      if (report.expected?.length === 0) reason = await noMatchReason(client, target);
    } finally {
      await client.close();
    }
    const format = opts.format ?? 'text';
    process.stdout.write(
      format === 'text' && opts.cols === undefined
        ? renderText(report)
        : renderStructured(report, format, opts.cols ?? ['node', 'status', 'rttMs']),
    );
    if (reason !== undefined) process.stderr.write(`${reason}\n`);
    if (report.missing.length > 0) process.exitCode = PING_EXIT.someNoAnswer;
    else if (report.replies.length === 0) process.exitCode = PING_EXIT.noNodes;
  });
}
