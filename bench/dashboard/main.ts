/// <reference lib="dom" />
// bench/dashboard: does the dashboard stay responsive with a 5,000-node fleet and a 5,000-node
// job? A real `admiral up`, simulated nodes (bench/fleet/sim-nodes.ts: each its own connection,
// signed hello, answers REQCliCommand), Debian's chromium driven by playwright-core. Each figure
// is printed beside its reference from the same run:
//   - the Fleet page showing N nodes, against the same page showing SMALL nodes (ratio ~1: the
//     page renders one page of rows, not the fleet);
//   - the filter box narrowing N nodes, against SMALL;
//   - a job on every node watched live in the page, against the same job with no page open
//     (ratio ~1: the page does not slow the job), with the page's longest main-thread task.
//   node dist/bench/dashboard/main.js [--nodes 5000] [--small 100] [--rounds 3]
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { CLI_BUNDLE } from '../../src/layout.js';

const CLI = CLI_BUNDLE;
const SIM = fileURLToPath(new URL('../fleet/sim-nodes.js', import.meta.url));
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const N = arg('--nodes', 5000);
const SMALL = arg('--small', 100);
const PROCESSES = 4;
const ROUNDS = arg('--rounds', 3);
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function up(dir: string): Promise<{ child: ChildProcess; broker: string; url: string }> {
  const child = spawn(
    process.execPath,
    [CLI, 'up', '--broker-port', '0', '--http-listen', '127.0.0.1:0', '--data-dir', dir],
    {
      env: { ...process.env, ADMIRAL_CENTRAL__DISCOVERY__PORT: '0', ADMIRAL_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 300 && !/data dir:/.test(out); i++)
    await new Promise((r) => setTimeout(r, 100));
  const broker = /broker:\s+(nats:\/\/\S+)/.exec(out)?.[1];
  const url = /dashboard:\s+(http:\/\/\S+)\//.exec(out)?.[1];
  if (!broker || !url) throw new Error(`admiral up did not start:\n${out}`);
  return { child, broker, url };
}

function simNodes(broker: string, from: number, count: number): Promise<ChildProcess[]> {
  const per = Math.ceil(count / PROCESSES);
  return Promise.all(
    Array.from({ length: PROCESSES }, (_, p) => {
      const child = fork(
        SIM,
        [
          JSON.stringify({
            url: broker,
            prefix: 'sim',
            from: from + p * per,
            count: Math.max(0, Math.min(per, count - p * per)),
          }),
        ],
        { stdio: 'ignore' },
      );
      return new Promise<ChildProcess>((resolve) => child.once('message', () => resolve(child)));
    }),
  );
}

async function api<T>(url: string, token: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return (await res.json()) as T;
}

async function waitForInventory(url: string, token: string, count: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const nodes = await api<unknown[]>(url, token, '/api/v1/nodes');
    if (nodes.length >= count) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the inventory did not reach ${count} nodes`);
}

/** ms from opening the Fleet page to its count and first rows showing `count` nodes. */
async function fleetPage(page: Page, url: string, count: number): Promise<number> {
  await page.goto('about:blank');
  const t0 = performance.now();
  await page.goto(`${url}/#/`);
  await page.waitForFunction(
    (n) =>
      document.querySelector('[data-testid="node-count"]')?.textContent === `${n} nodes` &&
      document.querySelectorAll('tbody tr').length > 0,
    count,
    { timeout: 120_000, polling: 'raf' },
  );
  return performance.now() - t0;
}

/** ms from typing a filter to the page showing its match count. */
async function filter(page: Page, expected: number): Promise<number> {
  await page.fill('#where', '');
  const t0 = performance.now();
  await page.fill('#where', 'tags=even');
  await page.waitForFunction(
    (n) => document.querySelector('[data-testid="match-count"]')?.textContent === `${n} match`,
    expected,
    { timeout: 60_000, polling: 'raf' },
  );
  const ms = performance.now() - t0;
  await page.fill('#where', '');
  return ms;
}

async function longTasks(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { longest: number; blocked: number };
    w.longest = 0;
    w.blocked = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        w.longest = Math.max(w.longest, e.duration);
        w.blocked += e.duration;
      }
    }).observe({ type: 'longtask', buffered: false });
  });
}

interface Job {
  readonly createdAt: number;
  readonly finishedAt?: number;
}

const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-bench-dash-'));
  const central = await up(dir);
  const token = readFileSync(join(dir, 'api-token'), 'utf8').trim();
  const sims: ChildProcess[] = [];
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await (
      await browser.newContext({ viewport: { width: 1280, height: 800 } })
    ).newPage();
    await page.goto(`${central.url}/`);
    await page.fill('#token', token);
    await page.press('#token', 'Enter');
    await page.waitForSelector('header nav');

    sims.push(...(await simNodes(central.broker, 0, SMALL)));
    await waitForInventory(central.url, token, SMALL + 1);
    const smallPage = await fleetPage(page, central.url, SMALL + 1);
    const smallFilter = await filter(page, SMALL / 2);

    sims.push(...(await simNodes(central.broker, SMALL, N - SMALL)));
    await waitForInventory(central.url, token, N + 1);
    const bigPage = await fleetPage(page, central.url, N + 1);
    const bigFilter = await filter(page, N / 2);

    // Warm-up: central pins each sim node's key and opens its publishers on the first job.
    await api(central.url, token, '/api/v1/jobs?wait=600', { args: ['true'], all: true });

    // In alternation, ROUNDS times: the job with no page open (reference), then the same job
    // started from the Run page and watched on its job page. Medians; the ratio is the median
    // of the per-round ratios (these 2 shared cores also run chromium and the sim nodes).
    const refRuns: number[] = [];
    const pageRuns: number[] = [];
    const ratios: number[] = [];
    let longest = 0;
    let blocked = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const refJob = await api<Job>(central.url, token, '/api/v1/jobs?wait=600', {
        args: ['true'],
        all: true,
      });
      const refRun = (refJob.finishedAt ?? 0) - refJob.createdAt;
      await page.goto(`${central.url}/#/run`);
      await page.check('input[value="all"]');
      await page.fill('#command', 'true');
      await page.click('button[type="submit"]');
      await page.waitForSelector('[data-testid="confirm-count"]');
      await longTasks(page);
      await page.click('.confirm button.danger');
      await page.waitForURL(/#\/job\//);
      await page.waitForFunction(
        () =>
          ['completed', 'failed'].includes(
            document.querySelector('[data-testid="job-state"]')?.textContent ?? '',
          ),
        undefined,
        { timeout: 600_000 },
      );
      const pageJobId = /#\/job\/(.+)$/.exec(page.url())?.[1] ?? '';
      const pageJob = await api<Job>(central.url, token, `/api/v1/jobs/${pageJobId}`);
      const pageRun = (pageJob.finishedAt ?? 0) - pageJob.createdAt;
      const tasks = await page.evaluate(() => {
        const w = window as unknown as { longest: number; blocked: number };
        return { longest: w.longest, blocked: w.blocked };
      });
      longest = Math.max(longest, tasks.longest);
      blocked = Math.max(blocked, tasks.blocked);
      refRuns.push(refRun);
      pageRuns.push(pageRun);
      ratios.push(pageRun / refRun);
    }
    const rows = await page.locator('tbody tr').count();

    const ratio = (a: number, b: number): string => (a / b).toFixed(2);
    process.stdout.write(
      [
        `dashboard, ${N} simulated nodes (reference: ${SMALL}), chromium headless`,
        `  fleet page shows every node: ${fmt(bigPage)} (${SMALL}: ${fmt(smallPage)}), ratio ${ratio(bigPage, smallPage)}`,
        `  filter tags=even:            ${fmt(bigFilter)} (${SMALL}: ${fmt(smallFilter)}), ratio ${ratio(bigFilter, smallFilter)}`,
        `  job on all ${N}, as central timed it (median of ${ROUNDS}): ${fmt(median(pageRuns))} watched live (no page open: ${fmt(median(refRuns))}), ratio ${median(ratios).toFixed(2)} (range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}); ${rows} rows rendered`,
        `  page main thread during a job: longest task ${fmt(longest)}, long tasks ${fmt(blocked)} in all (worst round)`,
        '',
      ].join('\n'),
    );
  } finally {
    await browser.close();
    for (const s of sims) s.send('stop');
    central.child.kill('SIGTERM');
    await new Promise((r) => central.child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
