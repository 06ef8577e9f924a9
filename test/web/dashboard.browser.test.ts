/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { openPage } from '../helpers/chromium.js';
import { type Fleet, startFleet } from '../helpers/fleet.js';

// The dashboard in real Chromium against a real `admiral up` and real nodes. With
// ADMIRAL_SCREENSHOTS=docs the screenshots go to docs/img (docs/dashboard.md shows them);
// otherwise to a temp folder.

const SHOTS =
  process.env.ADMIRAL_SCREENSHOTS === 'docs'
    ? fileURLToPath(new URL('../../../docs/img/', import.meta.url))
    : join(tmpdir(), 'admiral-dashboard-shots');

async function shot(page: Page, name: string): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  // A node's page is long (facts, then messages and events): all of it.
  await page.screenshot({ path: join(SHOTS, `dashboard-${name}.png`), fullPage: name === 'node' });
}

interface Dash {
  fleet: Fleet;
  url: string;
  token: string;
}

async function dash(t: TestContext, nodes: Record<string, string[]>): Promise<Dash> {
  const fleet = await startFleet(t, { nodes: [] });
  for (const [name, args] of Object.entries(nodes)) await fleet.startNode(name, args);
  const url = /dashboard:\s+(http:\/\/\S+)\//.exec(fleet.central.output())?.[1];
  assert.ok(url, `admiral up printed no dashboard URL:\n${fleet.central.output()}`);
  const token = (await readFile(join(fleet.central.dataDir, 'api-token'), 'utf8')).trim();
  return { fleet, url, token };
}

async function logIn(page: Page, d: Dash): Promise<void> {
  await page.goto(`${d.url}/`);
  await page.fill('#token', d.token);
  await page.press('#token', 'Enter');
  await page.waitForSelector('header nav');
}

const rowState = (page: Page, node: string): Promise<string> =>
  page.locator(`tr[data-node="${node}"] .state`).innerText();

test(
  'the fleet page: refused without the token, then every node, the filter and a node going offline live',
  { timeout: 120_000 },
  async (t) => {
    const d = await dash(t, { ship1: ['--tags', 'web,eu'], ship2: ['--tags', 'db'] });
    const b = await openPage(t);
    if (!b) return;
    // Without a session (a browser context of its own): the login page, no data from the API,
    // and a wrong token gets an error and still no data.
    const stranger = await (await b.browser.newContext()).newPage();
    await stranger.goto(`${d.url}/`);
    await stranger.waitForSelector('#token');
    assert.equal(await stranger.locator('table').count(), 0);
    const refused = await stranger.evaluate(async () => {
      const r = await fetch('/ui/api/nodes/central');
      return { status: r.status, body: await r.text() };
    });
    assert.equal(refused.status, 401);
    assert.doesNotMatch(refused.body, /facts/);
    await shot(stranger, 'login');
    await stranger.fill('#token', 'not-the-token-at-all');
    await stranger.press('#token', 'Enter');
    await stranger.waitForSelector('.login .error');
    assert.match(await stranger.locator('.login .error').innerText(), /wrong token/);
    assert.equal(await stranger.locator('table').count(), 0, 'a wrong token shows no data');

    const { page } = b;
    await page.goto(`${d.url}/`);
    await page.fill('#token', d.token);
    await page.press('#token', 'Enter');
    for (const n of ['central', 'ship1', 'ship2']) {
      await page.waitForSelector(`tr[data-node="${n}"]`);
      assert.equal(await rowState(page, n), 'online');
    }
    assert.match(await page.locator('tr[data-node="ship1"]').innerText(), /web, eu/);
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 1;
    });
    await shot(page, 'fleet');

    // The filter takes --where syntax: a match, then a parse error with its caret.
    await page.fill('#where', 'tags=web');
    await page.waitForSelector('tr[data-node="ship2"]', { state: 'detached' });
    assert.equal(await page.locator('tbody tr').count(), 1);
    assert.equal(await page.locator('[data-testid="match-count"]').innerText(), '1 match');
    await page.fill('#where', 'cpus>=many');
    const err = await page.locator('[data-testid="filter-error"]').innerText();
    assert.match(err, /expected a number after `>=`, got "many"/);
    assert.match(err, /cpus>=many\n\s+\^/);
    assert.equal(err.split('\n')[2]?.indexOf('^'), err.split('\n')[1]?.indexOf('many'));
    await shot(page, 'fleet-filter-error');
    await page.fill('#where', '');

    // A node's page: its facts.
    await page.click('tr[data-node="ship1"] a');
    await page.waitForSelector('table.facts');
    const facts = await page.locator('table.facts').innerText();
    assert.match(facts, /hostname/);
    assert.match(facts, /tags\s+web, eu/);
    await page.goBack();
    await page.waitForSelector('tr[data-node="ship2"]');

    // ship2 stops: its row turns offline in place, pushed by central (no reload).
    await d.fleet.nodes.get('ship2')?.stop();
    await page.waitForFunction(
      () => document.querySelector('tr[data-node="ship2"] .state')?.textContent === 'offline',
      undefined,
      { timeout: 15_000 },
    );
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 1);
    assert.equal(await rowState(page, 'ship1'), 'online');

    // Phone width: the page still reads (no horizontal scroll of the page itself).
    await page.setViewportSize({ width: 390, height: 800 });
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at phone width`);
    await shot(page, 'fleet-phone');
    assert.deepEqual(b.errors, [], 'no console errors');
  },
);

test(
  'the run page reaches two nodes after a confirmation with the count; both rows finish with their output; a long job is cancelled',
  { timeout: 150_000 },
  async (t) => {
    const d = await dash(t, { ship1: [], ship2: [] });
    const b = await openPage(t);
    if (!b) return;
    const { page } = b;
    await logIn(page, d);
    await page.waitForSelector('tr[data-node="ship2"]');

    await page.click('header nav >> text=Run');
    await page.fill('#target', 'ship1, ship2');
    await page.fill('#command', `sh -c 'echo "from $0"; echo warn >&2' dashboard-test`);
    await page.fill('#concurrency', '1');
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-testid="confirm-count"]');
    assert.equal(await page.locator('[data-testid="confirm-count"]').innerText(), '2');
    await shot(page, 'run');
    await page.click('.confirm button.danger');
    await page.waitForURL(/#\/job\//);
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid="job-state"]')?.textContent === 'completed' &&
        Array.from(document.querySelectorAll('tr[data-node] [data-testid="node-state"]')).every(
          (e) => e.textContent === 'completed',
        ),
      undefined,
      { timeout: 30_000 },
    );
    for (const n of ['ship1', 'ship2']) {
      const row = page.locator(`tr[data-node="${n}"]`);
      assert.equal(await row.locator('[data-testid="node-state"]').innerText(), 'completed');
      assert.equal(await row.locator('[data-testid="exit"]').innerText(), '0');
      assert.equal(
        (await row.locator('[data-testid="stdout"]').innerText()).trim(),
        'from dashboard-test',
      );
      assert.match(await row.innerText(), /warn/);
    }
    await shot(page, 'job');

    // Output is text, never markup: a node that prints HTML gets it shown, not run.
    await page.click('header nav >> text=Run');
    await page.fill('#target', 'ship1');
    await page.fill('#command', `echo '<img src=x onerror="window.pwned=1"><b>bold</b>'`);
    await page.click('button[type="submit"]');
    await page.click('.confirm button.danger');
    await page.waitForURL(/#\/job\//);
    await page.waitForSelector('tr[data-node="ship1"] [data-testid="stdout"]');
    const printed = page.locator('tr[data-node="ship1"] [data-testid="stdout"]');
    assert.match(await printed.innerText(), /<img src=x onerror="window.pwned=1"><b>bold<\/b>/);
    assert.equal(await page.locator('table img, table b').count(), 0);
    assert.equal(await page.evaluate(() => (window as { pwned?: number }).pwned), undefined);

    // A long one, cancelled from its page.
    await page.click('header nav >> text=Run');
    await page.fill('#target', 'ship1');
    await page.fill('#command', 'sleep 60');
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-testid="confirm-count"]');
    await page.click('.confirm button.danger');
    await page.waitForURL(/#\/job\//);
    await page.waitForFunction(
      () =>
        document.querySelector('tr[data-node="ship1"] [data-testid="node-state"]')?.textContent ===
        'acknowledged',
      undefined,
      { timeout: 20_000 },
    );
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('text=Cancel job');
    await page.waitForFunction(
      () => document.querySelector('[data-testid="job-state"]')?.textContent === 'cancelled',
      undefined,
      { timeout: 30_000 },
    );
    assert.doesNotMatch(
      await page.locator('tr[data-node="ship1"] [data-testid="node-state"]').innerText(),
      /completed/,
    );

    await page.click('header nav >> text=Jobs');
    await page.waitForSelector('tr[data-job]');
    assert.equal(await page.locator('tr[data-job]').count(), 3);
    assert.match(await page.locator('tr[data-job]').first().innerText(), /sleep 60\s+cancelled/);
    await shot(page, 'jobs');
    // ship1's page lists what central sent it, newest first.
    await page.goto(`${d.url}/#/node/ship1`);
    await page.waitForSelector('table.messages tr[data-message]');
    const sentRows = page.locator('table.messages tr[data-message]');
    assert.ok((await sentRows.count()) >= 3);
    assert.match(await sentRows.first().innerText(), /REQC/);
    await shot(page, 'node');

    await page.click('header nav >> text=Events');
    await page.waitForSelector('tbody tr');
    await shot(page, 'events');
    assert.deepEqual(b.errors, [], 'no console errors');
  },
);

test(
  'the registry and health pages show the entries, the outbox depth per target and the error log',
  { timeout: 90_000 },
  async (t) => {
    const d = await dash(t, { ship1: [] });
    const b = await openPage(t);
    if (!b) return;
    const { page } = b;
    const reg = await d.fleet.cli([
      'service',
      'register',
      '--name',
      'web-config',
      '--data',
      '{"port":8080}',
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    // A node that never comes: its message waits in central's outbox.
    const sent = await d.fleet.send('central', [
      { toNode: 'ghost', method: 'REQCliCommand', methodArgs: ['true'], ttl: 600 },
      { toNode: 'ghost', method: 'REQCliCommand', methodArgs: ['true'], ttl: 600 },
    ]);
    assert.equal(sent.accepted.length, 2);
    // A message that expires undelivered: central's error log says so.
    const failing = await d.fleet.send('central', [
      { toNode: 'nobody', method: 'REQCliCommand', methodArgs: ['true'], ttl: 1 },
    ]);
    const failedId = failing.accepted[0] ?? '';
    assert.ok(failedId);

    await logIn(page, d);
    await page.click('header nav >> text=Registry');
    await page.waitForSelector('tr[data-entry="web-config"]');
    assert.match(await page.locator('tr[data-entry="web-config"]').innerText(), /"port": 8080/);
    await shot(page, 'registry');

    await page.click('header nav >> text=Health');
    await page.waitForSelector('[data-testid="broker-state"]');
    assert.equal(await page.locator('[data-testid="broker-state"]').innerText(), 'connected');
    await page.waitForSelector('tr[data-target="ghost"]');
    assert.match(await page.locator('tr[data-target="ghost"]').innerText(), /ghost\s+2/);
    await page
      .waitForFunction(
        (id) =>
          (document.querySelector('[data-testid="error-log"]')?.textContent ?? '').includes(id),
        failedId,
        { timeout: 20_000 },
      )
      .catch(async (err: unknown) => {
        const log = await page.locator('[data-testid="error-log"]').innerText();
        throw new Error(`no error line for ${failedId} in:\n${log}`, { cause: err });
      });
    await shot(page, 'health');
    assert.deepEqual(b.errors, [], 'no console errors');
  },
);

test(
  'the keyboard alone logs in, reaches the Run page, confirms a command and sees it finish',
  { timeout: 90_000 },
  async (t) => {
    const d = await dash(t, { ship1: [] });
    const b = await openPage(t);
    if (!b) return;
    const { page } = b;
    await page.goto(`${d.url}/`);
    await page.waitForSelector('#token:focus');
    await page.keyboard.type(d.token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('header nav');
    // Tab through the header to the Run link.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.textContent)) === 'Run') break;
    }
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Run');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#target');
    await page.focus('#target');
    await page.keyboard.type('ship1');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'command');
    await page.keyboard.type('echo typed');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="confirm-count"]');
    // The confirmation takes the focus once it has rendered: wait for that (bounded), then check.
    await page
      .waitForFunction(
        () => /Run on 1 node/.test(document.activeElement?.textContent ?? ''),
        null,
        {
          timeout: 5000,
        },
      )
      .catch(() => undefined);
    assert.match(
      await page.evaluate(() => document.activeElement?.textContent ?? ''),
      /Run on 1 node/,
    );
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/job\//);
    await page.waitForFunction(
      () =>
        document.querySelector('tr[data-node="ship1"] [data-testid="node-state"]')?.textContent ===
        'completed',
      undefined,
      { timeout: 30_000 },
    );
    assert.match(await page.locator('[data-testid="stdout"]').innerText(), /typed/);
    assert.deepEqual(b.errors, [], 'no console errors');
  },
);
