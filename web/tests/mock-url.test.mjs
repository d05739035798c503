// A mock's URL opened in the browser answers with its example, as it does for curl: the first
// thing people do after copying the URL.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, newPage, signUpByApi, startLyrebird } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startLyrebird();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a mock url opened in the browser answers with the example', async () => {
  const { key } = await signUpByApi(server);
  const mock = await api(server, key, 'POST', '/api/v1/mocks', { name: 'Pets' });
  await api(server, key, 'POST', `/api/v1/mocks/${mock.id}/examples`, {
    name: 'one pet',
    request: { method: 'GET', path: '/pets/:id' },
    response: { status: 200, body: { id: 1, name: 'Rex' } },
  });
  const page = await newPage(browser);
  const response = await page.goto(server.mockUrl(mock.id, '/pets/1'));
  assert.equal(response.status(), 200);
  assert.deepEqual(JSON.parse(await page.locator('body').innerText()), { id: 1, name: 'Rex' });
});
