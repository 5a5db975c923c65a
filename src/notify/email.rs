//! E-mail when a job ends (`[notify.email]`, docs/notify.md): lettre
//! over rustls, from its own task, retried with backoff like the webhook.
//! It never holds up or fails the job, and the password (read from its
//! file for each delivery) is never logged.

use std::sync::RwLock;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::webhook::{Delivery, Notice};
use crate::config::{EmailSettings, EmailTls};

static SETTINGS: RwLock<Option<EmailSettings>> = RwLock::new(None);

/// Sets (or clears) where job e-mails go; the backend calls it at start.
pub fn configure(settings: Option<EmailSettings>) {
    *SETTINGS.write().unwrap_or_else(|p| p.into_inner()) = settings;
}

/// Sends the notice from a task of its own when its result is one the
/// config asks for; returns at once.
pub(super) fn job_finished(notice: &Notice) {
    let settings = SETTINGS.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(settings) = settings.filter(|s| s.sends(&notice.result)) else {
        return;
    };
    let notice = notice.clone();
    super::tracker().spawn(async move {
        match send(&settings, &notice, &Delivery::default()).await {
            Ok(n) => tracing::info!(job = notice.job_id, attempts = n, "e-mail delivered"),
            Err(e) => tracing::warn!(job = notice.job_id, "e-mail not delivered: {e}"),
        }
    });
}

/// "kvm-clone: clone of web01 from alpha to beta failed".
pub fn subject(n: &Notice) -> String {
    format!(
        "kvm-clone: {} of {} from {} to {} {}",
        n.kind.label(),
        n.vm,
        n.from,
        n.to,
        n.result
    )
}

fn body(n: &Notice) -> String {
    let mut text = format!(
        "{}\n\njob:      {}\nvm:       {}\nfrom:     {}\nto:       {}\nprofile:  {}\nresult:   {}\nduration: {:.1} s\nmoved:    {} bytes\n",
        subject(n),
        n.job_id,
        n.vm,
        n.from,
        n.to,
        n.profile,
        n.result,
        n.duration_secs,
        n.bytes
    );
    if let Some(e) = &n.error {
        text.push_str(&format!("error:    {e}\n"));
    }
    text
}

fn message(s: &EmailSettings, n: &Notice) -> Result<Message, String> {
    let parse = |a: &str| a.parse::<Mailbox>().map_err(|e| format!("{a:?}: {e}"));
    let mut m = Message::builder().from(parse(&s.from)?).subject(subject(n));
    for to in &s.to {
        m = m.to(parse(to)?);
    }
    m.header(ContentType::TEXT_PLAIN)
        .body(body(n))
        .map_err(|e| e.to_string())
}

fn transport(
    s: &EmailSettings,
    d: &Delivery,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let params = || TlsParameters::new(s.host.clone()).map_err(|e| e.to_string());
    let tls = match s.tls {
        EmailTls::Starttls => Tls::Required(params()?),
        EmailTls::Tls => Tls::Wrapper(params()?),
        EmailTls::None => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port())
        .tls(tls)
        .timeout(Some(d.timeout));
    if let (Some(user), Some(file)) = (&s.user, &s.password_file) {
        let pass = crate::config::read_secret_file(file)
            .map_err(|e| format!("password_file {}: {e}", file.display()))?;
        b = b.credentials(Credentials::new(user.clone(), pass.to_string()));
    }
    Ok(b.build())
}

/// Delivers the notice, retrying transient failures (4xx answers, a
/// server that is down) with exponential backoff; a permanent refusal
/// (5xx) ends it. Returns the attempts made, or the last error.
pub async fn send(s: &EmailSettings, n: &Notice, d: &Delivery) -> Result<u32, String> {
    let mail = message(s, n)?;
    super::with_retries("e-mail", d, || {
        let mail = mail.clone();
        async move {
            // Built per attempt: a pooled connection the server dropped is
            // not reused, and the password file is read afresh.
            let t = transport(s, d).map_err(|e| (true, e))?;
            t.send(mail)
                .await
                .map(|_| ())
                .map_err(|e| (e.is_permanent(), e.to_string()))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            kind: crate::model::JobKind::Clone,
            job_id: 7,
            vm: "web01".into(),
            from: "alpha".into(),
            to: "beta".into(),
            profile: "default".into(),
            result: "failed".into(),
            duration_secs: 12.5,
            bytes: 1024,
            error: Some("copying: connection reset".into()),
        }
    }

    #[test]
    fn the_mail_names_the_job_and_its_error() {
        assert_eq!(
            subject(&notice()),
            "kvm-clone: clone of web01 from alpha to beta failed"
        );
        let b = body(&notice());
        assert!(b.contains("error:    copying: connection reset"), "{b}");
        assert!(b.contains("profile:  default"), "{b}");
    }
}
