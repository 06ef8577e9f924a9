import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';

// Debian's chromium driven by playwright-core (DESIGN.md, "Platform facts"): never a downloaded
// browser. Without it a browser test skips, except in CI (CI=true or ADMIRAL_REQUIRE_CHROMIUM=1),
// where it fails with the install hint, as requireNatsServer does for nats-server.

export const CHROMIUM_INSTALL_HINT =
  'chromium is not installed: apt-get install -y chromium (Debian), then /usr/bin/chromium is used';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function findChromium(candidates: readonly string[] = CANDIDATES): string | undefined {
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The chromium binary, or undefined after skipping `t`; throws in CI when it is missing. */
export function requireChromium(
  t: Pick<TestContext, 'skip'>,
  candidates: readonly string[] = CANDIDATES,
): string | undefined {
  const bin = findChromium(candidates);
  if (bin !== undefined) return bin;
  if (process.env.ADMIRAL_REQUIRE_CHROMIUM === '1' || process.env.CI === 'true') {
    throw new Error(CHROMIUM_INSTALL_HINT);
  }
  t.skip(CHROMIUM_INSTALL_HINT);
  return undefined;
}

export interface BrowserPage {
  readonly browser: Browser;
  readonly page: Page;
  /** Console errors and uncaught exceptions the page had so far. */
  readonly errors: string[];
}

/** A headless chromium with one page (phone or laptop width), closed in t.after. */
export async function openPage(
  t: TestContext,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<BrowserPage | undefined> {
  const bin = requireChromium(t);
  if (bin === undefined) return undefined;
  const browser = await chromium.launch({
    executablePath: bin,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    timeout: 30_000,
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return { browser, page, errors };
}
