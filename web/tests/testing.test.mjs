// Mocks for test suites in the browser: chaos, latency and a rate limit in a mock's settings
// (refused with the field marked, then saved and served), a fault in the example editor, and
// the call log's verify box with a verdict that did not hold and one that did.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createMockInBrowser, screenshot, startSignedIn, stopAll,
} from './support.mjs';

let server;
let browser;
let page;
before(async () => ({ server, browser, page } = await startSignedIn()));
after(() => stopAll({ server, browser }));

const settingsForm = 'form[action$="/settings"]';

async function saveSettings() {
  await Promise.all([
    page.waitForLoadState('load'),
    page.click(`${settingsForm} button[type=submit]`),
  ]);
}

test('chaos, latency and a rate limit are set in the settings; a fault in the editor', async () => {
  const mockId = await createMockInBrowser(page, server, 'Flaky payments');

  await page.fill('#f-chaos', JSON.stringify({ percent: 150, faults: [{ type: 'reset' }] }));
  await saveSettings();
  assert.match(await page.locator('#e-chaos').innerText(), /from 0 to 100 percent, got 150/);
  assert.equal(await page.locator('#f-chaos').getAttribute('aria-invalid'), 'true');

  await page.fill('#f-chaos', JSON.stringify({
    percent: 100, seed: 1, faults: [{ type: 'status', statuses: [503] }],
    paths: [{ path: '/health', percent: 0 }],
  }));
  await page.fill('#f-latency', JSON.stringify({ type: 'uniform', min_ms: 1, max_ms: 5 }));
  await page.fill('#f-rate_limit', JSON.stringify({ limit: 2, window_s: 3600 }));
  await saveSettings();
  await page.locator('.flash', { hasText: 'Saved the settings' }).waitFor();
  assert.match(await page.locator('#f-chaos').inputValue(), /"statuses": \[\s*503\s*\]/);
  await screenshot(page, 'failures-on-purpose');

  await page.goto(`${server.url}/mocks/${mockId}/examples/new`);
  await page.fill('#f-name', 'health');
  await page.fill('#f-path', '/health');
  await page.fill('#f-fault', JSON.stringify({ type: 'empty' }));
  await Promise.all([
    page.waitForURL(new RegExp(`/mocks/${mockId}/examples/[0-9a-f-]{36}$`)),
    page.click('form.example-form button[type=submit]'),
  ]);
  assert.match(await page.locator('#f-fault').inputValue(), /"type": "empty"/);

  // Served: /health is spared by chaos and answers with its fault (no body); anything else
  // gets chaos's 503; the third call of a client is over the limit.
  const health = await fetch(server.mockUrl(mockId, '/health'));
  assert.equal(health.status, 200);
  assert.equal(await health.text(), '');
  assert.equal(health.headers.get('ratelimit-remaining'), '1');
  assert.equal((await fetch(server.mockUrl(mockId, '/pay'))).status, 503);
  const limited = await fetch(server.mockUrl(mockId, '/pay'));
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
});

test('the call log verifies what a mock received, with the nearest calls when it did not hold', async () => {
  const mockId = await createMockInBrowser(page, server, 'Orders');
  for (const page2 of [1, 2, 2]) await fetch(server.mockUrl(mockId, `/orders?page=${page2}`));

  await page.goto(`${server.url}/mocks/${mockId}/calls`);
  await page.click('.verify-box summary');
  await page.fill('#f-verify-request', '{"method": "GET", "path": "/orders", "query": {"page": "3"}}');
  await Promise.all([
    page.waitForURL(/\/calls\/verify\?/),
    page.click('.verify-form button[type=submit]'),
  ]);
  const verdict = page.locator('section.verify-verdict');
  assert.match(await verdict.locator('h2').innerText(), /Did not hold/);
  assert.match(await verdict.innerText(), /0 calls fit the pattern; expected at least 1/);
  assert.match(await verdict.innerText(), /query parameter "page" should be "3", got "2"/);
  await screenshot(page, 'verify');

  await page.fill('#f-verify-request', '{"method": "GET", "path": "/orders", "query": {"page": "2"}}');
  await page.selectOption('#f-verify-expect', 'count');
  await page.fill('#f-n', '2');
  await page.click('.verify-form button[type=submit]');
  await verdict.locator('h2', { hasText: 'Held' }).waitFor();
  assert.equal(await verdict.locator('.verify-calls li').count(), 2);

  // A pattern that is not one: the field says why, and nothing is checked.
  await page.fill('#f-verify-request', '{"path": "/a/*/b"}');
  await page.click('.verify-form button[type=submit]');
  await page.locator('#e-verify-request').waitFor();
  assert.match(await page.locator('#e-verify-request').innerText(), /`\*` may only be the last segment/);
  assert.equal(await verdict.count(), 0);
});
