//! Frames on the daemon's socket: a 4-byte big-endian length, then that
//! many bytes of JSON. A length over [`MAX_FRAME`] ends the connection, so
//! a confused or hostile peer cannot make either side allocate much.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::DaemonError;

/// Largest frame either side accepts: a state snapshot of a large fleet
/// fits many times over.
pub const MAX_FRAME: u32 = 64 << 20;

/// The next frame, or None at a clean end of stream (between frames).
pub async fn read<T: DeserializeOwned>(
    r: &mut (impl AsyncRead + Unpin),
) -> Result<Option<T>, DaemonError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(DaemonError::Io(e)),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(DaemonError::Protocol(format!(
            "a frame of {len} bytes is larger than {MAX_FRAME}"
        )));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).await.map_err(DaemonError::Io)?;
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(|e| DaemonError::Protocol(format!("a frame is not valid: {e}")))
}

pub async fn write<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    value: &T,
) -> Result<(), DaemonError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| DaemonError::Protocol(format!("cannot encode a frame: {e}")))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n <= MAX_FRAME)
        .ok_or_else(|| DaemonError::Protocol(format!("a frame of {} bytes", body.len())))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out).await.map_err(DaemonError::Io)?;
    w.flush().await.map_err(DaemonError::Io)
}
