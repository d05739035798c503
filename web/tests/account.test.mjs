// The account settings page: changing the password ends the account's other sessions (a second
// browser is signed out) and the new password logs in; a session is ended from the list, or all
// the others at once; the account is deleted after typing its email, and with it its mocks.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PASSWORD, createMockInBrowser, launchBrowser, newPage, screenshot, signUpInBrowser,
  startLyrebird, stopAll,
} from './support.mjs';

const NEW_PASSWORD = 'a brand new secret phrase';

let server;
let browser;
before(async () => {
  server = await startLyrebird();
  browser = await launchBrowser();
});
after(() => stopAll({ server, browser }));

/** Logs in on the landing page of a fresh browser context; returns its page. */
async function logIn(email, password) {
  const page = await newPage(browser);
  await page.goto(`${server.url}/login`);
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await Promise.all([
    page.waitForURL(`${server.url}/mocks`),
    page.click('form[action="/login"] button[type=submit]'),
  ]);
  return page;
}

/** Whether the page's session still opens the account page (else it is sent to log in). */
async function signedIn(page) {
  await page.goto(`${server.url}/account`);
  return new URL(page.url()).pathname === '/account';
}

test('the password changes, other sessions end, and the new password logs in', async () => {
  const laptop = await newPage(browser);
  const email = await signUpInBrowser(laptop, server);
  const phone = await logIn(email, PASSWORD);
  const tablet = await logIn(email, PASSWORD);

  await laptop.getByRole('link', { name: email }).click();
  await laptop.waitForURL(`${server.url}/account`);
  assert.equal(await laptop.locator('[data-testid="account-email"]').innerText(), email);
  const rows = laptop.locator('table.sessions tbody tr');
  assert.equal(await rows.count(), 3, 'the sign-up and the two log-ins');
  assert.equal(await laptop.locator('table.sessions .badge', { hasText: 'This session' }).count(), 1);
  assert.match(await rows.first().innerText(), /127\.0\.0\.1[\s\S]*Chrome on Linux/);
  await screenshot(laptop, 'account-settings');

  // A wrong current password is refused beside its field, and changes nothing.
  await laptop.fill('#f-current_password', 'not my password');
  await laptop.fill('#f-new_password', NEW_PASSWORD);
  await laptop.click('form[action="/account/password"] button[type=submit]');
  assert.equal(await laptop.locator('#f-current_password').getAttribute('aria-invalid'), 'true');
  assert.match(await laptop.locator('#e-current_password').innerText(), /not your current password/);
  assert.ok(await signedIn(phone), 'the phone is still signed in');

  // A short new one too.
  await laptop.fill('#f-current_password', PASSWORD);
  await laptop.fill('#f-new_password', 'short');
  await laptop.click('form[action="/account/password"] button[type=submit]');
  assert.match(await laptop.locator('#e-new_password').innerText(), /at least 10 characters/);

  await laptop.fill('#f-current_password', PASSWORD);
  await laptop.fill('#f-new_password', NEW_PASSWORD);
  await Promise.all([
    laptop.waitForURL(`${server.url}/account`),
    laptop.click('form[action="/account/password"] button[type=submit]'),
  ]);
  assert.match(await laptop.locator('.flash-success').innerText(),
    /Password changed\. Your 2 other sessions were ended\./);
  assert.equal(await rows.count(), 1, 'only this session is left');
  assert.ok(!(await signedIn(phone)), 'the phone is signed out');
  assert.ok(!(await signedIn(tablet)), 'the tablet is signed out');

  // The old password no longer logs in; the new one does, in a second browser.
  const refused = await newPage(browser);
  await refused.goto(`${server.url}/login`);
  await refused.fill('#login-email', email);
  await refused.fill('#login-password', PASSWORD);
  await refused.click('form[action="/login"] button[type=submit]');
  assert.match(await refused.locator('#e-login').innerText(), /Wrong email or password/);
  const second = await logIn(email, NEW_PASSWORD);

  // Ending that session from the laptop signs the second browser out.
  await laptop.goto(`${server.url}/account`);
  assert.equal(await rows.count(), 2);
  await Promise.all([
    laptop.waitForURL(`${server.url}/account`),
    laptop.locator('table.sessions tbody tr').filter({ hasNot: laptop.locator('.badge') })
      .getByRole('button', { name: /End the session/ }).click(),
  ]);
  assert.match(await laptop.locator('.flash-success').innerText(), /The session was ended/);
  assert.ok(!(await signedIn(second)), 'the ended session is signed out');
  assert.ok(await signedIn(laptop));
});

test('the account is deleted after typing its email, with its mocks and its sessions', async () => {
  const page = await newPage(browser);
  const email = await signUpInBrowser(page, server);
  const [phone, tablet] = [await logIn(email, PASSWORD), await logIn(email, PASSWORD)];
  await page.goto(`${server.url}/account`);
  await Promise.all([
    page.waitForURL(`${server.url}/account`),
    page.getByRole('button', { name: 'End all other sessions' }).click(),
  ]);
  assert.match(await page.locator('.flash-success').innerText(), /Your 2 other sessions were ended\./);
  assert.ok(!(await signedIn(phone)) && !(await signedIn(tablet)));
  assert.ok(await signedIn(page));
  const other = await logIn(email, PASSWORD);
  const mockId = await createMockInBrowser(page, server, 'Doomed');
  const answered = await fetch(server.mockUrl(mockId, '/anything'));
  assert.equal(answered.status, 404, 'the mock answers: no example matches');
  assert.notEqual((await answered.json()).error?.code, 'mock_not_found', 'the mock exists');

  await page.goto(`${server.url}/account`);
  await page.getByRole('link', { name: 'Delete my account…' }).click();
  await page.waitForURL(`${server.url}/account/delete`);
  await page.fill('#f-email', 'someone-else@example.com');
  await page.fill('#f-password', PASSWORD);
  await page.click('form[action="/account/delete"] button[type=submit]');
  assert.match(await page.locator('#e-email').innerText(), /Type your account's email/);
  assert.ok(await signedIn(other), 'nothing was deleted');

  await page.goto(`${server.url}/account/delete`);
  await page.fill('#f-email', email);
  await page.fill('#f-password', PASSWORD);
  await page.click('form[action="/account/delete"] button[type=submit]');
  assert.match(await page.locator('h1').innerText(), /Your account is deleted/);
  const cookies = await page.context().cookies();
  assert.equal(cookies.some((cookie) => cookie.name === 'lyrebird_session'), false, 'the cookie is cleared');
  assert.ok(!(await signedIn(page)));
  assert.ok(!(await signedIn(other)), 'every session ended');
  const gone = await fetch(server.mockUrl(mockId, '/anything'));
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).error.code, 'mock_not_found');

  // Logging in with it fails; the email may sign up again.
  const again = await newPage(browser);
  await signUpInBrowser(again, server, email);
});
