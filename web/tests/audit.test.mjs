// The audit log in the browser: changes made on the pages are listed newest first with who made
// them and from where, an edited example with what changed in it, searchable and filtered; the
// page is an admin's, linked from the navigation.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMockInBrowser, screenshot, startSignedIn, stopAll } from './support.mjs';

let server;
let browser;
let page;
before(async () => ({ server, browser, page } = await startSignedIn()));
after(() => stopAll({ server, browser }));

test('changes made on the pages are in the audit log, an edited example with its diff', async () => {
  const email = await page.locator('.account-email').innerText();
  const mockId = await createMockInBrowser(page, server, 'Orders API');

  await page.getByRole('link', { name: 'Add the first example' }).click();
  await page.fill('#f-name', 'one order');
  await page.fill('#f-path', '/orders/:id');
  await page.fill('#f-status', '200');
  await page.fill('#f-response_body', '{"id": "{{ path.id }}", "state": "open"}');
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.click('form.example-form button[type=submit]'),
  ]);
  // Edited: another status and body.
  await page.fill('#f-status', '202');
  await page.fill('#f-response_body', '{"id": "{{ path.id }}", "state": "shipped"}');
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.click('form.example-form button[type=submit]'),
  ]);
  assert.match(await page.locator('.flash-success').innerText(), /Saved one order/);

  await page.goto(`${server.url}/keys`);
  await page.fill('#f-name', 'ci pipeline');
  await Promise.all([
    page.waitForURL(`${server.url}/keys`),
    page.click('form[action="/keys"] button[type=submit]'),
  ]);

  await page.goto(`${server.url}/mocks`);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.waitForURL(`${server.url}/audit`);
  const events = page.locator('.audit-event');
  const actions = await events.locator('.audit-action').allInnerTexts();
  assert.deepEqual(actions, ['key.created', 'example.changed', 'example.created', 'mock.created']);
  for (const who of await events.locator('.audit-actor').allInnerTexts()) assert.equal(who, email);
  for (const from of await events.locator('.audit-address').allInnerTexts()) assert.equal(from, '127.0.0.1');

  const edit = events.filter({ hasText: 'example.changed' });
  assert.match(await edit.locator('.audit-head').innerText(), /one order\s+in Orders API/);
  const rows = edit.locator('table.changes tbody tr');
  const diff = (await rows.allInnerTexts()).map((row) => row.replace(/\s+/g, ' ').trim());
  assert.deepEqual(diff, [
    '/response/status 200 202',
    '/response/body/state "open" "shipped"',
  ]);
  assert.equal(await edit.getByRole('link', { name: 'Orders API' }).getAttribute('href'), `/mocks/${mockId}`);
  await screenshot(page, 'audit-log');

  // Search, and a filter by action.
  await page.fill('input[name="q"]', 'shipped');
  await Promise.all([page.waitForURL(/q=shipped/), page.click('form.audit-search button[type=submit]')]);
  assert.deepEqual(await page.locator('.audit-action').allInnerTexts(), ['example.changed']);
  await page.goto(`${server.url}/audit`);
  await page.selectOption('select[name="action"]', 'key');
  await Promise.all([page.waitForURL(/action=key/), page.click('form.audit-search button[type=submit]')]);
  assert.deepEqual(await page.locator('.audit-action').allInnerTexts(), ['key.created']);
  assert.match(await page.locator('.audit-target').innerText(), /^ci pipeline \(lb_/);
});

test('older events are a page away, and a bad cursor is named', async () => {
  for (const name of ['one', 'two', 'three']) await createMockInBrowser(page, server, `Paged ${name}`);
  await page.goto(`${server.url}/audit?limit=2`);
  assert.deepEqual(await page.locator('.audit-target').allInnerTexts(), ['Paged three', 'Paged two']);
  await page.getByRole('link', { name: 'Older events' }).click();
  assert.equal(await page.locator('.audit-target').first().innerText(), 'Paged one');

  const refused = await page.goto(`${server.url}/audit?before=not-a-cursor`);
  assert.equal(refused.status(), 422);
  assert.match(await page.locator('.error.banner').innerText(), /before/);
});
