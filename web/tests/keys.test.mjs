// API keys and usage in the browser: a key is created with a name and a scope, shown once,
// opens a private mock, is named on the calls it made, and stops working once revoked; the
// usage page counts those calls against the quota.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createMockInBrowser, openCallLog, screenshot, startSignedIn, stopAll,
} from './support.mjs';

let server;
let browser;
let page;
before(async () => ({ server, browser, page } = await startSignedIn()));
after(() => stopAll({ server, browser }));

test('a key is created, shown once, opens a private mock, and is refused once revoked', async () => {
  const mockId = await createMockInBrowser(page, server, 'Private payments');
  await page.check('#f-private');
  await Promise.all([
    page.waitForURL(new RegExp(`/mocks/${mockId}`)),
    page.click('form[action$="/settings"] button[type=submit]'),
  ]);

  await page.goto(`${server.url}/keys`);
  await page.fill('#f-name', 'frontend dev');
  await page.selectOption('#f-scope', 'mock');
  const [created] = await Promise.all([
    page.waitForResponse((response) => response.request().method() === 'POST' && response.url().endsWith('/keys')),
    page.click('form[action="/keys"] button[type=submit]'),
  ]);
  assert.equal(created.status(), 303, 'the form is answered with a redirect');
  await page.waitForURL(`${server.url}/keys`);
  const shown = page.locator('.new-key code');
  const key = await shown.innerText();
  assert.match(key, /^lb_[A-Za-z0-9]{40}$/);
  assert.equal(await page.locator('.new-key button[data-copy]').getAttribute('data-copy'), key);
  const row = page.locator('table.keys tbody tr', { hasText: 'frontend dev' });
  assert.match(await row.innerText(), new RegExp(`${key.slice(0, 10)}…[\\s\\S]*mock[\\s\\S]*Never`));
  await screenshot(page, 'keys');

  await page.reload();
  assert.equal(await page.locator('.new-key').count(), 0, 'the key is shown only once');
  assert.equal(await page.locator('table.keys tbody tr', { hasText: 'frontend dev' }).count(), 1,
    'reloading made no second key');
  assert.equal((await page.content()).includes(key), false, 'the key is nowhere in the page');

  const opened = await fetch(server.mockUrl(mockId, '/charges'), { headers: { 'x-api-key': key } });
  assert.equal(opened.status, 404, 'the key opens the private mock (which has no examples)');
  const call = await openCallLog(page, `${server.url}/mocks/${mockId}/calls`, '/charges');
  await call.locator('td.path a').click();
  await page.waitForURL(/\/calls\/[0-9a-f-]{36}$/);
  assert.match(await page.locator('.facts').innerText(), /Key used\s+frontend dev/i);

  await page.goto(`${server.url}/keys`);
  await page.locator('table.keys tbody tr', { hasText: 'frontend dev' }).getByRole('link', { name: 'Revoke frontend dev' }).click();
  assert.match(await page.locator('h1').innerText(), /Revoke “frontend dev”\?/);
  await Promise.all([
    page.waitForURL(`${server.url}/keys`),
    page.click('form[action$="/revoke"] button[type=submit]'),
  ]);
  assert.match(await page.locator('.flash-success').innerText(), /“frontend dev” .* is revoked/);
  assert.match(await page.locator('table.keys tbody tr', { hasText: 'frontend dev' }).innerText(), /Revoked/);
  const refused = await fetch(server.mockUrl(mockId, '/charges'), { headers: { 'x-api-key': key } });
  assert.equal(refused.status, 401);
});

test('a key without a name is refused with the error beside the field', async () => {
  await page.goto(`${server.url}/keys`);
  await page.fill('#f-name', '   ');
  await page.click('form[action="/keys"] button[type=submit]');
  assert.equal(await page.locator('#f-name').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#e-name').innerText(), /A key needs a name of 1 to 100 characters/);
});

test('a form sent without the session’s csrf token is refused and creates nothing', async () => {
  const forged = await page.request.post(`${server.url}/keys`, { form: { name: 'forged', scope: 'admin' } });
  assert.equal(forged.status(), 403);
  await page.goto(`${server.url}/keys`);
  assert.equal(await page.locator('table.keys tbody tr', { hasText: 'forged' }).count(), 0);
});

test('the usage page counts this month’s calls against the quota and says when it resets', async () => {
  await page.goto(`${server.url}/usage`);
  const figure = await page.locator('.usage-figure').innerText();
  assert.match(figure, /^1 of 10,000 calls$/, 'the one answered call counts; the refused one does not');
  assert.equal(await page.locator('progress.usage-bar').getAttribute('value'), '1');
  const now = new Date();
  const reset = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const month = reset.toLocaleString('en-GB', { month: 'long', timeZone: 'UTC' });
  assert.match(await page.locator('main').innerText(), new RegExp(`starts again on 1 ${month} ${reset.getUTCFullYear()}`));
  await screenshot(page, 'usage');
});
