//! Job e-mails against a real SMTP server (aiosmtpd): a delivery goes
//! through a server that refuses twice (451) and then accepts; a
//! permanent failure ends at once; a password file others can read is
//! refused and its contents never show in an error.

mod smtp_util;

use kvm_clone::config::{EmailSettings, EmailTls};
use kvm_clone::notify::email;
use kvm_clone::notify::webhook::{Delivery, Notice};
use std::time::Duration;

fn settings(port: u16) -> EmailSettings {
    EmailSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: EmailTls::None,
        user: None,
        password_file: None,
        from: "kvm-clone <kvm-clone@example.test>".into(),
        to: vec!["ops@example.test".into()],
        on: vec!["failed".into()],
    }
}

fn notice() -> Notice {
    Notice {
        kind: kvm_clone::model::JobKind::Export,
        job_id: 42,
        vm: "web01".into(),
        from: "alpha".into(),
        to: "/srv/repo".into(),
        profile: "nightly".into(),
        result: "failed".into(),
        duration_secs: 3.0,
        bytes: 0,
        error: Some("alpha is not connected".into()),
    }
}

fn quick() -> Delivery {
    Delivery {
        attempts: 5,
        initial: Duration::from_millis(200),
        max: Duration::from_secs(1),
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn a_server_that_refuses_twice_still_gets_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_util::Smtp::start(dir.path(), 2);
    let attempts = email::send(&settings(smtp.port), &notice(), &quick())
        .await
        .expect("delivered");
    assert_eq!(attempts, 3);
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(
        mail[0].contains("Subject: kvm-clone: export of web01 from alpha to /srv/repo failed"),
        "{}",
        mail[0]
    );
    assert!(
        mail[0].contains("error:    alpha is not connected"),
        "{}",
        mail[0]
    );
    assert!(mail[0].contains("To: ops@example.test"), "{}", mail[0]);
}

#[tokio::test]
async fn a_server_that_is_down_gives_up_after_the_attempts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = Delivery {
        attempts: 2,
        ..quick()
    };
    let e = email::send(&settings(port), &notice(), &d)
        .await
        .unwrap_err();
    assert!(e.starts_with("after 2 attempts"), "{e}");
}

#[tokio::test]
async fn a_password_file_others_can_read_is_refused_unread() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_util::Smtp::start(dir.path(), 0);
    let file = dir.path().join("smtp.pass");
    std::fs::write(&file, "hunter2-secret\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = EmailSettings {
        user: Some("kvm".into()),
        password_file: Some(file),
        ..settings(smtp.port)
    };
    let e = email::send(&s, &notice(), &quick()).await.unwrap_err();
    assert!(e.contains("chmod 600"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    assert!(smtp.messages().is_empty());
}
