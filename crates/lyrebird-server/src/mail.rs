//! Mail: invitations, password resets and email confirmations sent over SMTP with lettre, when
//! `LYREBIRD_SMTP_URL` is set ([`crate::config::MailArgs`]).
//!
//! Mailing is a courtesy on top of a link that exists already: whoever asked is always shown
//! (or, for a password reset, told what to do without) the link. A send takes at most the
//! configured timeout, after which the answer goes out saying the link could not be mailed; a
//! failure is logged with its cause and never undoes what the link is for.

use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::MailArgs;

/// What became of a mail, as answers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mailed {
    /// The SMTP server took the mail.
    Sent,
    /// The SMTP server refused it, could not be reached or did not answer in time: copy the link.
    Failed,
    /// The server has no SMTP server to mail with: copy the link.
    NotConfigured,
}

impl Mailed {
    /// A sentence for the person who asked, about the link they were shown.
    pub fn note(self, to: &str) -> String {
        match self {
            Mailed::Sent => format!("The link was mailed to {to}."),
            Mailed::Failed => {
                format!("The link could not be mailed to {to}; copy it and send it yourself.")
            }
            Mailed::NotConfigured => {
                "This server does not send mail; copy the link and send it yourself.".to_owned()
            }
        }
    }
}

/// Mail settings and links: the SMTP transport when there is one, the sender, and the public
/// URL links start with.
#[derive(Debug, Clone)]
pub struct Mail {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    timeout: Duration,
    /// `https://lyrebird.example.com`, without a trailing slash.
    public_url: String,
    /// How long an invitation's link works.
    pub invitation_lifetime: time::Duration,
}

impl Mail {
    /// The settings of `args`, links on `http://<base_host>` unless a public URL is given.
    pub fn new(args: &MailArgs, base_host: &str) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(args.smtp_timeout_ms);
        let transport = match &args.smtp_url {
            // The URL's text is never in the error: it may hold a password.
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0)
                    .map_err(|error| anyhow::anyhow!("LYREBIRD_SMTP_URL is not usable: {error}"))?
                    .timeout(Some(timeout))
                    .build(),
            ),
            None => None,
        };
        let from = args.mail_from.parse().with_context(|| {
            format!("LYREBIRD_MAIL_FROM {:?} is not an address", args.mail_from)
        })?;
        Ok(Self {
            transport,
            from,
            timeout,
            public_url: args
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{base_host}")),
            invitation_lifetime: time::Duration::days(i64::from(args.invitation_days)),
        })
    }

    /// Whether mails are sent at all.
    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// The public URL of `path` (which starts with `/`).
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Sends a plain-text mail to `to`, within the timeout; what became of it is returned and a
    /// failure logged.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Mailed {
        let Some(transport) = &self.transport else {
            return Mailed::NotConfigured;
        };
        let sent = async {
            let message = Message::builder()
                .from(self.from.clone())
                .to(to.parse().context("the recipient is not an address")?)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body)
                .context("building the mail")?;
            transport
                .send(message)
                .await
                .context("the SMTP server did not take the mail")?;
            anyhow::Ok(())
        };
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(())) => {
                tracing::info!(%subject, "mail sent");
                Mailed::Sent
            }
            Ok(Err(error)) => {
                tracing::warn!(%subject, error = format!("{error:#}"), "a mail could not be sent");
                Mailed::Failed
            }
            Err(_) => {
                tracing::warn!(%subject, timeout = ?self.timeout, "a mail took too long to send");
                Mailed::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SmtpUrl;

    #[test]
    fn links_start_with_the_public_url_or_the_base_host() {
        let mail = Mail::new(&MailArgs::default(), "localhost:8080").unwrap();
        assert_eq!(mail.link("/invite/x"), "http://localhost:8080/invite/x");
        let args = MailArgs {
            public_url: Some("https://lyrebird.example.com".to_owned()),
            ..MailArgs::default()
        };
        let mail = Mail::new(&args, "localhost:8080").unwrap();
        assert_eq!(
            mail.link("/invite/x"),
            "https://lyrebird.example.com/invite/x"
        );
        assert!(!mail.configured());
    }

    #[test]
    fn a_bad_smtp_url_is_refused_without_repeating_it() {
        let args = MailArgs {
            smtp_url: Some(SmtpUrl("ftp://user:s3cr3t@mail.example.com".to_owned())),
            ..MailArgs::default()
        };
        let error = Mail::new(&args, "localhost").unwrap_err().to_string();
        assert!(error.starts_with("LYREBIRD_SMTP_URL"), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
        assert!(!format!("{args:?}").contains("s3cr3t"));
    }
}
