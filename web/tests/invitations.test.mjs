// Invitations in the browser, with mail delivered to an SMTP server the test runs: the owner of
// a team workspace invites an editor and a viewer on the invitations page and copies each link;
// the mails arrive with the same links; each invitee opens the link in a browser of their own,
// signs up from it and accepts; the editor switches workspaces with the header switcher and
// edits a mock; the viewer sees no edit controls, and a change sent directly is refused.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PASSWORD, createMockInBrowser, newPage, screenshot, startSignedIn, stopAll, uniqueEmail,
} from './support.mjs';
import { bodyOf, startSmtpSink } from './smtp.mjs';

let server;
let browser;
let page;
let sink;
before(async () => {
  sink = await startSmtpSink();
  process.env.LYREBIRD_SMTP_URL = sink.url;
  process.env.LYREBIRD_MAIL_FROM = 'Lyrebird <lyrebird@example.com>';
  ({ server, browser, page } = await startSignedIn());
});
after(async () => {
  await stopAll({ server, browser });
  sink?.close();
});

/** Invites `email` with `role` on the invitations page; the link shown once, as copied. */
async function invite(email, role) {
  await page.goto(`${server.url}/invitations`);
  await page.fill('#f-email', email);
  await page.selectOption('#f-role', role);
  await Promise.all([
    page.waitForResponse((response) => response.request().method() === 'POST'
      && response.url().endsWith('/invitations') && response.status() === 201),
    page.click('form[action="/invitations"] button[type=submit]'),
  ]);
  const shown = page.locator('.new-key');
  assert.match(await shown.innerText(), /only time it is shown[\s\S]*mailed to/);
  const link = await shown.locator('code').innerText();
  await shown.getByRole('button', { name: /Copy the invitation link/ }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link, 'the link is copied');
  return link;
}

/** In a browser of their own, `email` opens `link`, signs up from it and accepts. */
async function acceptAsNewAccount(link, email, role) {
  const invitee = await newPage(browser);
  await invitee.goto(link);
  assert.match(await invitee.locator('h1').innerText(), /Join “Acme”/);
  assert.match(await invitee.locator('main').innerText(), new RegExp(`as ${role}`));
  assert.equal(await invitee.inputValue('#signup-email'), email, 'the invited email is filled in');
  await invitee.fill('#signup-password', PASSWORD);
  await Promise.all([
    invitee.waitForURL(link),
    invitee.click('form[action="/signup"] button[type=submit]'),
  ]);
  await Promise.all([
    invitee.waitForURL(/\/mocks$/),
    invitee.getByRole('button', { name: 'Accept and join' }).click(),
  ]);
  assert.match(await invitee.locator('.flash').innerText(), new RegExp(`You joined “Acme” as ${role}`));
  return invitee;
}

/** Chooses `label` in the header's workspace switcher, which submits itself. */
async function switchTo(page, label) {
  await Promise.all([
    page.waitForResponse((response) => response.request().method() === 'GET'
      && response.url().endsWith('/mocks')),
    page.locator('#workspace-switcher').selectOption({ label }),
  ]);
  await page.waitForLoadState();
  assert.equal(await page.locator('#workspace-switcher option:checked').innerText(), label);
}

test('an owner invites an editor and a viewer; the links are mailed; each accepts and gets what the role allows', async () => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  // A team workspace with a mock in it.
  await page.goto(`${server.url}/workspaces`);
  await page.fill('form[action="/workspaces"] #f-name', 'Acme');
  await Promise.all([
    page.waitForURL(`${server.url}/members`),
    page.click('form[action="/workspaces"] button[type=submit]'),
  ]);
  const mockId = await createMockInBrowser(page, server, 'Orders');

  const editorEmail = uniqueEmail('editor');
  const viewerEmail = uniqueEmail('viewer');
  const editorLink = await invite(editorEmail, 'editor');
  const viewerLink = await invite(viewerEmail, 'viewer');
  assert.match(editorLink, /\/invite\/lbi_[A-Za-z0-9]{40}$/);
  const pending = page.locator('table.invitations tbody tr');
  assert.equal(await pending.count(), 2);
  assert.match(await pending.filter({ hasText: viewerEmail }).innerText(), /viewer/);
  await screenshot(page, 'invitations');

  // The mails carry the same links.
  const mails = await sink.waitFor(2);
  const mailTo = (email) => mails.find((mail) => mail.to.includes(email));
  assert.ok(bodyOf(mailTo(editorEmail)).includes(editorLink), bodyOf(mailTo(editorEmail)));
  assert.ok(bodyOf(mailTo(viewerEmail)).includes(viewerLink));
  assert.match(mailTo(editorEmail).data, /Subject: You are invited to "Acme" on Lyrebird/);

  // The editor joins, switches away and back with the header switcher, and edits the mock.
  // The links are on the server's public URL (by default http://localhost:<port>): the
  // invitees stay on it, where their session cookies are.
  const site = new URL(editorLink).origin;
  const editor = await acceptAsNewAccount(editorLink, editorEmail, 'editor');
  const switcher = editor.locator('#workspace-switcher');
  assert.match(await switcher.locator('option:checked').innerText(), /Acme \(editor\)/);
  assert.equal(await editor.locator('a', { hasText: 'Orders' }).count(), 1);
  await switchTo(editor, 'Personal (owner)');
  assert.equal(await editor.locator('a', { hasText: 'Orders' }).count(), 0, 'not in Personal');
  await switchTo(editor, 'Acme (editor)');
  assert.equal(await editor.locator('a', { hasText: 'Orders' }).count(), 1, 'back in Acme');
  await editor.goto(`${site}/mocks/${mockId}`);
  assert.match(await editor.locator('main').innerText(), /Orders/);
  await editor.check('#f-private');
  await Promise.all([
    editor.waitForURL(new RegExp(`/mocks/${mockId}$`)),
    editor.click('form[action$="/settings"] button[type=submit]'),
  ]);
  assert.equal(await editor.isChecked('#f-private'), true, 'the editor changed the mock');

  // The viewer joins and sees the mock, with no edit controls; a change sent directly is refused.
  const viewer = await acceptAsNewAccount(viewerLink, viewerEmail, 'viewer');
  await viewer.goto(`${site}/mocks/${mockId}`);
  assert.match(await viewer.locator('h1').innerText(), /Orders/);
  assert.equal(await viewer.getByRole('link', { name: /Add (the first )?example/ }).count(), 0);
  assert.equal(await viewer.getByRole('button', { name: 'Save settings' }).count(), 0);
  assert.equal(await viewer.locator('fieldset[disabled] #f-private').count(), 1);
  const token = await viewer.locator('meta[name="csrf-token"]').getAttribute('content');
  const refused = await viewer.request.fetch(`${site}/api/v1/mocks`, {
    method: 'POST',
    data: { name: 'Not allowed' },
    headers: { 'x-csrf-token': token },
  });
  assert.equal(refused.status(), 403);
  assert.equal((await refused.json()).error.code, 'role_required');
  const settings = await viewer.request.fetch(`${site}/mocks/${mockId}/settings`, {
    method: 'POST',
    form: { csrf_token: token, name: 'Renamed by a viewer' },
  });
  assert.equal(settings.status(), 403, 'the page refuses the viewer too');

  // Both accepted: nothing pending, and the team lists them with their roles.
  await page.goto(`${server.url}/invitations`);
  assert.equal(await page.locator('table.invitations tbody tr').count(), 0);
  await page.goto(`${server.url}/members`);
  const members = await page.locator('table.members').innerText();
  assert.match(members, new RegExp(`${editorEmail}[\\s\\S]*editor`));
  assert.match(members, new RegExp(`${viewerEmail}[\\s\\S]*viewer`));
  await screenshot(page, 'members');
});
