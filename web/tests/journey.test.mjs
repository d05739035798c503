// A new user's first visit, in order: sign up, create a mock, give it an example in the editor,
// call its URL (from the test and in the browser), and read the call log: the call that matched,
// the one that did not (with the examples that came closest), the live tail, and a private mock
// refusing a call without a key.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createMockInBrowser, launchBrowser, newPage, openCallLog, screenshot, signUpInBrowser,
  startLyrebird,
} from './support.mjs';

let server;
let browser;
let page;
let mockId;

before(async () => {
  server = await startLyrebird();
  browser = await launchBrowser();
  page = await newPage(browser);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the landing page offers sign up and log in, at desktop and phone widths', async () => {
  await page.goto(`${server.url}/`);
  assert.equal(await page.locator('#signup-email').isVisible(), true);
  assert.equal(await page.locator('#login-email').isVisible(), true);
  await page.fill('#signup-password', 'short');
  assert.equal(await page.locator('#h-signup-password').innerText(), 'At least 10 characters. 5 more to go.');
  await page.fill('#signup-password', 'long enough now');
  assert.equal(await page.locator('#h-signup-password').innerText(), 'At least 10 characters.');
  await page.fill('#signup-password', '');
  await screenshot(page, 'landing');
  await screenshot(page, 'landing-phone', { width: 390 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'landing-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('signing up leads to an empty dashboard, and a new mock gets its own page', async () => {
  await signUpInBrowser(page, server);
  assert.match(await page.locator('main').innerText(), /No mocks yet/);
  mockId = await createMockInBrowser(page, server, 'Petstore');
  assert.match(await page.locator('h1').innerText(), /Petstore/);
  assert.match(await page.locator('main').innerText(), new RegExp(`/m/${mockId}/`));
});

test('an example saved in the editor answers at the mock url', async () => {
  await page.getByRole('link', { name: 'Add the first example' }).click();
  await page.waitForURL(/\/examples\/new$/);
  await page.fill('#f-name', 'one pet');
  await page.selectOption('#f-method', 'GET');
  await page.fill('#f-path', '/pets/:id');
  await page.fill('#f-status', '200');
  await page.selectOption('#f-response-body-kind', 'json');
  await page.fill('#f-response_body', '{"id": 1, "name": "Rex"}');
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.click('form.example-form button[type=submit]'),
  ]);
  assert.match(await page.locator('.flash-success').innerText(), /Saved one pet/);
  await page.goto(`${server.url}/mocks/${mockId}`);
  assert.match(await page.locator('section[aria-labelledby="examples-title"]').innerText(), /one pet[\s\S]*\/pets\/:id/);
  const answer = await fetch(server.mockUrl(mockId, '/pets/1'));
  assert.equal(answer.status, 200);
  assert.deepEqual(await answer.json(), { id: 1, name: 'Rex' });
});

test('the dashboard lists the mock with its url, and the url opened in the browser answers', async () => {
  await page.goto(`${server.url}/mocks`);
  const card = page.locator('.mock-card', { hasText: 'Petstore' });
  assert.match(await card.innerText(), new RegExp(`${mockId}\\.mock\\.localhost`));
  assert.match(await card.innerText(), new RegExp(`/m/${mockId}/`), 'the path form too');
  assert.match(await card.innerText(), /1 example · /);
  const opened = await page.context().newPage();
  const response = await opened.goto(server.mockUrl(mockId, '/pets/1'));
  assert.equal(response.status(), 200);
  assert.deepEqual(JSON.parse(await opened.locator('body').innerText()), { id: 1, name: 'Rex' });
  await opened.close();
});

test('the call log lists the call with the example that answered, and its page says why', async () => {
  const row = await openCallLog(page, `${server.url}/mocks/${mockId}/calls`, '/pets/1');
  assert.match(await row.innerText(), /GET[\s\S]*\/pets\/1[\s\S]*200[\s\S]*one pet/);
  await row.locator('td.path a').click();
  await page.waitForURL(/\/calls\/[0-9a-f-]{36}$/);
  const main = await page.locator('main').innerText();
  assert.match(main, /Answered by one pet/);
  assert.match(main, /Matched by its path and every query parameter; no body condition\./);
  assert.doesNotMatch(main, /level \d|distance/);
  // The response body, pretty-printed on the server.
  assert.match(main, /\{\n {2}"id": 1,\n {2}"name": "Rex"\n\}/);
});

test('a call that matches nothing shows the nearest miss and the condition it failed', async () => {
  const answer = await fetch(server.mockUrl(mockId, '/cats/1'), { headers: { accept: 'application/json' } });
  assert.equal(answer.status, 404);
  const row = await openCallLog(page, `${server.url}/mocks/${mockId}/calls`, '/cats/1');
  assert.match(await row.innerText(), /404[\s\S]*No matching example/);
  await screenshot(page, 'call-log');
  await screenshot(page, 'call-log-phone', { width: 390 });
  await row.locator('td.path a').click();
  await page.waitForURL(/\/calls\/[0-9a-f-]{36}$/);
  const misses = page.locator('ol.misses li');
  assert.equal(await misses.count(), 1);
  assert.match(await misses.first().innerText(), /one pet[\s\S]*path segment 1 should be "pets", got "cats"/);
  await screenshot(page, 'call-no-match');
});

test('the live tail shows a new call without reloading the page', async () => {
  await page.goto(`${server.url}/mocks/${mockId}/calls`);
  await page.locator('[data-live-status]', { hasText: 'Live' }).waitFor();
  await page.evaluate(() => { window.stillTheSamePage = true; });
  await fetch(server.mockUrl(mockId, '/pets/42?tail=yes'));
  const arrived = page.locator('table.calls tbody tr', { hasText: '/pets/42?tail=yes' });
  await arrived.waitFor();
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true);
  assert.equal(await page.locator('table.calls tbody tr').first().innerText()
    .then((text) => text.includes('/pets/42?tail=yes')), true, 'the new call is the first row');
  assert.match(await arrived.innerText(), /one pet/);
});

test('a private mock refuses a call without a key, and the log shows the refusal', async () => {
  await page.goto(`${server.url}/mocks/${mockId}`);
  await page.check('#f-private');
  await Promise.all([
    page.waitForURL(new RegExp(`/mocks/${mockId}`)),
    page.click('form[action$="/settings"] button[type=submit]'),
  ]);
  assert.match(await page.locator('h1').innerText(), /Private/);
  const refused = await fetch(server.mockUrl(mockId, '/pets/7'));
  assert.equal(refused.status, 401);
  const row = await openCallLog(page, `${server.url}/mocks/${mockId}/calls?status=401`, '/pets/7');
  assert.match(await row.innerText(), /401[\s\S]*Refused: no valid key/);
  assert.equal(await page.locator('table.calls tbody tr').count(), 1, 'the status filter keeps only the refusal');
  await row.locator('td.path a').click();
  await page.waitForURL(/\/calls\/[0-9a-f-]{36}$/);
  assert.match(await page.locator('main').innerText(), /The mock is private/);

  // The dashboard counts the calls the log has written: every call so far, the refusal aside.
  const card = page.locator('.mock-card', { hasText: 'Petstore' });
  for (let load = 0; load < 50; load += 1) {
    await page.goto(`${server.url}/mocks`);
    if (/[1-9]\d* calls this month/.test(await card.innerText())) break;
    await page.waitForTimeout(100);
  }
  assert.match(await card.innerText(), /Private[\s\S]*[1-9]\d* calls this month/);
  await screenshot(page, 'dashboard');
});
