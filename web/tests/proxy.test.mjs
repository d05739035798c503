// A mock's upstream in the browser: set in the settings, its token saved write-only, a call no
// example matches passed through to a real upstream on loopback, and the call page saying so.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiAsPage, createMockInBrowser, openCallLog, screenshot, startSignedInWithUpstream, stopAll,
} from './support.mjs';

let server;
let browser;
let page;
let upstream;
before(async () => {
  ({ server, browser, page, upstream } = await startSignedInWithUpstream((request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({
      from: 'the upstream', path: request.url,
      authorized: request.headers.authorization === 'Bearer web-token',
    }));
  }));
});
after(() => stopAll({ server, browser, upstream }));

test('an upstream and its token are set in the settings; unmatched calls pass through', async () => {
  const mockId = await createMockInBrowser(page, server, 'Payments, partly mocked');
  const upstreamUrl = `http://127.0.0.1:${upstream.address().port}/v1`;

  await page.fill('#f-upstream_url', 'ftp://files.example.com');
  await page.click('form[action$="/settings"] button[type=submit]');
  await page.locator('#e-upstream_url').waitFor();
  assert.match(await page.locator('#e-upstream_url').innerText(), /http or https, not ftp/);

  await page.fill('#f-upstream_url', upstreamUrl);
  assert.equal(await page.isChecked('#f-pass_through'), true, 'on by default');
  await Promise.all([
    page.waitForLoadState('load'),
    page.click('form[action$="/settings"] button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Saved the settings' }).waitFor();

  await page.fill('#f-upstream-headers', 'a line without a colon');
  await Promise.all([
    page.waitForLoadState('load'),
    page.click('form.upstream-headers button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Each line is one header, Name: value.' }).waitFor();
  await page.fill('#f-upstream-headers', 'Host: elsewhere.example.com');
  await Promise.all([
    page.waitForLoadState('load'),
    page.click('form.upstream-headers button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'The headers were not saved: the server sets this header itself' }).waitFor();

  await page.fill('#f-upstream-headers', 'Authorization: Bearer web-token');
  await Promise.all([
    page.waitForLoadState('load'),
    page.click('form.upstream-headers button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Saved 1 header(s)' }).waitFor();
  assert.match(await page.locator('form.upstream-headers').innerText(), /carries authorization/);
  assert.equal(await page.locator('#f-upstream-headers').inputValue(), '', 'never shown again');
  assert.doesNotMatch(await page.content(), /web-token/);

  const passed = await fetch(server.mockUrl(mockId, '/charges/7'));
  assert.equal(passed.status, 200);
  assert.deepEqual(await passed.json(), {
    from: 'the upstream', path: '/v1/charges/7', authorized: true,
  });

  const row = await openCallLog(page, `${server.url}/mocks/${mockId}/calls`, '/charges/7');
  assert.match(await row.innerText(), /passed to the upstream/);
  await Promise.all([page.waitForURL(/\/calls\/[0-9a-f-]{36}$/), row.locator('a').first().click()]);
  assert.match(await page.locator('h2').first().innerText(), /Passed to the upstream/);
  const verdict = await page.locator('.verdict').innerText();
  assert.match(verdict, new RegExp(`sent to the upstream, ${upstreamUrl}/charges/7: it answered 200`));
  await screenshot(page, 'proxied-call');
});

test('an example made in the editor can pass its calls to the upstream', async () => {
  const mockId = await createMockInBrowser(page, server, 'Charges, one live');
  await apiAsPage(page, server, 'PATCH', `/api/v1/mocks/${mockId}`, {
    upstream: { url: `http://127.0.0.1:${upstream.address().port}/v1`, pass_through: false },
  });
  await page.goto(`${server.url}/mocks/${mockId}/examples/new`);
  await page.fill('#f-name', 'live refunds');
  await page.selectOption('#f-method', 'POST');
  await page.fill('#f-path', '/refunds');
  await page.selectOption('#f-answer-kind', 'upstream');
  assert.equal(await page.locator('#f-status').isVisible(), false, 'the upstream gives the response');
  await Promise.all([
    page.waitForURL(new RegExp(`/mocks/${mockId}/examples/[0-9a-f-]{36}$`)),
    page.click('form.example-form button[type=submit]'),
  ]);
  assert.equal(await page.locator('#f-answer-kind').inputValue(), 'upstream', 'the form shows it saved');

  const passed = await fetch(server.mockUrl(mockId, '/refunds'), { method: 'POST' });
  assert.equal(passed.status, 200);
  assert.equal((await passed.json()).path, '/v1/refunds');
  assert.equal((await fetch(server.mockUrl(mockId, '/charges/1'))).status, 404, 'misses stay the mock\'s');

  const row = await openCallLog(page, `${server.url}/mocks/${mockId}/calls`, '/refunds');
  assert.match(await row.innerText(), /live refunds: passed to the upstream/);
  await Promise.all([page.waitForURL(/\/calls\/[0-9a-f-]{36}$/), row.locator('a').first().click()]);
  assert.match(await page.locator('.verdict').innerText(), /Answered by live refunds, which passes its calls to the upstream/);
});
