// Recording and examples from calls in the browser: a mock records a real upstream on loopback,
// stopping lands on the draft with the learned examples to review and publish, and calls
// chosen in the call log become examples the same way.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiAsPage, createMockInBrowser, openCallLog, screenshot, startSignedInWithUpstream, stopAll,
} from './support.mjs';

const NAMES = { 1: 'Ada', 2: 'Grace' };

let server;
let browser;
let page;
let upstream;
before(async () => {
  ({ server, browser, page, upstream } = await startSignedInWithUpstream((request, response) => {
    const user = request.url.match(/^\/v1\/users\/(\d+)$/);
    if (user && NAMES[user[1]]) {
      response.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'session=secret' });
      response.end(JSON.stringify({ id: Number(user[1]), name: NAMES[user[1]] }));
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end(`nothing at ${request.url}`);
    }
  }));
});
after(() => stopAll({ server, browser, upstream }));

test('a recording becomes draft examples, reviewed and published', async () => {
  const mockId = await createMockInBrowser(page, server, 'Users, recorded');
  await page.fill('#f-upstream_url', `http://127.0.0.1:${upstream.address().port}/v1`);
  await page.uncheck('#f-pass_through');
  await Promise.all([
    page.waitForLoadState('load'),
    page.click('form[action$="/settings"] button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Saved the settings' }).waitFor();
  assert.equal((await fetch(server.mockUrl(mockId, '/users/1'))).status, 404, 'not passed through');

  await Promise.all([
    page.waitForLoadState('load'),
    page.click('#recording button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Recording: calls no example matches go to the upstream' }).waitFor();
  assert.match(await page.locator('#recording').innerText(), /Recording\s+since/);

  for (const path of ['/users/1', '/users/2', '/users/1', '/users/7']) {
    await fetch(server.mockUrl(mockId, path));
  }
  await Promise.all([
    page.waitForURL(/\/draft$/),
    page.click('#recording button[type=submit]'),
  ]);
  await page.locator('.flash', {
    hasText: 'Recorded 4 call(s): 4 example(s) added to the draft (1 repeated call(s) folded)',
  }).waitFor();
  const names = await page.locator('.draft-example summary strong').allInnerTexts();
  assert.deepEqual(names, [
    'GET /users/1 200', 'GET /users/2 200', 'GET /users/7 404', 'GET /users/:userId 404',
  ]);
  assert.doesNotMatch(await page.content(), /session=secret/, 'cookies are not kept');
  await screenshot(page, 'recording-review');

  // Review: the catch-all for unseen ids is dropped, then the rest published.
  const catchAll = page.locator('.draft-example', { hasText: 'GET /users/:userId 404' });
  await catchAll.locator('summary').click();
  await Promise.all([
    page.waitForLoadState('load'),
    catchAll.locator('form[action$="/remove"] button').click(),
  ]);
  await page.locator('.flash').first().waitFor();
  assert.equal(await page.locator('.draft-example summary strong', { hasText: ':userId' }).count(), 0);
  await Promise.all([
    page.waitForURL(/\/mocks\/[0-9a-f-]{36}$/),
    page.locator('form[action$="/draft/publish"] button[type=submit]').first().click(),
  ]);

  upstream.closeAllConnections();
  const ada = await fetch(server.mockUrl(mockId, '/users/1'));
  assert.equal(ada.status, 200);
  assert.deepEqual(await ada.json(), { id: 1, name: 'Ada' });
  const unseen = await fetch(server.mockUrl(mockId, '/users/3'));
  assert.equal(unseen.status, 404);
  assert.match(await unseen.text(), /No matching example for GET \/users\/3/, 'the mock\'s own 404: the catch-all was dropped');
});

test('calls chosen in the call log become examples of the draft', async () => {
  const mockId = await createMockInBrowser(page, server, 'Users, from history');
  await apiAsPage(page, server, 'PATCH', `/api/v1/mocks/${mockId}`, {
    upstream: { url: `http://127.0.0.1:${upstream.address().port}/v1` },
  });
  await fetch(server.mockUrl(mockId, '/users/2'));
  await fetch(server.mockUrl(mockId, '/users/1'));

  const url = `${server.url}/mocks/${mockId}/calls`;
  await openCallLog(page, url, '/users/2');
  await Promise.all([
    page.waitForLoadState('load'),
    page.click('form#make-examples button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Choose the calls to make examples of' }).waitFor();

  const row = await openCallLog(page, url, '/users/2');
  await row.locator('input[type=checkbox]').check();
  await screenshot(page, 'examples-from-calls');
  await Promise.all([
    page.waitForURL(/\/draft$/),
    page.click('form#make-examples button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Read 1 call(s): 1 example(s) added to the draft' }).waitFor();
  assert.deepEqual(await page.locator('.draft-example summary strong').allInnerTexts(), ['GET /users/2 200']);
});
