// The operator's console: an account made operator with `lyrebird operator grant` sees every
// workspace at /operator, finds one by a member's email, suspends it (its mocks answer 403 at
// once) and lifts the suspension; to a signed-in account that is not an operator, the console
// is the 404 page.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, launchBrowser, newPage, screenshot, signUpByApi, signUpInBrowser, startLyrebird, stopAll,
  uniqueEmail, violations,
} from './support.mjs';

let server;
let browser;
let page;
before(async () => {
  server = await startLyrebird();
  browser = await launchBrowser();
  page = await newPage(browser);
});
after(() => stopAll({ server, browser }));

/** A workspace of someone else's with a mock that answers GET /hello. */
async function workspaceWithMock(label) {
  const owner = await signUpByApi(server, uniqueEmail(label));
  const mock = await api(server, owner.key, 'POST', '/api/v1/mocks', { name: `${label} API` });
  await api(server, owner.key, 'POST', `/api/v1/mocks/${mock.id}/examples`, {
    name: 'hello',
    request: { method: 'GET', path: '/hello' },
    response: { status: 200, body: { hello: label } },
  });
  return { ...owner, mockId: mock.id };
}

test('an operator searches the workspaces and suspends one, whose mocks answer 403 until unsuspended', async () => {
  const ada = await workspaceWithMock('ada');
  const grace = await workspaceWithMock('grace');
  server.command(['operator', 'plan', 'create', 'team', '--max-mocks', '50', '--quota', '100000']);
  server.command(['operator', 'plan', 'assign', grace.email, 'team']);
  const email = await signUpInBrowser(page, server, uniqueEmail('operator'));

  const hidden = await page.goto(`${server.url}/operator`);
  assert.equal(hidden.status(), 404, 'not an operator yet: the console does not exist');

  assert.match(server.command(['operator', 'grant', email]), /is an operator/);
  await page.goto(`${server.url}/operator`);
  assert.equal(await page.locator('h1').innerText(), 'Operator console');
  assert.equal(await page.locator('table.operator-workspaces tbody tr').count(), 3);
  assert.equal(await page.getByRole('link', { name: 'Operator', exact: true }).getAttribute('aria-current'), 'page');

  await page.fill('#f-q', ada.email.split('@')[0]);
  await Promise.all([page.waitForURL(/\/operator\?q=/), page.click('form[role=search] button')]);
  const rows = page.locator('table.operator-workspaces tbody tr');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), new RegExp(`${ada.email} \\(owner\\)[\\s\\S]*\\b1\\b[\\s\\S]*Active`));

  assert.equal((await fetch(server.mockUrl(ada.mockId, '/hello'))).status, 200);
  await Promise.all([
    page.waitForURL(/\/operator\/workspaces\/[0-9a-f-]{36}$/),
    rows.first().getByRole('button', { name: /^Suspend / }).click(),
  ]);
  assert.match(await page.locator('.flash-success').innerText(), /suspended/);
  assert.match(await page.locator('h1').innerText(), /Suspended/);
  const refused = await fetch(server.mockUrl(ada.mockId, '/hello'));
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, 'workspace_suspended');

  await page.goto(`${server.url}/operator`);
  assert.match(await page.locator('tr', { hasText: ada.email }).innerText(), /Suspended/);
  assert.match(await page.locator('tr', { hasText: grace.email }).innerText(), /\t1\t0 \/ 100,000\tteam\t[\s\S]*Active/);
  await screenshot(page, 'operator-console');
  assert.deepEqual(await violations(page), [], 'the console has labelled controls and readable contrast');
  for (const path of [`/operator/workspaces/${ada.workspace}`, '/operator/plans']) {
    await page.goto(`${server.url}${path}`);
    assert.deepEqual(await violations(page), [], path);
  }
  await page.goto(`${server.url}/operator`);

  await Promise.all([
    page.waitForURL(/\/operator\/workspaces\//),
    page.locator('tr', { hasText: ada.email }).getByRole('button', { name: /^Unsuspend / }).click(),
  ]);
  assert.equal((await fetch(server.mockUrl(ada.mockId, '/hello'))).status, 200);
});

test('to a signed-in account that is not an operator the console is the 404 page', async () => {
  const other = await newPage(browser);
  await signUpInBrowser(other, server, uniqueEmail('member'));
  for (const path of ['/operator', '/operator/plans']) {
    const answer = await other.goto(`${server.url}${path}`);
    assert.equal(answer.status(), 404, path);
  }
  assert.equal(await other.getByRole('link', { name: 'Operator', exact: true }).count(), 0);
  await other.context().close();
});
