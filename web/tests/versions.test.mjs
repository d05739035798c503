// A mock's history and drafts in the browser: the health report's suggestion applied to a draft
// in one click, the draft tried beside the live mock, its impact replayed on the mock's calls,
// published; the history with what changed, and a version restored. An edit made in another tab
// is not overwritten unseen, and a refused example keeps what was typed.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiAsPage, createMockInBrowser, screenshot, startSignedIn, stopAll,
} from './support.mjs';

let server;
let browser;
let page;
before(async () => ({ server, browser, page } = await startSignedIn()));
after(() => stopAll({ server, browser }));

/** Submits the form `selector` and waits for the page it leads to. */
async function submit(selector) {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
}

test('a suggestion goes to a draft, whose impact is replayed before it is published', async () => {
  const mockId = await createMockInBrowser(page, server, 'Users');
  await apiAsPage(page, server, 'POST', `/api/v1/mocks/${mockId}/examples`, {
    name: 'one user',
    request: { method: 'GET', path: '/users/1' },
    response: { status: 200, body: { id: 1 } },
  });
  for (const user of [1, 2, 3, 2]) await fetch(server.mockUrl(mockId, `/users/${user}`));

  // The health report clusters the misses; its suggestion goes to a new draft.
  await page.goto(`${server.url}/mocks/${mockId}`);
  await page.click('a[href$="/health"]');
  await page.waitForURL(/\/health$/);
  // The calls reach the log a moment after they are answered: load again until all four are in.
  const threeMisses = page.locator('.cluster h3', { hasText: '3 calls' });
  for (let attempt = 0; attempt < 50 && !(await threeMisses.count()); attempt += 1) {
    await page.waitForTimeout(100);
    await page.reload();
  }
  const cluster = page.locator('.cluster').first();
  assert.match(await cluster.locator('h3').innerText(), /3 calls: path segment 2 should be "1", got other values \("2", "3"\)/);
  assert.match(await cluster.innerText(), /make path segment 2 \("1"\) the parameter :id/);
  await screenshot(page, 'health-report');
  await submit('.cluster form.suggestion button[type=submit]');
  assert.match(page.url(), /\/draft$/);
  await page.locator('.flash', { hasText: 'Applied to the draft: make path segment 2' }).waitFor();
  assert.match(await page.locator('table.changes').first().innerText(), /\/request\/path\s+"\/users\/1"\s+"\/users\/:id"/);

  // The live mock is unchanged until the draft is published.
  assert.equal((await fetch(server.mockUrl(mockId, '/users/2'))).status, 404);

  // Tried side by side.
  await page.fill('#try-path', '/users/2');
  await page.click('.try-form button[type=submit]');
  await page.locator('.try-compare').waitFor();
  assert.match(await page.locator('.try-result > .verdict').innerText(), /answers otherwise/);
  assert.match(await page.locator('.try-side').nth(0).innerText(), /Answered by one user/);
  assert.match(await page.locator('.try-side').nth(1).innerText(), /No example matches/);

  // The impact on the mock's calls (the fifth, just sent, too).
  await submit('.impact-form button[type=submit]');
  const verdict = page.locator('.impact-verdict');
  assert.match(await verdict.innerText(), /4 of 5 calls would be answered otherwise/);
  assert.match(await page.locator('table.impact-groups tbody tr').first().innerText(), /no example\s+one user\s+4/);
  await screenshot(page, 'draft-impact');

  // Published: the mock answers from version 3.
  await submit('form[action$="/draft/publish"] button.primary');
  await page.locator('.flash', { hasText: 'answers from version 3' }).waitFor();
  assert.equal((await fetch(server.mockUrl(mockId, '/users/2'))).status, 200);
  assert.equal(await page.locator('.draft-banner').count(), 0);

  // The history: three versions, the newest published from the draft; what it changed.
  await page.click('a.badge.version');
  await page.waitForURL(/\/versions$/);
  const rows = page.locator('table.versions tbody tr');
  assert.equal(await rows.count(), 3);
  assert.match(await rows.first().innerText(), /v3\s+live[\s\S]*published the draft of version 2[\s\S]*1 changed/);
  await screenshot(page, 'versions');
  await page.click('table.versions a[href$="/versions/3"]');
  assert.match(await page.locator('table.changes').innerText(), /\/request\/path\s+"\/users\/1"\s+"\/users\/:id"/);

  // Restored: version 2 comes back as version 4.
  assert.equal(await page.locator('form[action$="/restore"]').count(), 0, 'the live version is not restored');
  await page.goto(`${server.url}/mocks/${mockId}/versions`);
  page.once('dialog', (dialog) => dialog.accept());
  await submit('form[action$="/versions/2/restore"] button');
  await page.locator('.flash', { hasText: 'Restored version 2: the mock is now at version' }).waitFor();
  assert.equal((await fetch(server.mockUrl(mockId, '/users/2'))).status, 404);
});

test('the pages\' own writes make versions named after the account', async () => {
  const mockId = await createMockInBrowser(page, server, 'Catalogue');
  await page.fill('form[action$="/settings"] #f-name', 'Catalogue, renamed');
  await submit('form[action$="/settings"] button[type=submit]');
  await page.goto(`${server.url}/mocks/${mockId}/examples/new`);
  await page.fill('#f-name', 'one item');
  await page.fill('#f-path', '/items/:id');
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.click('form.example-form button[type=submit]'),
  ]);
  const { versions } = await apiAsPage(page, server, 'GET', `/api/v1/mocks/${mockId}/versions`);
  assert.deepEqual(versions.map((v) => v.number), [3, 2, 1]);
  assert.equal(versions[0].changes.added, 1, 'the example editor made version 3');
  assert.equal(versions[1].changes.settings, true, 'the settings form made version 2');
  assert.equal(versions[0].author.kind, 'account');
  assert.match(versions[0].author.name, /@example\.com$/);
});

test('a draft edit from a stale page is refused, and a refused example keeps what was typed', async () => {
  const mockId = await createMockInBrowser(page, server, 'Orders');
  await submit('form.draft-start button');
  assert.match(page.url(), /\/draft$/);
  await page.click('.draft-example:last-of-type summary');
  const typed = '{"name": "broken", "request": {"path": "/x", "expression": "1 +"}, "response": {"status": 200}}';
  await page.fill('.draft-example:last-of-type textarea', typed);
  await submit('.draft-example:last-of-type button[type=submit]');
  assert.equal(await page.locator('.draft-example:last-of-type textarea').inputValue(), typed);
  assert.ok(await page.locator('.draft-example:last-of-type .error').count() > 0);

  // Another tab edits the draft; this page's form still names the old revision.
  await apiAsPage(page, server, 'PATCH', `/api/v1/mocks/${mockId}/draft`, { name: 'Orders, renamed elsewhere' });
  const fine = '{"name": "list", "request": {"method": "GET", "path": "/orders"}, "response": {"status": 200, "body": []}}';
  await page.fill('.draft-example:last-of-type textarea', fine);
  await submit('.draft-example:last-of-type button[type=submit]');
  await page.locator('.flash', { hasText: 'The draft changed since this page showed it' }).waitFor();
  assert.equal(await page.locator('.draft-example:last-of-type textarea').inputValue(), fine, 'what was typed is kept');
  // Sent again from the page as it is now, it is saved.
  await submit('.draft-example:last-of-type button[type=submit]');
  await page.locator('.flash', { hasText: 'Added the example to the draft' }).waitFor();

  // Discarded from the mock's page, whose banner says a draft is open: the mock is as it was.
  await page.goto(`${server.url}/mocks/${mockId}`);
  assert.match(await page.locator('.draft-banner').innerText(), /A draft of this mock is open/);
  page.once('dialog', (dialog) => dialog.accept());
  await submit('.draft-banner form[action$="/draft/discard"] button');
  await page.locator('.flash', { hasText: 'Discarded the draft' }).waitFor();
  const mock = await apiAsPage(page, server, 'GET', `/api/v1/mocks/${mockId}`);
  assert.equal(mock.name, 'Orders');
});
