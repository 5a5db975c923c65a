use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// One request as the test server saw it.
struct Seen {
    request_line: String,
    content_type: String,
    body: Vec<u8>,
}

/// An HTTP server on 127.0.0.1 answering each request with the next status
/// of `statuses`; what it received comes out of the channel.
fn server(statuses: Vec<u16>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/kvm", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let (mut len, mut content_type) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "content-type" => content_type = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let _ = tx.send(Seen {
                request_line: request_line.trim().to_string(),
                content_type,
                body,
            });
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, rx)
}

fn notice() -> Notice {
    Notice {
        kind: crate::model::JobKind::Clone,
        job_id: 42,
        vm: "web01".into(),
        from: "alpha".into(),
        to: "beta".into(),
        profile: "default".into(),
        result: "failed".into(),
        duration_secs: 12.5,
        bytes: 3 << 20,
        error: Some("copying: connection reset".into()),
    }
}

fn quick(attempts: u32) -> Delivery {
    Delivery {
        attempts,
        initial: Duration::from_millis(10),
        max: Duration::from_millis(40),
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn posts_the_documented_json() {
    let (url, seen) = server(vec![200]);
    assert_eq!(send(&url, &notice(), &quick(3)).await, Ok(1));
    let s = seen.recv().unwrap();
    assert_eq!(s.request_line, "POST /hooks/kvm HTTP/1.1");
    assert_eq!(s.content_type, "application/json");
    let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "kind": "clone", "job_id": 42, "vm": "web01", "from": "alpha", "to": "beta",
            "profile": "default", "result": "failed", "duration_secs": 12.5,
            "bytes": 3145728, "error": "copying: connection reset"
        })
    );
}

#[tokio::test]
async fn a_failing_server_is_retried_until_it_answers() {
    let (url, seen) = server(vec![500, 503, 204]);
    assert_eq!(send(&url, &notice(), &quick(5)).await, Ok(3));
    let bodies: Vec<Vec<u8>> = seen.iter().take(3).map(|s| s.body).collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every attempt sends the same notice"
    );
}

#[tokio::test]
async fn delivery_gives_up_after_its_attempts_with_the_reason() {
    let (url, seen) = server(vec![500, 500, 500]);
    let e = send(&url, &notice(), &quick(2)).await.unwrap_err();
    assert!(e.contains("after 2 attempts"), "{e}");
    assert!(e.contains("500"), "{e}");
    assert_eq!(seen.iter().take(2).count(), 2);
    // Nothing listens here any more once the listener is gone: a refused
    // connection is an error too, not a panic.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    assert!(send(&closed, &notice(), &quick(1)).await.is_err());
}

#[tokio::test]
async fn job_finished_delivers_in_the_background_and_drain_waits_for_it() {
    let (url, seen) = server(vec![502, 200]);
    job_finished(Some(url), notice());
    job_finished(None, notice());
    crate::notify::drain(Duration::from_secs(60)).await;
    assert_eq!(
        seen.try_iter().count(),
        2,
        "one failed attempt, then the delivery"
    );
}
