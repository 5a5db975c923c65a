//! Scripted servers on an in-memory pipe: valid handshakes followed by
//! broken or hostile replies, each of which must give the right typed
//! error (and never a hang or a panic).

mod nbd_util;

use futures::FutureExt;
use kvm_clone::nbd::proto::*;
use kvm_clone::nbd::{
    ConnectOptions, Errno, Extent, ExtentKind, NbdClient, NbdError, OptionErrorCode, ProtocolError,
    ZeroFlags, extents,
};
use nbd_util::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

async fn pair(cfg: &FakeConfig) -> (NbdClient, DuplexStream) {
    fake_pair(cfg, ConnectOptions::default()).await
}

fn protocol(err: &NbdError) -> ProtocolError {
    err.protocol()
        .cloned()
        .unwrap_or_else(|| panic!("not a protocol error: {err:?}"))
}

#[tokio::test]
async fn structured_read_reassembles_out_of_order_chunks() {
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(1000, 3000).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    assert_eq!((req.offset, req.length), (1000, 3000));
    let mut script = data_chunk(0, req.cookie, 2000, &pattern(2000, 2000));
    script.extend(hole_chunk(0, req.cookie, 1000, 500));
    script.extend(data_chunk(DONE, req.cookie, 1500, &pattern(1500, 500)));
    s.write_all(&script).await.unwrap();
    let got = read.await.unwrap().unwrap();
    let mut want = vec![0u8; 500];
    want.extend(pattern(1500, 2500));
    assert_eq!(got, want);
}

#[tokio::test]
async fn chunk_claiming_4_gib_is_refused_before_reading_it() {
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 4096).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    // Header only: a client that tried to read or allocate 4 GiB would
    // hang or abort here.
    let mut hdr = chunk(0, REPLY_TYPE_OFFSET_DATA, req.cookie, &[]);
    hdr[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    s.write_all(&hdr).await.unwrap();
    let err = read.await.unwrap().unwrap_err();
    assert!(matches!(
        protocol(&err),
        ProtocolError::ChunkTooLarge { len: u32::MAX, .. }
    ));
    // The connection is dead for everyone afterwards.
    assert!(matches!(
        client.read(0, 1).await,
        Err(NbdError::ConnectionLost(_))
    ));
}

#[tokio::test]
async fn data_chunk_longer_than_the_request_is_out_of_range() {
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 512).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&data_chunk(DONE, req.cookie, 0, &[1u8; 1024]))
        .await
        .unwrap();
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(
        protocol(&err),
        ProtocolError::ChunkOutOfRange {
            offset: 0,
            len: 1024
        }
    );
}

#[tokio::test]
async fn unknown_cookie_fails_all_pending_requests() {
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let reads: Vec<_> = (0..3u64)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.read(i * 512, 512).await })
        })
        .collect();
    for _ in 0..3 {
        read_request(&mut s).await.unwrap();
    }
    s.write_all(&none_done(0xdead_beef)).await.unwrap();
    for r in reads {
        let err = r.await.unwrap().unwrap_err();
        assert!(matches!(err, NbdError::ConnectionLost(_)));
        assert_eq!(protocol(&err), ProtocolError::UnknownCookie(0xdead_beef));
    }
}

#[tokio::test]
async fn block_status_with_zero_length_extent_is_refused() {
    let cfg = FakeConfig::default();
    let (client, mut s) = pair(&cfg).await;
    let bs = tokio::spawn({
        let c = client.clone();
        async move { c.block_status(0, 65536).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&block_status_chunk(
        DONE,
        req.cookie,
        cfg.context_id,
        &[(4096, 0), (0, 3)],
    ))
    .await
    .unwrap();
    let err = bs.await.unwrap().unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::ZeroLengthExtent);
}

#[tokio::test]
async fn block_status_beyond_the_request_or_wrong_context_is_refused() {
    let cfg = FakeConfig::default();
    let (client, mut s) = pair(&cfg).await;
    let bs = tokio::spawn({
        let c = client.clone();
        async move { c.block_status(0, 8192).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&block_status_chunk(
        DONE,
        req.cookie,
        cfg.context_id,
        &[(8192, 0), (512, 3)],
    ))
    .await
    .unwrap();
    let err = bs.await.unwrap().unwrap_err();
    assert_eq!(
        protocol(&err),
        ProtocolError::ExtentsExceedRequest {
            sum: 8704,
            requested: 8192
        }
    );

    let (client, mut s) = pair(&cfg).await;
    let bs = tokio::spawn({
        let c = client.clone();
        async move { c.block_status(0, 8192).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&block_status_chunk(DONE, req.cookie, 99, &[(512, 0)]))
        .await
        .unwrap();
    let err = bs.await.unwrap().unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::UnknownMetaContext(99));
}

#[tokio::test]
async fn server_errors_are_per_request_and_keep_the_connection() {
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 512).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&error_chunk(DONE, req.cookie, 5, "disk on fire"))
        .await
        .unwrap();
    match read.await.unwrap() {
        Err(NbdError::Server(e)) => {
            assert_eq!(e.errno, Errno::Io);
            assert_eq!(e.message, "disk on fire");
            assert_eq!(e.command, Command::Read);
        }
        other => panic!("expected a server error, got {other:?}"),
    }

    // An unknown error chunk type errors the reply but not the connection.
    let write = tokio::spawn({
        let c = client.clone();
        async move { c.write(0, vec![1u8; 16], false).await }
    });
    let (req, payload) = read_request(&mut s).await.unwrap();
    assert_eq!(payload, vec![1u8; 16]);
    let mut p = 28u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&[9u8; 5]);
    s.write_all(&chunk(DONE, REPLY_TYPE_ERROR_BIT | 0x7f, req.cookie, &p))
        .await
        .unwrap();
    match write.await.unwrap() {
        Err(NbdError::Server(e)) => assert_eq!(e.errno, Errno::NoSpc),
        other => panic!("expected ENOSPC, got {other:?}"),
    }

    // Simple error replies too; then a request still succeeds.
    let flush = tokio::spawn({
        let c = client.clone();
        async move { c.flush().await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&simple(1, req.cookie)).await.unwrap();
    assert!(matches!(
        flush.await.unwrap(),
        Err(NbdError::Server(ref e)) if e.errno == Errno::Perm
    ));
    let trim = tokio::spawn({
        let c = client.clone();
        async move { c.trim(4096, 4096, false).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    assert_eq!(req.command, Command::Trim.code());
    s.write_all(&simple(0, req.cookie)).await.unwrap();
    trim.await.unwrap().unwrap();
    assert!(client.connection_error().is_none());
}

#[tokio::test]
async fn fast_zero_enotsup_is_a_distinct_error() {
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let z = tokio::spawn({
        let c = client.clone();
        async move {
            c.write_zeroes(
                0,
                65536,
                ZeroFlags {
                    fast: true,
                    ..ZeroFlags::default()
                },
            )
            .await
        }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    assert_eq!(req.command, Command::WriteZeroes.code());
    assert_eq!(req.flags & CMD_FLAG_FAST_ZERO, CMD_FLAG_FAST_ZERO);
    s.write_all(&error_chunk(DONE, req.cookie, 95, ""))
        .await
        .unwrap();
    assert!(matches!(
        z.await.unwrap(),
        Err(NbdError::FastZeroUnsupported)
    ));

    // Without FAST_ZERO, ENOTSUP stays an ordinary server error.
    let z = tokio::spawn({
        let c = client.clone();
        async move { c.write_zeroes(0, 65536, ZeroFlags::default()).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    assert_eq!(req.flags & CMD_FLAG_FAST_ZERO, 0);
    s.write_all(&simple(95, req.cookie)).await.unwrap();
    assert!(matches!(
        z.await.unwrap(),
        Err(NbdError::Server(ref e)) if e.errno == Errno::NotSup
    ));
}

#[tokio::test]
async fn incomplete_or_overlapping_reads_and_bad_chunk_types_are_refused() {
    // Coverage short of the request.
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 1024).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    let mut script = data_chunk(0, req.cookie, 0, &[1u8; 512]);
    script.extend(none_done(req.cookie));
    s.write_all(&script).await.unwrap();
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(
        protocol(&err),
        ProtocolError::IncompleteRead {
            covered: 512,
            expected: 1024
        }
    );

    // Overlapping content chunks.
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 1024).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    let mut script = data_chunk(0, req.cookie, 0, &[1u8; 768]);
    script.extend(hole_chunk(DONE, req.cookie, 512, 512));
    s.write_all(&script).await.unwrap();
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::OverlappingChunks);

    // An unknown non-error chunk type is a hard protocol error.
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 16).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&chunk(DONE, 42, req.cookie, &[0u8; 4]))
        .await
        .unwrap();
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::UnknownChunkType(42));

    // A simple success reply to a read once structured replies are on.
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 16).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&simple(0, req.cookie)).await.unwrap();
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::SimpleReplyToRead);
}

#[tokio::test]
async fn server_closing_fails_pending_requests() {
    let (client, mut s) = pair(&FakeConfig::default()).await;
    let reads: Vec<_> = (0..4u64)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.read(i * 4096, 4096).await })
        })
        .collect();
    for _ in 0..4 {
        read_request(&mut s).await.unwrap();
    }
    // Half a reply, then the server goes away.
    s.write_all(&data_chunk(0, 1, 0, &[0u8; 100])[..60])
        .await
        .unwrap();
    drop(s);
    for r in reads {
        let err = r.await.unwrap().unwrap_err();
        assert!(matches!(err.root(), NbdError::Io(_)), "{err:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn in_flight_requests_are_bounded() {
    let opts = ConnectOptions {
        max_in_flight: 2,
        ..ConnectOptions::default()
    };
    let (client, mut s) = fake_pair(&FakeConfig::default(), opts).await;
    let reads: Vec<_> = (0..5u64)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.read(i * 512, 512).await })
        })
        .collect();
    let mut served = 0;
    while served < 5 {
        let mut outstanding = Vec::new();
        for _ in 0..2.min(5 - served) {
            outstanding.push(read_request(&mut s).await.unwrap().0);
        }
        // Let every other task run until it blocks: with one thread and
        // nothing answered, a third request would now be in the pipe.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        let mut probe = [0u8; 1];
        assert!(
            s.read(&mut probe).now_or_never().is_none(),
            "more than 2 requests in flight"
        );
        for req in outstanding {
            s.write_all(&valid_reply(&req, true, 7)).await.unwrap();
            served += 1;
        }
    }
    for (i, r) in reads.into_iter().enumerate() {
        let off = i as u64 * 512;
        let mut want = vec![0u8; 256];
        want.extend(pattern(off + 256, 256));
        assert_eq!(r.await.unwrap().unwrap(), want);
    }
}

#[tokio::test]
async fn extents_walk_merges_and_advances_over_short_replies() {
    let cfg = FakeConfig::default();
    let (client, mut s) = pair(&cfg).await;
    let walk = tokio::spawn({
        let c = client.clone();
        async move { extents(&c, 0, 12288).await }
    });
    // Each reply covers less than asked; the walker must continue where
    // the last one ended and merge equal neighbours across replies.
    let script: [&[(u32, u32)]; 3] = [
        &[(4096, 0), (1024, 3)],
        &[(1024, 3), (2048, 2)],
        &[(4096, 2)],
    ];
    let mut pos = 0u64;
    for ext in script {
        let (req, _) = read_request(&mut s).await.unwrap();
        assert_eq!(req.offset, pos);
        assert_eq!(u64::from(req.length), 12288 - pos);
        s.write_all(&block_status_chunk(DONE, req.cookie, cfg.context_id, ext))
            .await
            .unwrap();
        pos += ext.iter().map(|e| u64::from(e.0)).sum::<u64>();
    }
    let map = walk.await.unwrap().unwrap();
    assert_eq!(
        map,
        vec![
            Extent {
                offset: 0,
                length: 4096,
                kind: ExtentKind::Data
            },
            Extent {
                offset: 4096,
                length: 2048,
                kind: ExtentKind::Hole
            },
            Extent {
                offset: 6144,
                length: 6144,
                kind: ExtentKind::Zero
            },
        ]
    );
}

// ----------------------------------------------------------- handshake

async fn handshake_against(script: Vec<u8>) -> Result<NbdClient, NbdError> {
    let (c, mut s) = tokio::io::duplex(1 << 20);
    let server = async move {
        let _ = s.write_all(&script).await;
        // Drain what the client says until it gives up (all callers expect
        // the handshake to fail, which drops the client's end).
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    };
    let (res, ()) = tokio::join!(NbdClient::connect(c, ConnectOptions::new("disk")), server);
    res
}

#[tokio::test]
async fn handshake_refuses_oldstyle_and_plain_newstyle() {
    let mut old = NBD_MAGIC.to_be_bytes().to_vec();
    old.extend_from_slice(&CLISERV_MAGIC.to_be_bytes());
    old.extend_from_slice(&[0u8; 8 + 4 + 124]);
    let err = handshake_against(old).await.unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::Oldstyle);

    let err = handshake_against(greeting(0)).await.unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::NotFixedNewstyle);
}

#[tokio::test]
async fn oversized_option_reply_is_refused() {
    let mut script = greeting(FLAG_FIXED_NEWSTYLE);
    let mut hdr = opt_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]);
    hdr[16..20].copy_from_slice(&0x4000_0000u32.to_be_bytes());
    script.extend(hdr);
    let err = handshake_against(script).await.unwrap_err();
    assert!(matches!(
        protocol(&err),
        ProtocolError::OptionReplyTooLarge {
            len: 0x4000_0000,
            ..
        }
    ));
}

#[tokio::test]
async fn go_refusal_is_typed_with_its_message() {
    let mut script = greeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
    script.extend(opt_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]));
    script.extend(opt_reply(OPT_SET_META_CONTEXT, REP_ACK, &[]));
    script.extend(opt_reply(OPT_GO, REP_ERR_BIT | 6, b"export 'disk' unknown"));
    match handshake_against(script).await.unwrap_err() {
        NbdError::OptionRefused(r) => {
            assert_eq!(r.option, OPT_GO);
            assert_eq!(r.code, OptionErrorCode::UnknownExport);
            assert_eq!(r.message, "export 'disk' unknown");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn go_without_export_info_is_refused() {
    let mut script = greeting(FLAG_FIXED_NEWSTYLE);
    script.extend(opt_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]));
    script.extend(opt_reply(OPT_SET_META_CONTEXT, REP_ACK, &[]));
    script.extend(opt_reply(OPT_GO, REP_ACK, &[]));
    let err = handshake_against(script).await.unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::MissingExportInfo);
}

#[tokio::test]
async fn bad_block_size_info_is_refused() {
    let cfg = FakeConfig {
        block_size: Some((3, 4096, 1 << 20)),
        ..FakeConfig::default()
    };
    let err = handshake_against(handshake_script(&cfg)).await.unwrap_err();
    assert!(matches!(
        protocol(&err),
        ProtocolError::InvalidBlockSize { min: 3, .. }
    ));
}

#[tokio::test]
async fn simple_replies_when_structured_is_unsupported() {
    let cfg = FakeConfig {
        structured: false,
        ..FakeConfig::default()
    };
    let (client, mut s) = pair(&cfg).await;
    assert!(!client.info().structured_replies);
    assert!(!client.info().has_allocation());
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(100, 1000).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&valid_reply(&req, false, 0)).await.unwrap();
    assert_eq!(read.await.unwrap().unwrap(), pattern(100, 1000));
    // A structured chunk now is a protocol violation.
    let read = tokio::spawn({
        let c = client.clone();
        async move { c.read(0, 10).await }
    });
    let (req, _) = read_request(&mut s).await.unwrap();
    s.write_all(&none_done(req.cookie)).await.unwrap();
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(protocol(&err), ProtocolError::StructuredNotNegotiated);
}

#[tokio::test]
async fn no_meta_context_means_all_data() {
    let cfg = FakeConfig {
        meta_context: false,
        ..FakeConfig::default()
    };
    let (client, _s) = pair(&cfg).await;
    assert!(client.info().structured_replies);
    assert!(!client.info().has_allocation());
    let map = extents(&client, 0, cfg.size).await.unwrap();
    assert_eq!(
        map,
        vec![Extent {
            offset: 0,
            length: cfg.size,
            kind: ExtentKind::Data
        }]
    );
}

#[tokio::test]
async fn export_name_fallback_without_go() {
    for no_zeroes in [true, false] {
        let cfg = FakeConfig {
            go: false,
            no_zeroes,
            size: 12345 * 512,
            ..FakeConfig::default()
        };
        let (client, mut s) = pair(&cfg).await;
        assert_eq!(client.size(), 12345 * 512);
        assert!(!client.info().block_size_from_server);
        let read = tokio::spawn({
            let c = client.clone();
            async move { c.read(0, 4096).await }
        });
        let (req, _) = read_request(&mut s).await.unwrap();
        s.write_all(&valid_reply(&req, true, cfg.context_id))
            .await
            .unwrap();
        let mut want = vec![0u8; 2048];
        want.extend(pattern(2048, 2048));
        assert_eq!(read.await.unwrap().unwrap(), want);
    }
}

#[tokio::test]
async fn requests_are_checked_before_sending() {
    let cfg = FakeConfig {
        flags: TFLAG_HAS_FLAGS | TFLAG_READ_ONLY,
        block_size: Some((512, 4096, 65536)),
        ..FakeConfig::default()
    };
    let (client, _s) = pair(&cfg).await;
    assert!(matches!(
        client.read(1, 512).await,
        Err(NbdError::Misaligned { alignment: 512, .. })
    ));
    assert!(matches!(
        client.read(0, 65536 * 2).await,
        Err(NbdError::RequestTooLarge { .. })
    ));
    assert!(matches!(client.read(0, 0).await, Err(NbdError::ZeroLength)));
    assert!(matches!(
        client.read(u64::MAX - 511, 512).await,
        Err(NbdError::OutOfBounds { .. })
    ));
    for res in [
        client.write(0, vec![0u8; 512], false).await,
        client.trim(0, 512, false).await,
        client.write_zeroes(0, 512, ZeroFlags::default()).await,
        client.flush().await,
    ] {
        assert!(matches!(res, Err(NbdError::Unsupported { .. })), "{res:?}");
    }
}

#[tokio::test]
async fn silent_server_times_out_when_asked_to() {
    let opts = ConnectOptions {
        request_timeout: Some(std::time::Duration::from_millis(50)),
        ..ConnectOptions::default()
    };
    // The server reads the requests but never answers, and stays connected.
    let (client, mut s) = fake_pair(&FakeConfig::default(), opts).await;
    let reads: Vec<_> = (0..3u64)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.read(i * 512, 512).await })
        })
        .collect();
    for _ in 0..3 {
        read_request(&mut s).await.unwrap();
    }
    for r in reads {
        let err = r.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err.root(),
                NbdError::TimedOut {
                    command: Command::Read,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(matches!(
        client.flush().await,
        Err(NbdError::ConnectionLost(_))
    ));
    drop(s);
}
