import htm from 'htm';
import { h, render, type VNode } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  type Filter,
  FilterSyntaxError,
  matches,
  parseWhere,
  whereToRecord,
} from '../../src/fleet/target.js';
import { api, type Job, type LifecycleEntry, type NodeRecord, setCsrf } from './api.js';

// The admiral dashboard: Fleet, a node, Jobs, a job, Run, Events (docs/dashboard.md). State
// comes from one server-sent event stream (/ui/events); a job's page fetches its rows again
// when the stream says the job changed.

const html = htm.bind(h) as (strings: TemplateStringsArray, ...values: unknown[]) => VNode;

const PAGE = 100;
/** A running job's rows are fetched at most this often, in ms. */
const ROWS_EVERY_MS = 1000;

// ---- live state, fed by /ui/events --------------------------------------------------------

interface Live {
  nodes: Map<string, NodeRecord>;
  jobs: Map<string, Job>;
  events: LifecycleEntry[];
  /** Bumped on every change, so components re-render. */
  version: number;
  connected: boolean;
}

const live: Live = { nodes: new Map(), jobs: new Map(), events: [], version: 0, connected: false };
const listeners = new Set<() => void>();
const changed = (): void => {
  live.version++;
  for (const l of listeners) l();
};

function useLive(): Live {
  const [, setV] = useState(0);
  useEffect(() => {
    const l = (): void => setV(live.version);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return live;
}

let source: EventSource | undefined;

function connect(onLoggedOut: () => void): void {
  source?.close();
  const es = new EventSource('/ui/events');
  source = es;
  es.addEventListener('open', () => {
    live.connected = true;
    changed();
  });
  es.addEventListener('error', () => {
    live.connected = false;
    changed();
    // A stream refused for want of a session does not come back: ask whether we are logged in.
    api<{ loggedIn: boolean }>('GET', '/ui/session').then(
      (r) => {
        if (!r.loggedIn) {
          es.close();
          onLoggedOut();
        }
      },
      () => undefined,
    );
  });
  es.addEventListener('nodes', (e) => {
    const d = JSON.parse((e as MessageEvent<string>).data) as {
      full?: boolean;
      nodes: NodeRecord[];
    };
    if (d.full) live.nodes = new Map();
    for (const n of d.nodes) live.nodes.set(n.node, n);
    changed();
  });
  es.addEventListener('jobs', (e) => {
    const d = JSON.parse((e as MessageEvent<string>).data) as { jobs: Job[] };
    live.jobs = new Map(d.jobs.map((j) => [j.id, j]));
    changed();
  });
  es.addEventListener('job', (e) => {
    const j = JSON.parse((e as MessageEvent<string>).data) as Job;
    live.jobs.set(j.id, j);
    changed();
  });
  es.addEventListener('lifecycle', (e) => {
    const d = JSON.parse((e as MessageEvent<string>).data) as {
      full?: boolean;
      events: LifecycleEntry[];
    };
    live.events = d.full ? [...d.events] : [...live.events, ...d.events].slice(-500);
    changed();
  });
  es.addEventListener('logout', () => {
    es.close();
    onLoggedOut();
  });
}

// ---- helpers ------------------------------------------------------------------------------

function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

function duration(job: Job): string {
  const end = job.finishedAt ?? Date.now();
  const s = (end - job.createdAt) / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

const fact = (n: NodeRecord, k: string): string => {
  const v = n.facts[k];
  if (v === undefined || v === null) return '';
  return Array.isArray(v) ? v.join(', ') : String(v);
};

/** The filter box: expressions separated by `;`, each in the CLI's `--where` syntax. */
function parseFilterBox(text: string): { filters: Filter[]; error?: string } {
  const filters: Filter[] = [];
  for (const part of text.split(';')) {
    const expr = part.trim();
    if (expr === '') continue;
    try {
      filters.push(parseWhere(expr));
    } catch (err) {
      return { filters, error: err instanceof FilterSyntaxError ? err.message : String(err) };
    }
  }
  return { filters };
}

/** argv written back as a command line: arguments with spaces or quotes in single quotes. */
export function formatArgv(args: readonly string[]): string {
  return args
    .map((a) =>
      a !== '' && /^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'"'"'`)}'`,
    )
    .join(' ');
}

/** A command line split into argv: spaces separate, quotes group, no shell. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (const ch of line) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (any || cur !== '') out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
    }
  }
  if (any || cur !== '') out.push(cur);
  return out;
}

function Pager(props: { total: number; page: number; setPage: (p: number) => void }): VNode {
  const pages = Math.max(1, Math.ceil(props.total / PAGE));
  if (pages <= 1) return html``;
  return html`<nav class="pager" aria-label="pages">
    <button disabled=${props.page === 0} onClick=${() => props.setPage(props.page - 1)}>
      ‹ previous
    </button>
    <span>page ${props.page + 1} of ${pages}</span>
    <button disabled=${props.page >= pages - 1} onClick=${() => props.setPage(props.page + 1)}>
      next ›
    </button>
  </nav>`;
}

const stateClass = (s: string): string => `state state-${s.replace(/[^a-z-]/g, '')}`;

// ---- pages --------------------------------------------------------------------------------

function Login(props: { onLoggedIn: () => void }): VNode {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError('');
    try {
      const r = await api<{ csrf: string }>('POST', '/ui/login', { token: token.trim() });
      setCsrf(r.csrf);
      props.onLoggedIn();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return html`<main class="login">
    <h1>admiral</h1>
    <form onSubmit=${submit}>
      <label for="token">API token</label>
      <p class="hint">The token is in central's <code>admiral-data/api-token</code>.</p>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="current-password"
        autofocus
        value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Log in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
    </form>
  </main>`;
}

function Fleet(): VNode {
  const l = useLive();
  const [text, setText] = useState(
    () => new URLSearchParams(location.hash.split('?')[1] ?? '').get('where') ?? '',
  );
  const [page, setPage] = useState(0);
  const { filters, error } = useMemo(() => parseFilterBox(text), [text]);
  const all = useMemo(
    () => [...l.nodes.values()].sort((a, b) => (a.node < b.node ? -1 : 1)),
    [l.version],
  );
  const shown = useMemo(
    () => (error ? [] : all.filter((n) => matches(filters, n.facts))),
    [all, filters, error],
  );
  const online = all.filter((n) => n.online).length;
  const p = Math.min(page, Math.max(0, Math.ceil(shown.length / PAGE) - 1));
  return html`<section>
    <h2>Fleet</h2>
    <p class="summary">
      <span data-testid="node-count">${all.length} nodes</span>
      ${`, ${online} online, ${all.length - online} offline`}
      ${
        filters.length > 0 && !error
          ? html`; <span data-testid="match-count">${shown.length} match</span>`
          : ''
      }
    </p>
    <label for="where"
      >Filter (<code>--where</code> syntax, several separated by <code>;</code>)</label
    >
    <input
      id="where"
      class="filter"
      placeholder="os=Linux; cpus>=4; tags=web"
      value=${text}
      onInput=${(e: Event) => {
        setText((e.target as HTMLInputElement).value);
        setPage(0);
      }}
    />
    ${error && html`<pre class="error" role="alert" data-testid="filter-error">${error}</pre>`}
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>node</th>
            <th>state</th>
            <th>last seen</th>
            <th>hostname</th>
            <th>os</th>
            <th>arch</th>
            <th>cpus</th>
            <th>tags</th>
          </tr>
        </thead>
        <tbody>
          ${shown.slice(p * PAGE, (p + 1) * PAGE).map(
            (n) =>
              html`<tr key=${n.node} data-node=${n.node}>
                <td><a href=${`#/node/${n.node}`}>${n.node}</a>${n.central ? ' ★' : ''}</td>
                <td>
                  <span class=${stateClass(n.online ? 'online' : 'offline')}
                    >${n.online ? 'online' : 'offline'}</span
                  >
                </td>
                <td title=${new Date(n.lastSeen).toISOString()}>${ago(n.lastSeen)}</td>
                <td>${fact(n, 'hostname')}</td>
                <td>${fact(n, 'os')}</td>
                <td>${fact(n, 'arch')}</td>
                <td>${fact(n, 'cpus')}</td>
                <td>${fact(n, 'tags')}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <${Pager} total=${shown.length} page=${p} setPage=${setPage} />
  </section>`;
}

function flatten(obj: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, Array.isArray(obj) ? obj.join(', ') : String(obj)]);
  }
  return out;
}

interface SentMessage {
  id: string;
  method: string;
  state: string;
  createdAt: number;
  finishedAt?: number;
  error?: string;
}

function NodePage(props: { name: string }): VNode {
  const l = useLive();
  const msgs = useFetch<SentMessage[]>(`/ui/api/nodes/${props.name}/messages`);
  const n = l.nodes.get(props.name);
  if (!n)
    return html`<section>
      <h2>${props.name}</h2>
      <p>No such node in the inventory.</p>
    </section>`;
  const events = l.events
    .filter((e) => e.node === n.node)
    .slice(-20)
    .reverse();
  return html`<section>
    <p><a href="#/">‹ Fleet</a></p>
    <h2>
      ${`${n.node} `}
      <span class=${stateClass(n.online ? 'online' : 'offline')} data-testid="node-state"
        >${n.online ? 'online' : 'offline'}</span
      >
    </h2>
    <dl class="props">
      <dt>last seen</dt>
      <dd>${new Date(n.lastSeen).toISOString()} (${ago(n.lastSeen)}, ${n.lastEvent})</dd>
      <dt>first seen</dt>
      <dd>${new Date(n.firstSeen).toISOString()}</dd>
      <dt>admiral</dt>
      <dd>${n.version}${n.central ? ' (central)' : ''}</dd>
      <dt>key</dt>
      <dd><code>${n.publicKey}</code></dd>
    </dl>
    <p><a href=${`#/run?nodes=${n.node}`}>Run a command on ${n.node}</a></p>
    <h3>Facts</h3>
    <div class="table-wrap">
      <table class="facts">
        <tbody>
          ${flatten(n.facts).map(
            ([k, v]) =>
              html`<tr key=${k}>
                <th>${k}</th>
                <td>${v}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <h3>Recent messages from central</h3>
    ${msgs.data && msgs.data.length === 0 ? html`<p class="summary">None.</p>` : ''}
    ${
      msgs.data &&
      msgs.data.length > 0 &&
      html`<div class="table-wrap">
        <table class="messages">
          <thead>
            <tr>
              <th>sent</th>
              <th>method</th>
              <th>state</th>
              <th>error</th>
            </tr>
          </thead>
          <tbody>
            ${msgs.data.map(
              (m) =>
                html`<tr key=${m.id} data-message=${m.id}>
                  <td title=${m.id}>
                    ${new Date(m.createdAt).toISOString().slice(0, 19).replace('T', ' ')}
                  </td>
                  <td>${m.method}</td>
                  <td><span class=${stateClass(m.state)}>${m.state}</span></td>
                  <td>${m.error ?? ''}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`
    }
    <h3>Recent events</h3>
    <ul class="events">
      ${events.map((e) => html`<li>${new Date(e.at).toISOString()} ${e.event}</li>`)}
    </ul>
  </section>`;
}

function Jobs(): VNode {
  const l = useLive();
  const jobs = useMemo(
    () => [...l.jobs.values()].sort((a, b) => b.createdAt - a.createdAt),
    [l.version],
  );
  return html`<section>
    <h2>Jobs</h2>
    <p><a href="#/run" class="button">Run a command…</a></p>
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>started</th>
            <th>command</th>
            <th>state</th>
            <th>ok</th>
            <th>failed</th>
            <th>no answer</th>
            <th>nodes</th>
            <th>duration</th>
          </tr>
        </thead>
        <tbody>
          ${jobs.map(
            (j) =>
              html`<tr key=${j.id} data-job=${j.id}>
                <td>
                  <a href=${`#/job/${j.id}`}
                    >${new Date(j.createdAt).toISOString().slice(0, 19).replace('T', ' ')}</a
                  >
                </td>
                <td><code>${formatArgv(j.args)}</code></td>
                <td><span class=${stateClass(j.state)}>${j.state}</span></td>
                <td>${j.counts.succeeded}</td>
                <td>${j.counts.failed}</td>
                <td>${j.counts.noAnswer}</td>
                <td>${j.counts.total}</td>
                <td>${duration(j)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}

function JobPage(props: { id: string }): VNode {
  const l = useLive();
  const summary = l.jobs.get(props.id);
  const [job, setJob] = useState<Job | undefined>();
  const [page, setPage] = useState(0);
  const [error, setError] = useState('');
  // The stream says the job changed (its summary is a new object): fetch this page of rows, at
  // most once a second while it runs (the counts above move with every batch), at once at its end.
  const last = useRef(0);
  const key = `${props.id}?offset=${page * PAGE}&limit=${PAGE}`;
  const wanted = useRef(key);
  wanted.current = key;
  const live = (summary?.state ?? job?.state) === 'running';
  useEffect(() => {
    const load = (): void => {
      last.current = Date.now();
      // An answer for another page (or job) than the one now shown is dropped.
      api<Job>('GET', `/ui/api/jobs/${key}`).then(
        (j) => {
          if (wanted.current === key) setJob(j);
        },
        (err: unknown) => {
          if (wanted.current === key) setError(err instanceof Error ? err.message : String(err));
        },
      );
    };
    const wait = live ? last.current + ROWS_EVERY_MS - Date.now() : 0;
    const t = setTimeout(load, Math.max(0, wait));
    return () => clearTimeout(t);
  }, [key, summary]);
  const cancel = async (): Promise<void> => {
    if (!confirm('Cancel this job? Nodes not started are skipped, running commands are stopped.'))
      return;
    try {
      await api('DELETE', `/ui/api/jobs/${props.id}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const j = job;
  if (!j) return html`<section><p>${error || 'Loading…'}</p></section>`;
  const c = summary?.counts ?? j.counts;
  const state = summary?.state ?? j.state;
  const running = state === 'running';
  const pct = c.total === 0 ? 100 : Math.round((100 * c.finished) / c.total);
  return html`<section>
    <p><a href="#/jobs">‹ Jobs</a></p>
    <h2><code>${formatArgv(j.args)}</code></h2>
    <p>
      <span class=${stateClass(state)} data-testid="job-state">${state}</span>
      ${` ${c.succeeded} succeeded, ${c.failed} failed, ${c.noAnswer} did not answer, of ${c.total} · ${duration(summary ?? j)}${j.reason ? ` · ${j.reason}` : ''}`}
    </p>
    <progress max="100" value=${pct} aria-label="progress">${pct}%</progress>
    ${running && html`<p><button class="danger" onClick=${cancel}>Cancel job</button></p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="table-wrap">
      <table class="job-nodes">
        <thead>
          <tr>
            <th>node</th>
            <th>state</th>
            <th>exit</th>
            <th>output</th>
          </tr>
        </thead>
        <tbody>
          ${(j.nodes ?? []).map(
            (n) =>
              html`<tr key=${n.node} data-node=${n.node}>
                <td><a href=${`#/node/${n.node}`}>${n.node}</a></td>
                <td>
                  <span class=${stateClass(n.state)} data-testid="node-state">${n.state}</span>
                </td>
                <td data-testid="exit">${n.exitCode ?? ''}</td>
                <td>
                  ${n.output ? html`<pre class="out" data-testid="stdout">${n.output}</pre>` : ''}
                  ${n.stderr ? html`<pre class="err">${n.stderr}</pre>` : ''}
                  ${n.error ? html`<p class="error">${n.error}</p>` : ''}
                  ${
                    n.outputTruncated &&
                    html`<p>
                      Output truncated:
                      <a
                        href=${`/ui/api/jobs/${j.id}/nodes/${n.node}/output`}
                        target="_blank"
                        rel="noopener"
                        >whole stdout</a
                      >,
                      <a
                        href=${`/ui/api/jobs/${j.id}/nodes/${n.node}/stderr`}
                        target="_blank"
                        rel="noopener"
                        >whole stderr</a
                      >
                    </p>`
                  }
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <${Pager} total=${c.total} page=${page} setPage=${setPage} />
  </section>`;
}

type TargetMode = 'nodes' | 'all' | 'where';

function Run(): VNode {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const [mode, setMode] = useState<TargetMode>('nodes');
  const [target, setTarget] = useState(params.get('nodes') ?? '');
  const [command, setCommand] = useState('');
  const [timeout, setTimeoutS] = useState('60');
  const [concurrency, setConcurrency] = useState('');
  const [maxErrors, setMaxErrors] = useState('');
  const [batchSleep, setBatchSleep] = useState('');
  const [confirmCount, setConfirmCount] = useState<number | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // The confirmation takes the focus, so Enter (keyboard) answers it.
  const runButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirmCount !== undefined) runButton.current?.focus();
  }, [confirmCount]);

  const body = (): Record<string, unknown> => {
    const t: Record<string, unknown> = {};
    if (mode === 'all') t.all = true;
    else if (mode === 'nodes') t.nodes = target.split(/[\s,]+/).filter((s) => s !== '');
    else {
      const { filters, error: e } = parseFilterBox(target);
      if (e) throw new Error(e);
      t.where = whereToRecord(filters);
    }
    return {
      ...t,
      ...(concurrency.trim() && { maxConcurrency: concurrency.trim() }),
      ...(maxErrors.trim() && { maxErrors: maxErrors.trim() }),
      ...(batchSleep.trim() && { batchSleep: batchSleep.trim() }),
      ...(timeout.trim() && { methodTimeout: Number(timeout) }),
    };
  };
  const preview = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError('');
    try {
      if (splitArgs(command).length === 0) throw new Error('Expected a command to run');
      const r = await api<{ count: number }>('POST', '/ui/api/preview', body());
      if (r.count === 0) throw new Error('The target matches no node');
      setConfirmCount(r.count);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const run = async (): Promise<void> => {
    setBusy(true);
    try {
      const job = await api<Job>('POST', '/ui/api/jobs', { ...body(), args: splitArgs(command) });
      location.hash = `#/job/${job.id}`;
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setConfirmCount(undefined);
    } finally {
      setBusy(false);
    }
  };
  const input = (
    id: string,
    label: string,
    value: string,
    set: (v: string) => void,
    hint = '',
  ): VNode =>
    html`<div class="field">
      <label for=${id}>${label}</label>
      <input
        id=${id}
        value=${value}
        placeholder=${hint}
        onInput=${(e: Event) => set((e.target as HTMLInputElement).value)}
      />
    </div>`;
  return html`<section>
    <h2>Run a command</h2>
    <form onSubmit=${preview}>
      <fieldset>
        <legend>Target</legend>
        ${(['nodes', 'all', 'where'] as const).map(
          (m) =>
            html`<label class="radio"
              ><input
                type="radio"
                name="mode"
                value=${m}
                checked=${mode === m}
                onChange=${() => {
                  setMode(m);
                  setConfirmCount(undefined);
                }}
              />
              ${m === 'nodes' ? 'nodes by name' : m === 'all' ? 'every node' : 'nodes whose facts match'}</label
            >`,
        )}
        ${
          mode !== 'all' &&
          input(
            'target',
            mode === 'nodes'
              ? 'Node names (comma or space separated)'
              : 'Filter (--where syntax, ; between)',
            target,
            (v) => {
              setTarget(v);
              setConfirmCount(undefined);
            },
            mode === 'nodes' ? 'ship1, ship2' : 'os=Linux; tags=web',
          )
        }
      </fieldset>
      ${input(
        'command',
        'Command (argv: spaces separate, quotes group; no shell)',
        command,
        (v) => {
          setCommand(v);
          setConfirmCount(undefined);
        },
        'uname -a',
      )}
      <fieldset class="row">
        <legend>Rate control and timeout</legend>
        ${input('timeout', 'Timeout per node (s)', timeout, setTimeoutS)}
        ${input('concurrency', 'Concurrency (N or N%)', concurrency, setConcurrency, 'all at once')}
        ${input('maxErrors', 'Max errors (N or N%)', maxErrors, setMaxErrors, 'no limit')}
        ${input('batchSleep', 'Pause between batches', batchSleep, setBatchSleep, '2s')}
      </fieldset>
      ${
        confirmCount === undefined
          ? html`<button type="submit">Review…</button>`
          : html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-text">
              <p id="confirm-text">
                ${'Run '}<code>${formatArgv(splitArgs(command))}</code>${' on '}<strong
                  data-testid="confirm-count"
                  >${confirmCount}</strong
                >${` node${confirmCount === 1 ? '' : 's'}?`}
              </p>
              <button type="button" class="danger" ref=${runButton} disabled=${busy} onClick=${run}>
                Run on ${confirmCount} node${confirmCount === 1 ? '' : 's'}
              </button>
              <button type="button" onClick=${() => setConfirmCount(undefined)}>Back</button>
            </div>`
      }
      ${error && html`<pre class="error" role="alert">${error}</pre>`}
    </form>
  </section>`;
}

function Events(): VNode {
  const l = useLive();
  const events = [...l.events].reverse().slice(0, 300);
  return html`<section>
    <h2>Events</h2>
    <p class="summary">
      Lifecycle events as central's inventory takes them (signed by their node), newest first.
    </p>
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>time</th>
            <th>node</th>
            <th>event</th>
            <th>state</th>
          </tr>
        </thead>
        <tbody>
          ${events.map(
            (e, i) =>
              html`<tr key=${i}>
                <td>${new Date(e.at).toISOString().slice(11, 23)}</td>
                <td><a href=${`#/node/${e.node}`}>${e.node}</a></td>
                <td>${e.event}</td>
                <td>
                  <span class=${stateClass(e.online ? 'online' : 'offline')}
                    >${e.online ? 'online' : 'offline'}</span
                  >
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}

function useFetch<T>(path: string, everyMs = 0): { data?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const [n, setN] = useState(0);
  useEffect(() => {
    let gone = false;
    const load = (): void => {
      api<T>('GET', path).then(
        (data) => !gone && setState({ data }),
        (err: unknown) =>
          !gone && setState({ error: err instanceof Error ? err.message : String(err) }),
      );
    };
    load();
    const t = everyMs > 0 ? setInterval(load, everyMs) : undefined;
    return () => {
      gone = true;
      clearInterval(t);
    };
  }, [path, n]);
  return { ...state, reload: () => setN(n + 1) };
}

function Registry(): VNode {
  const r = useFetch<{ name: string; data: unknown }[]>('/ui/api/registry');
  return html`<section>
    <h2>Registry</h2>
    <p class="summary">
      The service registry's key/value entries (<code>admiral service</code>).
      <button class="link" onClick=${r.reload}>Reload</button>
    </p>
    ${r.error && html`<p class="error" role="alert">${r.error}</p>`}
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>name</th>
            <th>value</th>
          </tr>
        </thead>
        <tbody>
          ${(r.data ?? []).map(
            (e) =>
              html`<tr key=${e.name} data-entry=${e.name}>
                <th>${e.name}</th>
                <td>
                  <pre>
${typeof e.data === 'string' ? e.data : JSON.stringify(e.data, null, 2)}</pre>
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${r.data && r.data.length === 0 && html`<p>No entries.</p>`}
  </section>`;
}

interface Health {
  node: string;
  version: string;
  broker: { connected: boolean; server: string | null };
  nodes: { total: number; online: number };
  jobsRunning: number;
  outbox: { pending: number; targets: number; byTarget: { target: string; pending: number }[] };
  errorLog: { file: string; tail: string[] };
}

function HealthPage(): VNode {
  // One request every 5 s for the whole page (the outbox and the error log are not streamed).
  const r = useFetch<Health>('/ui/api/health', 5000);
  const h = r.data;
  if (!h)
    return html`<section>
      <h2>Health</h2>
      <p>${r.error ?? 'Loading…'}</p>
    </section>`;
  return html`<section>
    <h2>Health</h2>
    <dl class="props">
      <dt>broker</dt>
      <dd>
        <span
          class=${stateClass(h.broker.connected ? 'online' : 'offline')}
          data-testid="broker-state"
          >${h.broker.connected ? 'connected' : 'disconnected'}</span
        >${` ${h.broker.server ?? ''}`}
      </dd>
      <dt>central</dt>
      <dd>${`${h.node}, admiral ${h.version}`}</dd>
      <dt>nodes</dt>
      <dd>${`${h.nodes.online} of ${h.nodes.total} online`}</dd>
      <dt>jobs running</dt>
      <dd>${h.jobsRunning}</dd>
      <dt>outbox</dt>
      <dd data-testid="outbox-pending">
        ${`${h.outbox.pending} pending for ${h.outbox.targets} target${h.outbox.targets === 1 ? '' : 's'}`}
      </dd>
    </dl>
    <h3>Outbox depth per target</h3>
    ${
      h.outbox.byTarget.length === 0
        ? html`<p class="summary">Nothing waiting.</p>`
        : html`<div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>target</th>
                  <th>pending</th>
                </tr>
              </thead>
              <tbody>
                ${h.outbox.byTarget.map(
                  (d) =>
                    html`<tr key=${d.target} data-target=${d.target}>
                      <td><a href=${`#/node/${d.target}`}>${d.target}</a></td>
                      <td>${d.pending}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }
    <h3>Error log</h3>
    <p class="summary"><code>${h.errorLog.file}</code>, last ${h.errorLog.tail.length} lines</p>
    <pre class="log" data-testid="error-log">${h.errorLog.tail.join('\n') || '(empty)'}</pre>
  </section>`;
}

// ---- shell --------------------------------------------------------------------------------

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = (): void => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function App(): VNode {
  const [auth, setAuth] = useState<'unknown' | 'in' | 'out'>('unknown');
  const hash = useHash();
  const l = useLive();
  useEffect(() => {
    api<{ loggedIn: boolean; csrf?: string }>('GET', '/ui/session').then(
      (r) => {
        if (r.loggedIn && r.csrf) {
          setCsrf(r.csrf);
          setAuth('in');
        } else setAuth('out');
      },
      () => setAuth('out'),
    );
  }, []);
  useEffect(() => {
    if (auth === 'in') connect(() => setAuth('out'));
    return () => source?.close();
  }, [auth]);
  // "last seen … ago" moves on without new data.
  useEffect(() => {
    const t = setInterval(changed, 5000);
    return () => clearInterval(t);
  }, []);
  if (auth === 'unknown') return html``;
  if (auth === 'out') return html`<${Login} onLoggedIn=${() => setAuth('in')} />`;
  const path = hash.replace(/^#/, '').split('?')[0] || '/';
  let page: VNode;
  let m: RegExpExecArray | null;
  if ((m = /^\/node\/([A-Za-z0-9_-]+)$/.exec(path))) page = html`<${NodePage} name=${m[1]} />`;
  else if ((m = /^\/job\/([0-9A-Za-z-]+)$/.exec(path)))
    page = html`<${JobPage} id=${m[1]} key=${m[1]} />`;
  else if (path === '/jobs') page = html`<${Jobs} />`;
  else if (path === '/run') page = html`<${Run} />`;
  else if (path === '/events') page = html`<${Events} />`;
  else if (path === '/registry') page = html`<${Registry} />`;
  else if (path === '/health') page = html`<${HealthPage} />`;
  else page = html`<${Fleet} />`;
  const tab = (href: string, label: string, active: boolean): VNode =>
    html`<a href=${href} aria-current=${active ? 'page' : undefined}>${label}</a>`;
  const logout = async (): Promise<void> => {
    await api('POST', '/ui/logout').catch(() => undefined);
    source?.close();
    setAuth('out');
  };
  return html`<header>
      <strong class="brand">admiral</strong>
      <nav aria-label="pages">
        ${tab('#/', 'Fleet', path === '/' || path.startsWith('/node/'))}
        ${tab('#/jobs', 'Jobs', path === '/jobs' || path.startsWith('/job/'))}
        ${tab('#/run', 'Run', path === '/run')} ${tab('#/events', 'Events', path === '/events')}
        ${tab('#/registry', 'Registry', path === '/registry')}
        ${tab('#/health', 'Health', path === '/health')}
      </nav>
      <span class=${l.connected ? 'live on' : 'live'} title="live updates"
        >${l.connected ? '● live' : '○ reconnecting'}</span
      >
      <button class="link" onClick=${logout}>Log out</button>
    </header>
    <main>${page}</main>`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
