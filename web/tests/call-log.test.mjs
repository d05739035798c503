// The call log page beyond the first look: the search form and its filters (sent as a GET
// form, errors beside their field), paging by the API's cursor, XML bodies pretty-printed on a
// call's page, the export links, and clearing after a confirmation.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiAsPage, launchBrowser, newPage, openCallLog, signUpInBrowser, startLyrebird,
} from './support.mjs';

let server;
let browser;
let page;
let mockId;
let log;

/** Calls made by `before`: 52 to /pets/N, 2 POSTs of XML to /orders, one to /nowhere. */
const PET_CALLS = 52;
const TOTAL_CALLS = PET_CALLS + 3;
/** A header the call to /nowhere carries, which the pages must show as text. */
const HOSTILE = '<img src=x onerror="window.injected=1"><script>window.injected=2</script>';

before(async () => {
  server = await startLyrebird();
  browser = await launchBrowser();
  page = await newPage(browser);
  await signUpInBrowser(page, server);
  // The setup goes through the API with the page's own session; the pages are the subject.
  mockId = (await apiAsPage(page, server, 'POST', '/api/v1/mocks', { name: 'Shop' })).id;
  log = `${server.url}/mocks/${mockId}/calls`;
  for (const example of [
    { name: 'a pet', request: { method: 'GET', path: '/pets/:id' }, response: { status: 200, body: { name: 'Rex' } } },
    {
      name: 'an order',
      request: { method: 'POST', path: '/orders' },
      response: { status: 201, headers: [['content-type', 'application/xml']], body: '<order><id>7</id></order>' },
    },
  ]) {
    await apiAsPage(page, server, 'POST', `/api/v1/mocks/${mockId}/examples`, example);
  }
  for (let pet = 1; pet <= PET_CALLS; pet += 1) {
    assert.equal((await fetch(server.mockUrl(mockId, `/pets/${pet}`))).status, 200);
  }
  for (const item of ['apple', 'pear']) {
    const order = await fetch(server.mockUrl(mockId, '/orders'), {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: `<order><item sku="${item}">${item} &amp; co</item><quantity>2</quantity></order>`,
    });
    assert.equal(order.status, 201);
  }
  assert.equal((await fetch(server.mockUrl(mockId, '/nowhere'), { headers: { 'x-note': HOSTILE } })).status, 404);
  await openCallLog(page, log, '/nowhere');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const rows = () => page.locator('table.calls tbody tr');

test('the filters narrow the log and travel in the page url', async () => {
  await page.goto(log);
  await page.selectOption('#f-method', 'POST');
  await page.click('form.call-search button[type=submit]');
  await page.waitForURL(/method=POST/);
  assert.equal(await rows().count(), 2);
  for (const text of await rows().allInnerTexts()) assert.match(text, /POST[\s\S]*\/orders[\s\S]*201[\s\S]*an order/);

  await page.goto(`${log}?matched=false`);
  assert.equal(await rows().count(), 1);
  assert.match(await rows().first().innerText(), /\/nowhere[\s\S]*404[\s\S]*No matching example/);
  assert.equal(await page.locator('#f-matched').inputValue(), 'false', 'the form shows the filter in use');

  await page.fill('#f-q', 'pear');
  await page.selectOption('#f-matched', '');
  await page.click('form.call-search button[type=submit]');
  await page.waitForURL(/q=pear/);
  assert.equal(await rows().count(), 1, 'the search finds the text in a request body');

  await page.goto(`${log}?from=2999-01-01T00:00`);
  assert.match(await page.locator('main').innerText(), /No calls match these filters/);
});

test('a filter that does not read is shown beside its field', async () => {
  const response = await page.goto(`${log}?status=teapot`);
  assert.equal(response.status(), 422);
  assert.equal(await page.locator('#f-status').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#e-status').innerText(), /a status such as 404 or a class such as 4xx/);
  assert.equal(await page.locator('#f-status').inputValue(), 'teapot');
});

test('paging follows the cursor to older calls without repeating any', async () => {
  await page.goto(log);
  assert.equal(await rows().count(), 50);
  const first = await page.locator('td.path a').evaluateAll((links) => links.map((a) => a.href));
  await page.getByRole('link', { name: 'Older calls →' }).click();
  await page.waitForURL(/cursor=/);
  const second = await page.locator('td.path a').evaluateAll((links) => links.map((a) => a.href));
  assert.equal(second.length, TOTAL_CALLS - 50);
  assert.equal(new Set([...first, ...second]).size, TOTAL_CALLS);
  assert.match(await rows().last().innerText(), /\/pets\/1\b/, 'the oldest call comes last');
  assert.equal(await page.getByRole('link', { name: 'Older calls →' }).count(), 0);
  await page.getByRole('link', { name: '← Newest calls' }).click();
  assert.equal(await rows().count(), 50);
});

test('xml bodies are pretty-printed on the call page', async () => {
  await page.goto(`${log}?q=apple`);
  await rows().first().locator('td.path a').click();
  await page.waitForURL(/\/calls\/[0-9a-f-]{36}$/);
  const request = page.locator('section[aria-label="Request"] pre.body-xml');
  assert.equal(await request.innerText(),
    '<order>\n  <item sku="apple">apple &amp; co</item>\n  <quantity>2</quantity>\n</order>');
  const response = page.locator('section[aria-label="Response"] pre.body-xml');
  assert.equal(await response.innerText(), '<order>\n  <id>7</id>\n</order>');
  assert.match(await page.locator('main').innerText(), /Answered by an order/);
});

test('what a caller sent is shown as text, never run as markup', async () => {
  const row = await openCallLog(page, log, '/nowhere');
  await row.locator('td.path a').click();
  await page.waitForURL(/\/calls\/[0-9a-f-]{36}$/);
  const header = page.locator('table.headers tr', { hasText: 'x-note' });
  assert.equal(await header.locator('td').innerText(), HOSTILE);
  assert.equal(await page.evaluate(() => window.injected), undefined);
});

test('the export links give every call as ndjson and har', async () => {
  await page.goto(log);
  const ndjsonLink = await page.getByRole('link', { name: 'Export NDJSON' }).getAttribute('href');
  const ndjson = await page.request.get(`${server.url}${ndjsonLink}`);
  assert.equal(ndjson.status(), 200);
  const lines = (await ndjson.text()).trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.length, TOTAL_CALLS);
  const harLink = await page.getByRole('link', { name: 'Export HAR' }).getAttribute('href');
  const har = await (await page.request.get(`${server.url}${harLink}`)).json();
  assert.equal(har.log.entries.length, TOTAL_CALLS);

  await page.goto(`${log}?method=POST`);
  const filtered = await page.getByRole('link', { name: 'Export NDJSON' }).getAttribute('href');
  const posts = (await (await page.request.get(`${server.url}${filtered}`)).text()).trim().split('\n');
  assert.equal(posts.length, 2, 'the export keeps the filters of the page');
});

test('clearing asks first, then empties the log and shows how to make a call', async () => {
  await page.goto(log);
  page.once('dialog', (dialog) => dialog.dismiss());
  await page.click('form[action$="/calls/clear"] button');
  assert.equal(await rows().count(), 50, 'a dismissed confirmation clears nothing');

  page.once('dialog', (dialog) => dialog.accept());
  await Promise.all([page.waitForURL(log), page.click('form[action$="/calls/clear"] button')]);
  assert.match(await page.locator('.flash-success').innerText(), new RegExp(`Cleared ${TOTAL_CALLS} calls`));
  const empty = await page.locator('main').innerText();
  assert.match(empty, new RegExp(`No calls yet[\\s\\S]*curl http://localhost:\\d+/m/${mockId}/`));
});

test('a search can look in the request alone, times are to the millisecond with their age, and a phone folds the filters', async () => {
  // The log was cleared by the test before: two calls of its own. The 404's explanation names
  // the closest example, "a pet": the response holds it, no request does.
  assert.equal((await fetch(server.mockUrl(mockId, '/pets/1'))).status, 200);
  assert.equal((await fetch(server.mockUrl(mockId, '/nowhere'))).status, 404);
  await openCallLog(page, log, '/nowhere');
  await page.goto(`${log}?q=${encodeURIComponent('a pet')}`);
  assert.equal(await rows().count(), 1);
  assert.match(await rows().first().innerText(), /\/nowhere/);
  await page.selectOption('#f-q-in', 'request');
  await page.click('form.call-search button[type=submit]');
  await page.waitForURL(/q_in=request/);
  assert.equal(await rows().count(), 0, 'no request holds "a pet"');

  await page.goto(log);
  const time = rows().first().locator('td', { has: page.locator('time') });
  assert.match(await time.innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC · \d+ (s|min) ago$/);

  const phone = await newPage(browser);
  await phone.context().addCookies(await page.context().cookies());
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(log);
  assert.equal(await phone.locator('#f-method').isVisible(), false, 'the filters are folded');
  await phone.locator('.filters-fold > summary').click();
  assert.equal(await phone.locator('#f-method').isVisible(), true);
  await phone.goto(`${log}?method=GET`);
  assert.equal(await phone.locator('#f-method').isVisible(), true, 'filters in use stay open');
  await phone.context().close();
});
