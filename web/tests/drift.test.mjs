// A drift check in the browser: a mock whose upstream, a real server on loopback, has moved on
// from its examples; the check run from the mock page, and its report showing a renamed field
// and a changed status, with the report's JSON to download.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiAsPage, createMockInBrowser, screenshot, startSignedInWithUpstream, stopAll,
} from './support.mjs';

/** What the upstream answers now, by path. */
const ANSWERS = {
  '/v1/users/1': [200, { id: 1, full_name: 'Ada Lovelace', email: 'ada@example.com' }],
  '/v1/orders/7': [404, { error: 'no such order' }],
  '/v1/health': [200, { ok: true, version: '2.4.1' }],
};

let server;
let browser;
let page;
let upstream;
before(async () => {
  ({ server, browser, page, upstream } = await startSignedInWithUpstream((request, response) => {
    const [status, body] = ANSWERS[request.url] ?? [404, { error: 'not found' }];
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }));
});
after(() => stopAll({ server, browser, upstream }));

test('a drift check run from the mock page reports a renamed field and a changed status', async () => {
  const mockId = await createMockInBrowser(page, server, 'Shop, against the real API');
  const get = (name, path, body) => ({
    name, request: { method: 'GET', path }, response: { status: 200, body },
  });
  await apiAsPage(page, server, 'PATCH', `/api/v1/mocks/${mockId}`, {
    upstream: { url: `http://127.0.0.1:${upstream.address().port}/v1`, pass_through: false },
  });
  await apiAsPage(page, server, 'PUT', `/api/v1/mocks/${mockId}/examples`, [
    get('A user', '/users/1', { id: 1, name: 'Ada', email: 'ada@example.com' }),
    get('An order', '/orders/7', { id: 7, total: 12.5 }),
    get('Health', '/health', { ok: true, version: '2.4.0' }),
    {
      name: 'Place an order',
      request: { method: 'POST', path: '/orders', body: { type: 'json', value: { sku: 'lamp' } } },
      response: { status: 201, body: { id: 8 } },
    },
  ]);

  await page.goto(`${server.url}/mocks/${mockId}`);
  const part = page.locator('#drift');
  assert.match(await part.innerText(), /No check yet\./);
  await Promise.all([
    page.waitForURL(/\/drift\/[0-9a-f-]{36}$/),
    part.locator('button', { hasText: 'Check against the upstream' }).click(),
  ]);
  await page.locator('.flash', {
    hasText: 'Checked against the upstream: 1 agrees, 2 differ, 1 skipped.',
  }).waitFor();

  const row = (name) => page.locator('table.drift > tbody > tr', { hasText: name });
  const differences = async (name) => row(name).locator('table.differences tbody tr').evaluateAll(
    (rows) => rows.map((tr) => [...tr.cells].map((cell) => cell.innerText.trim())),
  );
  assert.match(await row('A user').innerText(), /differs/);
  assert.deepEqual(await differences('A user'), [
    ['field added', '$.full_name', 'none', 'string'],
    ['field missing', '$.name', 'string', 'none'],
  ]);
  assert.deepEqual(await differences('An order'), [
    ['status', 'status', '200', '404'],
    ['field added', '$.error', 'none', 'string'],
    ['field missing', '$.id', 'number', 'none'],
    ['field missing', '$.total', 'number', 'none'],
  ]);
  const sent = await row('An order').locator('code.request').innerText();
  assert.equal(sent, `GET http://127.0.0.1:${upstream.address().port}/v1/orders/7`);
  assert.match(await row('Health').innerText(), /agrees/, 'values are not compared');
  assert.match(await row('Place an order').innerText(), /skipped[\s\S]*drift_check: true/);

  const download = page.locator('a', { hasText: 'Download JSON' });
  const file = await page.request.get(`${server.url}${await download.getAttribute('href')}`);
  assert.match(file.headers()['content-disposition'],
    new RegExp(`^attachment; filename="drift-${mockId}-\\d{8}T\\d{6}Z\\.json"$`));
  const report = await file.json();
  assert.deepEqual(report.summary, { agrees: 1, differs: 2, skipped: 1, failed: 0 });
  await screenshot(page, 'drift-report');

  await page.goto(`${server.url}/mocks/${mockId}`);
  const listed = part.locator('.drift-reports li');
  assert.equal(await listed.count(), 1);
  assert.match(await listed.innerText(), /1 agrees, 2 differ, 1 skipped/);

  // Opted in from the example editor, the POST is sent by the next check.
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.locator('.examples a', { hasText: 'Place an order' }).click(),
  ]);
  assert.equal(await page.inputValue('#f-drift-check'), '', 'by method until it says otherwise');
  await page.selectOption('#f-drift-check', 'yes');
  await Promise.all([
    page.waitForLoadState('load'),
    page.click('form.example-form button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Saved Place an order.' }).waitFor();
  assert.equal(await page.inputValue('#f-drift-check'), 'yes');
  await page.goto(`${server.url}/mocks/${mockId}`);
  await Promise.all([
    page.waitForURL(/\/drift\/[0-9a-f-]{36}$/),
    part.locator('button', { hasText: 'Check against the upstream' }).click(),
  ]);
  assert.match(await row('Place an order').innerText(), /POST http:\S+\/v1\/orders[\s\S]*differs/);
  assert.deepEqual((await differences('Place an order'))[0], ['status', 'status', '201', '404']);
});
