//! A small SMTP server for tests: it speaks enough of the protocol (EHLO/HELO, MAIL, RCPT, DATA,
//! RSET, NOOP, QUIT) for a real client to deliver to it, and keeps what it was sent. It offers
//! no STARTTLS, so it is reached as `smtp://127.0.0.1:<port>`.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA: headers, a blank line, the body (dot-stuffing undone).
    pub data: String,
}

impl Received {
    /// The body as a mail client shows it: quoted-printable decoded when the message says it
    /// is (lettre's choice for text with lines over 76 characters, such as links).
    pub fn text(&self) -> String {
        let (head, body) = self.data.split_once("\r\n\r\n").unwrap_or(("", &self.data));
        if !head
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: quoted-printable")
        {
            return body.to_owned();
        }
        let joined = body.replace("=\r\n", "");
        let mut bytes = Vec::new();
        let mut rest = joined.as_bytes();
        while let Some((&byte, tail)) = rest.split_first() {
            let hex = tail.get(..2).and_then(|hex| std::str::from_utf8(hex).ok());
            match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                Some(decoded) if byte == b'=' => {
                    bytes.push(decoded);
                    rest = &tail[2..];
                }
                _ => {
                    bytes.push(byte);
                    rest = tail;
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The first `http...` word of the body that contains `path`.
    pub fn link(&self, path: &str) -> Option<String> {
        self.text()
            .split_whitespace()
            .find(|word| word.starts_with("http") && word.contains(path))
            .map(str::to_owned)
    }
}

/// How the sink answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Takes every mail.
    Accept,
    /// Refuses every recipient (550).
    RefuseRecipients,
    /// Accepts connections and never says a word.
    Silent,
}

/// A running sink; it stops when dropped.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:<port>`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let task = tokio::spawn({
            let received = received.clone();
            let arrived = arrived.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let received = received.clone();
                    let arrived = arrived.clone();
                    tokio::spawn(async move {
                        if behaviour == Behaviour::Silent {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            drop(stream);
                            return;
                        }
                        let _ = converse(stream, behaviour, &received, &arrived).await;
                    });
                }
            }
        });
        Self {
            url,
            received,
            arrived,
            task,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `count` mails have arrived, and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{count} mails expected, {} arrived", self.received().len());
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn converse(
    stream: tokio::net::TcpStream,
    behaviour: Behaviour,
    received: &Mutex<Vec<Received>>,
    arrived: &Notify,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader);
    writer.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.test\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "RSET" => {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            }
            "MAIL" => {
                from = address(&command);
                b"250 OK\r\n"
            }
            "RCPT" if behaviour == Behaviour::RefuseRecipients => b"550 no such mailbox\r\n",
            "RCPT" => {
                to.push(address(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                writer.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                received.lock().unwrap().push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                arrived.notify_waiters();
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        writer.write_all(answer).await?;
    }
}

/// The address of `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
