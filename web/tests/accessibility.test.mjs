// Accessibility, checked by axe-core in the browser: every page of the app, in the light theme
// and in the dark one (which follows the system's), has labelled controls and text at a contrast
// of 4.5:1 or more (WCAG 2 A and AA rules). The dark pages are photographed too.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, apiAsPage, createMockInBrowser, launchBrowser, newPage, screenshot, startSignedIn, stopAll,
  violations,
} from './support.mjs';

let server;
let browser;
let page;
before(async () => ({ server, browser, page } = await startSignedIn()));
after(() => stopAll({ server, browser }));

test('every page has labelled controls and readable contrast in both themes', async () => {
  const mockId = await createMockInBrowser(page, server, 'Accessible');
  await page.fill('#f-collections', JSON.stringify({ todos: { seed: [{ id: 1, title: 'buy milk' }] } }));
  await page.click('form[action$="/settings"] button[type=submit]');
  await page.locator('.flash').waitFor();
  await page.goto(`${server.url}/mocks/${mockId}/examples/new`);
  await page.fill('#f-name', 'one todo');
  await page.fill('#f-path', '/todos/:id');
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.click('form.example-form button[type=submit]'),
  ]);
  const examplePage = page.url();
  await fetch(server.mockUrl(mockId, '/todos/1'));
  await fetch(server.mockUrl(mockId, '/nothing'));
  // A draft with an edit and its impact, for the history, version, draft and health pages.
  await page.goto(`${server.url}/mocks/${mockId}`);
  await Promise.all([page.waitForURL(/\/draft$/), page.click('form.draft-start button')]);
  await page.click('.draft-example:last-of-type summary');
  await page.fill('.draft-example:last-of-type textarea', JSON.stringify({
    name: 'nothing', request: { method: 'GET', path: '/nothing' }, response: { status: 200 },
  }));
  await Promise.all([page.waitForLoadState('load'), page.click('.draft-example:last-of-type button[type=submit]')]);
  await Promise.all([page.waitForLoadState('load'), page.click('.impact-form button[type=submit]')]);
  // An upstream this server may not reach, checked all the same, for the mock page's Drift part
  // and a drift report (its entries failed with the guard's refusal).
  await apiAsPage(page, server, 'PATCH', `/api/v1/mocks/${mockId}`, { upstream: { url: 'http://127.0.0.1:9/' } });
  const drift = await apiAsPage(page, server, 'POST', `/api/v1/mocks/${mockId}/drift-reports`, {});

  const pages = {
    dashboard: '/mocks',
    mock: `/mocks/${mockId}`,
    example: examplePage.slice(server.url.length),
    'new-mock': '/mocks/new',
    'call-log': `/mocks/${mockId}/calls`,
    keys: '/keys',
    usage: '/usage',
    versions: `/mocks/${mockId}/versions`,
    version: `/mocks/${mockId}/versions/3`,
    draft: `/mocks/${mockId}/draft`,
    health: `/mocks/${mockId}/health`,
    drift: `/mocks/${mockId}/drift/${drift.id}`,
    members: '/members',
    workspaces: '/workspaces',
    invitations: '/invitations',
    'account-email': '/account/email',
    account: '/account',
    'account-delete': '/account/delete',
    audit: '/audit',
  };
  // The pages of someone without a session: an invitation's, and asking for a password reset.
  const invited = await apiAsPage(page, server, 'POST', '/api/v1/invitations', { email: 'grace@example.com', role: 'editor' });
  const anonymous = { landing: '/', invitation: new URL(invited.link).pathname, 'reset-password': '/reset-password' };
  const landing = await newPage(browser);
  const failures = [];
  for (const scheme of ['light', 'dark']) {
    for (const target of [page, landing]) await target.emulateMedia({ colorScheme: scheme });
    for (const [name, path] of Object.entries(pages)) {
      await page.goto(`${server.url}${path}`);
      for (const line of await violations(page)) failures.push(`${scheme} ${name}: ${line}`);
      if (scheme === 'dark' && ['mock', 'call-log'].includes(name)) await screenshot(page, `${name}-dark`);
    }
    for (const [name, path] of Object.entries(anonymous)) {
      await landing.goto(`${server.url}${path}`);
      for (const line of await violations(landing)) failures.push(`${scheme} ${name}: ${line}`);
    }
  }
  await landing.context().close();
  assert.deepEqual(failures, []);
});
