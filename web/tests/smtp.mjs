// A small SMTP server for browser tests, on Node's `net`: it speaks enough of the protocol
// (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for the server's mail client to deliver to it,
// and keeps what it was sent. It offers no STARTTLS: the server reaches it as
// smtp://127.0.0.1:<port>. The Rust tests have the same sink (crates/lyrebird-server/tests/support/smtp.rs).

import { createServer } from 'node:net';

/** Starts the sink; `{ url, received, waitFor(count), close() }`. */
export async function startSmtpSink() {
  const received = [];
  const waiting = [];
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    let buffer = '';
    let data = null;
    let envelope = { from: '', to: [] };
    socket.write('220 sink.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data !== null) {
          if (line === '.') {
            received.push({ ...envelope, data: data.join('\r\n') });
            envelope = { from: '', to: [] };
            data = null;
            socket.write('250 OK queued\r\n');
            for (const wake of waiting.splice(0)) wake();
          } else {
            data.push(line.startsWith('.') ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.split(' ')[0].toUpperCase();
        const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
        if (verb === 'EHLO') socket.write('250-sink.test\r\n250 8BITMIME\r\n');
        else if (verb === 'HELO' || verb === 'NOOP') socket.write('250 OK\r\n');
        else if (verb === 'RSET') { envelope = { from: '', to: [] }; socket.write('250 OK\r\n'); }
        else if (verb === 'MAIL') { envelope.from = address; socket.write('250 OK\r\n'); }
        else if (verb === 'RCPT') { envelope.to.push(address); socket.write('250 OK\r\n'); }
        else if (verb === 'DATA') { data = []; socket.write('354 go ahead\r\n'); }
        else if (verb === 'QUIT') { socket.end('221 bye\r\n'); }
        else socket.write('502 not implemented\r\n');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
  return {
    url: `smtp://127.0.0.1:${server.address().port}`,
    received,
    /** Resolves with every mail once `count` have arrived (a hang guard of 10 s). */
    async waitFor(count) {
      const deadline = Date.now() + 10_000;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`${count} mails expected, ${received.length} arrived`);
        await new Promise((wake) => { waiting.push(wake); setTimeout(wake, 200); });
      }
      return received;
    },
    close: () => server.close(),
  };
}

/** A mail's body as a mail client shows it: quoted-printable decoded when the mail says so. */
export function bodyOf(mail) {
  const split = mail.data.indexOf('\r\n\r\n');
  const head = mail.data.slice(0, split).toLowerCase();
  const body = mail.data.slice(split + 4);
  if (!head.includes('content-transfer-encoding: quoted-printable')) return body;
  const bytes = Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g,
    (_, hex) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  return bytes.toString('utf8');
}
