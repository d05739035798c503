// A mock's OpenAPI contract in the browser: pasted on the mock page, the examples that break it
// named, a check of every example shown as a report, the editor refusing an example that
// breaks it, calls checked, and the contract detached.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiAsPage, createMockInBrowser, screenshot, startSignedIn, stopAll,
} from './support.mjs';

const PETS = `openapi: 3.0.3
info: {title: Pets, version: "1.0"}
paths:
  /pets/{petId}:
    get:
      parameters:
        - {name: petId, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: A pet.
          content:
            application/json:
              schema:
                type: object
                required: [id, name]
                properties:
                  id: {type: integer}
                  name: {type: string}
`;

let server;
let browser;
let page;
before(async () => {
  ({ server, browser, page } = await startSignedIn());
});
after(async () => {
  await stopAll({ server, browser });
});

test('a contract is attached, examples checked against it, calls refused, and detached', async () => {
  const mockId = await createMockInBrowser(page, server, 'Pets, by contract');
  for (const [name, path, body] of [
    ['rex', '/pets/:petId', { id: 1, name: 'Rex' }],
    ['nameless', '/pets/2', { id: '2' }],
  ]) {
    await apiAsPage(page, server, 'POST', `/api/v1/mocks/${mockId}/examples`, {
      name, request: { method: 'GET', path }, response: { status: 200, body },
    });
  }
  await page.goto(`${server.url}/mocks/${mockId}#contract`);
  await page.fill('#f-contract-document', 'openapi: [');
  await Promise.all([page.waitForLoadState('load'), page.click('form.contract-form button[type=submit]')]);
  await page.locator('.flash', { hasText: 'The contract was not attached' }).waitFor();

  await page.fill('#f-contract-document', PETS);
  await page.selectOption('#f-contract-examples', 'refuse');
  await page.check('#f-contract-requests');
  await Promise.all([page.waitForLoadState('load'), page.click('form.contract-form button[type=submit]')]);
  await page.locator('.flash', { hasText: 'Attached Pets 1.0: 1 operations.' }).waitFor();
  await page.locator('.flash', { hasText: '1 example(s) break it: nameless.' }).waitFor();
  assert.match(await page.locator('#contract').innerText(), /Examples that break it are refused; calls that break it are answered 422/);

  await Promise.all([
    page.waitForURL(/\/drift\/[0-9a-f-]{36}$/),
    page.click('#contract form[action$="/drift"] button[type=submit]'),
  ]);
  await page.locator('.flash', { hasText: 'Checked against the OpenAPI contract: 1 agrees, 1 differs' }).waitFor();
  const row = page.locator('table.drift > tbody > tr', { hasText: 'nameless' });
  assert.match(await row.innerText(), /differs/);
  assert.match(await row.innerText(), /#\/paths\/~1pets~1\{petId\}\/get\/responses\/200\/content\/application~1json\/schema\/required/);
  await screenshot(page, 'contract-report');

  const refused = await fetch(server.mockUrl(mockId, '/pets/abc'));
  assert.equal(refused.status, 422);
  assert.equal((await refused.json()).error.code, 'request_invalid');
  assert.equal((await fetch(server.mockUrl(mockId, '/pets/1'))).status, 200);

  await page.goto(`${server.url}/mocks/${mockId}/examples/new`);
  await page.fill('#f-name', 'no name either');
  await page.selectOption('#f-method', 'GET');
  await page.fill('#f-path', '/pets/:petId');
  await page.fill('#f-response_body', '{"id": 3}');
  await page.click('form.example-form button[type=submit]');
  await page.locator('#e-response_body').waitFor();
  assert.match(await page.locator('#e-response_body').innerText(), /the mock's OpenAPI contract: the required property "name" is missing/);

  await page.goto(`${server.url}/mocks/${mockId}#contract`);
  page.once('dialog', (dialog) => dialog.accept());
  await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/contract/remove"] button')]);
  await page.locator('.flash', { hasText: 'Detached the OpenAPI contract.' }).waitFor();
  assert.equal((await fetch(server.mockUrl(mockId, '/pets/abc'))).status, 200, 'no longer checked');
});
