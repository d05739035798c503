// What every browser test stands on: a real `lyrebird serve` on a free loopback port with a data
// directory (and so an embedded PostgreSQL cluster) of its own, Debian's Chromium driven by
// playwright-core, and a few steps users take over and over (sign up, call a mock).
//
// The binary is the one cargo built (target/debug/lyrebird, or LYREBIRD_BIN); the browser is
// /usr/bin/chromium (or CHROMIUM). Screenshots go to target/screenshots/, or, with
// LYREBIRD_UPDATE_SCREENSHOTS=1, to docs/screenshots/ (the README's), overwriting the last ones:
// a test run leaves the working tree as it found it.

import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');
const screenshotDir = process.env.LYREBIRD_UPDATE_SCREENSHOTS === '1'
  ? join(repoRoot, 'docs/screenshots')
  : join(repoRoot, 'target/screenshots');

/** How long the server may take to come up: a first start runs initdb (a hang guard). */
const STARTUP_GUARD_MS = 120_000;
/** How long a stopping server may take before it is killed. */
const SHUTDOWN_GUARD_MS = 30_000;

/** The flags Chromium needs here: as root no sandbox, and no background traffic to the internet. */
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts `lyrebird serve` on 127.0.0.1 with a fresh data directory and waits until /readyz says
 * the database answers. `stop()` shuts it down with SIGINT (so it stops its PostgreSQL too) and
 * removes the directory.
 */
export async function startLyrebird() {
  const binary = process.env.LYREBIRD_BIN ?? join(repoRoot, 'target/debug/lyrebird');
  if (!existsSync(binary)) {
    throw new Error(`${binary} does not exist: build it with \`cargo build\` (or set LYREBIRD_BIN)`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'lyrebird-browser-'));
  // Run as root, the server runs PostgreSQL as the postgres user, which must reach the cluster.
  await chmod(dir, 0o755);
  const env = { ...process.env };
  // The server gets its own cluster, never a database named by the caller's environment.
  delete env.DATABASE_URL;
  const child = spawn(
    binary,
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const log = [];
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const listening = new Promise((done, fail) => {
    let pending = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        log.push(line);
        const address = /listen=(\S+)/.exec(line);
        if (address) done(address[1]);
      }
    });
    exited.then(({ code, signal }) =>
      fail(new Error(`lyrebird exited (${code ?? signal}) before listening:\n${log.join('\n')}`)));
    setTimeout(() => fail(new Error(`lyrebird did not listen in time:\n${log.join('\n')}`)),
      STARTUP_GUARD_MS).unref();
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const guard = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_GUARD_MS);
      await exited;
      clearTimeout(guard);
    }
    await rm(dir, { recursive: true, force: true });
  };
  let address;
  try {
    address = await listening;
    await waitUntilReady(`http://${address}`);
  } catch (error) {
    await stop();
    throw error;
  }
  const url = `http://${address}`;
  return {
    url,
    log,
    stop,
    /** Runs `lyrebird <args>` on this server's data directory (an operator's command). */
    command: (args) => runCommand(binary, [...args, '--data-dir', join(dir, 'data')]),
    /** The `/m/<id>/` URL of a mock, on loopback. */
    mockUrl: (mockId, path = '') => `${url}/m/${mockId}/${path.replace(/^\//, '')}`,
  };
}

/** Runs the binary to its end; its standard output, or an error with what it said. */
function runCommand(binary, args) {
  const run = spawnSync(binary, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`lyrebird ${args.join(' ')}: exit ${run.status}\n${run.stderr}`);
  return run.stdout;
}

async function waitUntilReady(url) {
  const deadline = Date.now() + STARTUP_GUARD_MS;
  for (;;) {
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.ok) return;
    } catch {
      // Not answering yet.
    }
    if (Date.now() > deadline) throw new Error(`${url}/readyz never answered 200`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** Headless Chromium, from Debian's package. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_FLAGS,
  });
}

/** A page of a fresh browser context (its own cookies) at desktop size. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // Local pages answer in milliseconds; a step that waits longer has failed.
  page.setDefaultTimeout(10_000);
  return page;
}

/**
 * Saves a full-page screenshot as <name>.png (see screenshotDir above), at the page's width or, with
 * `{ width: 390 }`, at a phone's (the page is put back to its size afterwards).
 */
export async function screenshot(page, name, { width } = {}) {
  await mkdir(screenshotDir, { recursive: true });
  const size = page.viewportSize();
  if (width) await page.setViewportSize({ width, height: 844 });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
  if (width) await page.setViewportSize(size);
}

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** The WCAG 2 A and AA violations axe-core finds on the page, one line each. */
export async function violations(target) {
  await target.addScriptTag({ path: axePath });
  const found = await target.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] });
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  return found;
}

/** A new, unique email address for an account of one test. */
export function uniqueEmail(label) {
  return `${label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

/** A password good enough for sign-up. */
export const PASSWORD = 'correct horse battery staple';

/** The importer's corpus of real files, in the repository. */
export const corpusDir = resolve(repoRoot, 'crates/lyrebird-import/tests/corpus');

/**
 * Signs up through the API (for tests whose subject is not the sign-up page) and returns the
 * account's email, first admin key and workspace id.
 */
export async function signUpByApi(server, email = uniqueEmail('api')) {
  const response = await fetch(`${server.url}/api/v1/accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (response.status !== 201) throw new Error(`sign-up: ${response.status} ${await response.text()}`);
  const body = await response.json();
  return { email, key: body.api_key, workspace: body.workspace.id };
}

/** A call of the admin API with a key; the JSON answer, or an error naming the status. */
export async function api(server, key, method, path, body) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Signs up on the landing page, which leads to the dashboard; returns the email. */
export async function signUpInBrowser(page, server, email = uniqueEmail('web')) {
  await page.goto(`${server.url}/`);
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', PASSWORD);
  await Promise.all([
    page.waitForURL(`${server.url}/mocks`),
    page.click('form[action="/signup"] button[type=submit]'),
  ]);
  return email;
}

/**
 * What most test files start with: a server, a browser and a page signed up in it. Stop them
 * with `stopAll`.
 */
export async function startSignedIn() {
  const server = await startLyrebird();
  const browser = await launchBrowser();
  const page = await newPage(browser);
  await signUpInBrowser(page, server);
  return { server, browser, page };
}

/** Closes the browser and stops the server of `startSignedIn`, whichever were started. */
export async function stopAll({ server, browser, upstream }) {
  upstream?.close();
  await browser?.close();
  await server?.stop();
}

/**
 * `startSignedIn`, with an upstream on loopback that `answer` (a Node request handler) serves,
 * and the server allowed to reach loopback, which it otherwise refuses. Stop them with `stopAll`.
 */
export async function startSignedInWithUpstream(answer) {
  process.env.LYREBIRD_CALLBACK_ALLOW = '127.0.0.1';
  const started = await startSignedIn();
  return { ...started, upstream: await startUpstream(answer) };
}

/** Creates a mock from scratch on /mocks/new; returns its id, read from the page it leads to. */
export async function createMockInBrowser(page, server, name) {
  await page.goto(`${server.url}/mocks/new`);
  await page.fill('form[action="/mocks"] #f-name', name);
  await Promise.all([
    page.waitForURL(/\/mocks\/[0-9a-f-]{36}$/),
    page.click('form[action="/mocks"] button[type=submit]'),
  ]);
  return page.url().split('/').pop();
}

/**
 * Opens a call log page and returns the row of the newest call whose path contains `path`.
 * Calls reach the log through a background writer a moment after they are answered, so the
 * page is loaded again until the row is there (a hang guard of a few seconds, not a measurement).
 */
export async function openCallLog(page, url, path) {
  const row = page.locator('table.calls tbody tr', { hasText: path });
  for (let attempt = 0; attempt < 50; attempt += 1) {
    await page.goto(url);
    if (await row.count() > 0) return row.first();
    await page.waitForTimeout(100);
  }
  throw new Error(`no call to ${path} in ${url} after 50 loads`);
}

/**
 * A JSON request to the admin API as the signed-in page: its session cookie, and the CSRF token
 * of its pages in `x-csrf-token`, as the pages' own scripts send it. For setting up what a test
 * is not about.
 */
export async function apiAsPage(page, server, method, path, data) {
  const token = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  const response = await page.request.fetch(`${server.url}${path}`, {
    method,
    data,
    headers: { 'x-csrf-token': token },
  });
  if (!response.ok()) throw new Error(`${method} ${path}: ${response.status()} ${await response.text()}`);
  return response.json();
}

/**
 * An HTTP server on 127.0.0.1, on a free port, answering each request with
 * `answer(request, response)`: a mock's upstream, which the server under test reaches only when
 * LYREBIRD_CALLBACK_ALLOW allows loopback. Stop it with `close()`.
 */
async function startUpstream(answer) {
  const upstream = createServer(answer);
  await new Promise((listening) => upstream.listen(0, '127.0.0.1', listening));
  return upstream;
}
