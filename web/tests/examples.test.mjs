// Examples in the browser: a Postman collection from the corpus uploaded on the new-mock page
// becomes a mock whose examples can be browsed, tried and called, and a template that does not
// parse is refused with its error, line and column beside the body field.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  apiAsPage, corpusDir, createMockInBrowser, openCallLog, screenshot, startSignedIn, stopAll,
} from './support.mjs';

let server;
let browser;
let page;
before(async () => ({ server, browser, page } = await startSignedIn()));
after(() => stopAll({ server, browser }));

const BEER_CATALOG = 'postman/microcks__microcks__BeerCatalogAPI-collection.json';

test('an uploaded postman collection becomes a mock whose examples can be browsed, tried and called', async () => {
  await page.goto(`${server.url}/mocks/new`);
  await page.selectOption('#f-kind', 'openapi');
  assert.equal(await page.locator('#f-environment').isVisible(), false, 'no Postman environment for OpenAPI');
  await page.selectOption('#f-kind', 'postman');
  assert.equal(await page.locator('#f-environment').isVisible(), true);
  await page.setInputFiles('#f-file', join(corpusDir, BEER_CATALOG));
  await Promise.all([
    page.waitForURL(/\/mocks\/[0-9a-f-]{36}$/),
    page.click('form[action="/mocks/import"] button[type=submit]'),
  ]);
  const mockId = page.url().split('/').pop();
  assert.match(await page.locator('h1').innerText(), /Beer Catalog API/);
  const examples = page.locator('section[aria-labelledby="examples-title"] .list li');
  assert.equal(await examples.count(), 5);
  const names = await examples.locator('a').allInnerTexts();
  for (const name of ['Rodenbach', 'Weissbier', 'Get available beers', 'Get out_of_stock beers', 'List page 0']) {
    assert.ok(names.includes(name), `${name} is listed among ${names}`);
  }
  await screenshot(page, 'imported-mock');

  // The "try a request" panel answers; it writes no call to the log (checked below).
  await page.fill('#try-path', '/beer/Weissbier');
  await page.click('.try-form button[type=submit]');
  const verdict = page.locator('.try-result', { hasText: 'Weissbier' });
  await verdict.waitFor();
  assert.match(await verdict.innerText(), /Weissbier[\s\S]*200/);

  await examples.locator('a', { hasText: 'Rodenbach' }).click();
  await page.waitForURL(/\/examples\/[0-9a-f-]{36}$/);
  assert.equal(await page.locator('#f-name').inputValue(), 'Rodenbach');
  assert.equal(await page.locator('#f-method').inputValue(), 'GET');
  assert.match(await page.locator('#f-path').inputValue(), /^\/beer\//);

  const answer = await fetch(server.mockUrl(mockId, '/beer/Rodenbach'));
  assert.equal(answer.status, 200);
  assert.match(JSON.stringify(await answer.json()), /Rodenbach/);
  await openCallLog(page, `${server.url}/mocks/${mockId}/calls`, '/beer/Rodenbach');
  assert.equal(await page.locator('table.calls tbody tr').count(), 1, 'the call, and not the try');
});

test('a template that does not parse is refused with its line and column beside the body', async () => {
  await createMockInBrowser(page, server, 'Templates');
  await page.getByRole('link', { name: 'Add the first example' }).click();
  await page.waitForURL(/\/examples\/new$/);
  await page.fill('#f-name', 'greeting');
  await page.selectOption('#f-method', 'GET');
  await page.fill('#f-path', '/hello/:name');
  await page.fill('#f-status', '200');
  await page.selectOption('#f-response-body-kind', 'text');
  await page.fill('#f-response_body', 'Hello {{ request.path_params.name');
  await page.check('#f-template');
  await page.click('form.example-form button[type=submit]');
  const body = page.locator('#f-response_body');
  await page.locator('#e-response_body').waitFor();
  assert.equal(await body.getAttribute('aria-invalid'), 'true');
  assert.match(await body.getAttribute('aria-describedby'), /e-response_body/);
  const error = await page.locator('#e-response_body').innerText();
  assert.match(error, /line 1, column \d+/);
  assert.equal(await body.inputValue(), 'Hello {{ request.path_params.name', 'the text comes back as typed');
  await screenshot(page, 'example-error');
});

test('a JSON body written as a template stays JSON in the editor and on the wire', async () => {
  const mockId = await createMockInBrowser(page, server, 'Typed answers');
  await page.getByRole('link', { name: 'Add the first example' }).click();
  await page.waitForURL(/\/examples\/new$/);
  await page.fill('#f-name', 'one user');
  await page.selectOption('#f-method', 'GET');
  await page.fill('#f-path', '/users/:id');
  await page.fill('#f-status', '200');
  await page.selectOption('#f-response-body-kind', 'json');
  await page.fill('#f-response_body', '{"id": "{{ path.id }}"}');
  await page.check('#f-template');
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.click('form.example-form button[type=submit]'),
  ]);
  assert.equal(await page.locator('#f-response-body-kind').inputValue(), 'json', 'still JSON after saving');
  const answer = await fetch(`${server.url}/m/${mockId}/users/7`);
  assert.equal(answer.headers.get('content-type'), 'application/json');
  assert.equal(await answer.text(), '{"id": "7"}');
  // The try panel says why in words, not in levels.
  await page.fill('#try-path', '/users/7');
  await page.click('.try-form button[type=submit]');
  const reason = page.locator('.try-result .reason');
  await reason.waitFor();
  assert.equal(await reason.innerText(), 'Matched by its path and every query parameter; no body condition.');
});


test('a refused save of the whole example as JSON keeps the form and the JSON as they were', async () => {
  await createMockInBrowser(page, server, 'Kept on error');
  await page.getByRole('link', { name: 'Add the first example' }).click();
  await page.fill('#f-name', 'kept');
  await page.fill('#f-path', '/kept');
  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.click('form.example-form button[type=submit]'),
  ]);
  await page.locator('details.json-mode summary').click();
  const broken = '{"name": "kept", "request": {"path": "/kept"},';
  await page.fill('#f-json', broken);
  await page.click('details.json-mode button[type=submit]');
  await page.locator('#e-json').waitFor();
  assert.match(await page.locator('#e-json').innerText(), /line \d+, column \d+/);
  assert.equal(await page.locator('#f-json').inputValue(), broken, 'the JSON comes back as typed');
  assert.equal(await page.locator('#f-name').inputValue(), 'kept', 'the form shows the saved example');
  assert.equal(await page.locator('#f-path').inputValue(), '/kept');
  assert.equal(await page.locator('h1').innerText(), 'kept');

  // JSON that reads as an example but is refused fills the form with what it says.
  await page.fill('#f-json', '{"name": "renamed", "request": {"path": "/x", "path_match": "prefix"}}');
  await page.click('details.json-mode button[type=submit]');
  await page.locator('#e-json').waitFor();
  assert.equal(await page.locator('#f-name').inputValue(), 'renamed');
  assert.equal(await page.locator('#f-path').inputValue(), '/x');
});

test('JSON fields say where they stop being JSON as they are typed, and format it', async () => {
  await createMockInBrowser(page, server, 'JSON help');
  await page.getByRole('link', { name: 'Add the first example' }).click();
  await page.selectOption('#f-response-body-kind', 'json');
  const body = page.locator('#f-response_body');
  const status = body.locator('xpath=following-sibling::div[@class="json-tools"]/p');
  await body.fill('{\n  "id": 1,\n  "name": }');
  assert.equal(await status.innerText(), 'Not valid JSON: line 3, column 11: unexpected "}"');
  await body.fill('{"id": 1, "tags": ["a"]}');
  assert.equal(await status.innerText(), '');
  await page.getByRole('button', { name: 'Format JSON' }).first().click();
  assert.equal(await body.inputValue(), '{\n  "id": 1,\n  "tags": [\n    "a"\n  ]\n}');
  // A template is not JSON until it is rendered: no check, no button.
  await page.check('#f-template');
  await body.fill('{"id": {{ path.id }}}');
  assert.equal(await status.innerText(), '');
  assert.equal(await page.locator('.json-tools button').first().isVisible(), false);
});

test('the examples list tells examples apart, filters them, duplicates one and changes a priority', async () => {
  const mockId = await createMockInBrowser(page, server, 'Told apart');
  const examples = [
    { name: 'verbose user', request: { method: 'GET', path: '/users/:id', query: { verbose: 'true' } } },
    { name: 'tenant user', request: { method: 'GET', path: '/users/:id', headers: { 'x-tenant': 'a' } } },
    { name: 'create', request: { method: 'POST', path: '/users', body: { type: 'json', value: { name: 'x' } } } },
    ...['a', 'b', 'c'].map((n) => ({ name: `other ${n}`, request: { path: `/${n}` } })),
  ];
  await apiAsPage(page, server, 'PUT', `/api/v1/mocks/${mockId}/examples`, examples);
  await page.goto(`${server.url}/mocks/${mockId}`);
  const items = page.locator('ul.examples > li');
  assert.match(await items.nth(0).innerText(), /\?verbose=true/);
  assert.match(await items.nth(1).innerText(), /header x-tenant=a/);
  assert.match(await items.nth(2).innerText(), /JSON body/);

  await page.fill('#f-example-filter', 'x-tenant');
  assert.deepEqual(await page.locator('ul.examples > li:visible a').allInnerTexts(), ['tenant user']);
  await page.fill('#f-example-filter', '');
  assert.equal(await page.locator('ul.examples > li:visible').count(), 6);

  await page.getByRole('button', { name: 'Raise the priority of tenant user' }).click();
  await page.locator('.flash', { hasText: 'tenant user now has priority 1.' }).waitFor();
  assert.match(await items.nth(1).innerText(), /priority 1/);
  await screenshot(page, 'examples-list');

  await Promise.all([
    page.waitForURL(/\/examples\/[0-9a-f-]{36}$/),
    page.getByRole('button', { name: 'Duplicate verbose user' }).click(),
  ]);
  assert.equal(await page.locator('#f-name').inputValue(), 'verbose user (copy)');
  assert.equal(await page.locator('#f-path').inputValue(), '/users/:id');
  await page.goto(`${server.url}/mocks/${mockId}`);
  assert.equal(await items.count(), 7);
});
