import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import { VERSION } from '../version.js';
import { type PingResponder, startPingResponder } from './ping.js';

// Facts: what a node says about itself with every hello, and what `--where` filters match.
// Built-in facts come from node:os; tags from the config; custom facts from JSON/YAML files in a
// folder (Choria's and Salt's custom facts/grains), merged in file-name order.

/** The facts of one node. Built-in keys always win over custom ones of the same name. */
export interface Facts {
  readonly node: string;
  readonly hostname: string;
  /** `os.type()`: Linux, Darwin, Windows_NT. */
  readonly os: string;
  /** `process.platform`: linux, darwin, win32. */
  readonly platform: string;
  readonly release: string;
  readonly arch: string;
  readonly cpus: number;
  /** Bytes. */
  readonly memory: { readonly total: number; readonly free: number };
  /** Seconds since the machine booted. */
  readonly uptime: number;
  /** 1, 5 and 15 minute load averages. */
  readonly load: { readonly avg1: number; readonly avg5: number; readonly avg15: number };
  /** Addresses of the machine's network interfaces, loopback excluded. */
  readonly ips: readonly string[];
  /** admiral's version. */
  readonly version: string;
  readonly tags: readonly string[];
  readonly [custom: string]: unknown;
}

export interface FactsOptions {
  readonly node: string;
  readonly tags?: readonly string[];
  /** Folder of custom facts files (`*.json`, `*.yaml`, `*.yml`); missing is fine. */
  readonly factsDir?: string;
  /** Called once per unreadable custom facts file. */
  readonly onBadFile?: (file: string, error: string) => void;
}

export const BUILTIN_FACTS = [
  'node',
  'hostname',
  'os',
  'platform',
  'release',
  'arch',
  'cpus',
  'memory',
  'uptime',
  'load',
  'ips',
  'version',
  'tags',
] as const;

function addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal) out.push(a.address);
  }
  return out;
}

/** Reads the custom facts folder: each file holds one object; later files override earlier ones. */
export function readCustomFacts(
  dir: string,
  onBadFile: (file: string, error: string) => void = () => {},
): Record<string, unknown> {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => /\.(json|ya?ml)$/i.test(n))
      .sort();
  } catch {
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const file = join(dir, name);
    try {
      const text = readFileSync(file, 'utf8');
      const v: unknown = /\.json$/i.test(name) ? JSON.parse(text) : parseYaml(text);
      if (v === null || v === undefined) continue;
      if (typeof v !== 'object' || Array.isArray(v)) {
        throw new Error(
          `expected an object of facts, got ${Array.isArray(v) ? 'a list' : typeof v}`,
        );
      }
      Object.assign(out, v);
    } catch (err) {
      onBadFile(file, err instanceof Error ? err.message : String(err));
    }
  }
  return out;
}

/** Collects a node's facts now. */
export function collectFacts(options: FactsOptions): Facts {
  const custom =
    options.factsDir === undefined ? {} : readCustomFacts(options.factsDir, options.onBadFile);
  const [avg1 = 0, avg5 = 0, avg15 = 0] = os.loadavg();
  const builtin = {
    node: options.node,
    hostname: os.hostname(),
    os: os.type(),
    platform: process.platform,
    release: os.release(),
    arch: os.arch(),
    cpus: os.availableParallelism(),
    memory: { total: os.totalmem(), free: os.freemem() },
    uptime: Math.round(os.uptime()),
    load: { avg1, avg5, avg15 },
    ips: addresses(),
    version: VERSION,
    tags: [...(options.tags ?? [])],
  };
  return { ...custom, ...builtin };
}

/** The facts duty every node runs: facts in its hello, and answers to `admiral ping`. */
export interface FactsExtension extends NodeExtension {
  /** The facts sent with the last hello (collected now if none was sent yet). */
  facts(): Facts;
}

export function factsExtension(options: FactsOptions): FactsExtension {
  let last: Facts | undefined;
  let helloIntervalMs: number | undefined;
  let responder: PingResponder | undefined;
  const warned = new Set<string>();
  let log: NodeContext['options']['log'] | undefined;
  const collect = (): Facts => {
    last = collectFacts({
      ...options,
      onBadFile: (file, error) => {
        options.onBadFile?.(file, error);
        if (warned.has(file)) return;
        warned.add(file);
        log?.('warn', 'cannot read a custom facts file', { file, error });
      },
    });
    return last;
  };
  return {
    name: 'facts',
    facts: () => last ?? collect(),
    hello: () => ({
      facts: collect(),
      ...(helloIntervalMs !== undefined && { helloIntervalMs }),
    }),
    async start(ctx: NodeContext) {
      log = ctx.options.log;
      helloIntervalMs = ctx.options.helloIntervalMs;
      collect();
      responder = startPingResponder(ctx.nc, ctx.subjects, options.node, () => last ?? collect());
      await ctx.nc.flush();
    },
    async stop() {
      responder?.stop();
      responder = undefined;
    },
  };
}
