// State in the browser: a collection defined in a mock's settings, a resource example and a
// scenario example written in the editor, calls that change the default state and a test run's
// own, the mock page's state panel showing both, and its reset.

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

/** Adds an example on the editor, filling what `fill` fills; saving leads to its page. */
async function addExample(mockId, fill) {
  await page.goto(`${server.url}/mocks/${mockId}/examples/new`);
  await fill();
  await Promise.all([
    page.waitForURL(new RegExp(`/mocks/${mockId}/examples/[0-9a-f-]{36}$`)),
    page.click('form.example-form button[type=submit]'),
  ]);
}

async function call(mockId, method, path, stateKey, body) {
  const headers = { 'content-type': 'application/json' };
  if (stateKey) headers['x-lyrebird-state'] = stateKey;
  const response = await fetch(server.mockUrl(mockId, path), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

const panel = () => page.locator('section#state');

test('the state panel shows a mock\'s scenarios and collections per state key, and resets them', async () => {
  const mockId = await createMockInBrowser(page, server, 'Todo app');
  await page.fill('#f-collections', JSON.stringify({ todos: { seed: [{ id: 1, title: 'buy milk' }] } }));
  await page.click('form[action$="/settings"] button[type=submit]');
  await page.locator('.flash', { hasText: 'Saved the settings' }).waitFor();
  assert.equal(await panel().count(), 1, 'a mock with a collection shows its state');

  await addExample(mockId, async () => {
    await page.fill('#f-name', 'todos');
    await page.selectOption('#f-method', '');
    await page.fill('#f-path', '/todos');
    await page.selectOption('#f-answer-kind', 'resource');
    assert.equal(await page.locator('#f-status').isVisible(), false, 'a resource has no response fields');
    await page.fill('#f-collection', 'todos');
  });
  await addExample(mockId, async () => {
    await page.fill('#f-name', 'log in');
    await page.selectOption('#f-method', 'POST');
    await page.fill('#f-path', '/login');
    await page.fill('#f-status', '204');
    await page.fill('#f-response_body', '');
    await page.fill('#f-scenario_name', 'login');
    await page.fill('#f-scenario_then', 'logged_in');
  });

  assert.equal((await call(mockId, 'POST', '/login')).status, 204);
  const created = await call(mockId, 'POST', '/todos', 'run-1', { title: 'write tests' });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(JSON.parse(created.text), { id: 2, title: 'write tests' });

  await page.goto(`${server.url}/mocks/${mockId}#state`);
  assert.match(await panel().locator('table').first().innerText(), /login\s+logged_in/);
  assert.match(await panel().locator('details.records summary').innerText(), /^1 record$/);

  await page.fill('#f-state', 'run-1');
  await Promise.all([
    page.waitForURL(/\?state=run-1/),
    page.click('.state-pick button[type=submit]'),
  ]);
  assert.match(await panel().locator('details.records summary').innerText(), /^2 records$/);
  await panel().locator('details.records summary').click();
  assert.match(await panel().locator('details.records pre').innerText(), /write tests/);
  await screenshot(page, 'state-panel');

  page.once('dialog', (dialog) => dialog.accept());
  await Promise.all([
    page.waitForURL(/\?state=run-1#state$/),
    panel().getByRole('button', { name: 'Reset this state' }).click(),
  ]);
  await page.locator('.flash', { hasText: 'Reset the state run-1.' }).waitFor();
  assert.match(await panel().locator('details.records summary').innerText(), /^1 record$/);
  const after = await call(mockId, 'GET', '/todos', 'run-1');
  assert.deepEqual(JSON.parse(after.text), [{ id: 1, title: 'buy milk' }]);

  // The editor shows what it saved.
  await page.goto(`${server.url}/mocks/${mockId}`);
  await page.locator('section[aria-labelledby="examples-title"] a', { hasText: 'log in' }).click();
  assert.equal(await page.locator('#f-scenario_name').inputValue(), 'login');
  assert.equal(await page.locator('#f-scenario_then').inputValue(), 'logged_in');
  await page.goto(`${server.url}/mocks/${mockId}`);
  await page.locator('section[aria-labelledby="examples-title"] a', { hasText: 'todos' }).click();
  assert.equal(await page.locator('#f-answer-kind').inputValue(), 'resource');
  assert.equal(await page.locator('#f-collection').inputValue(), 'todos');
});
