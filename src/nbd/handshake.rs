//! Fixed-newstyle negotiation: structured replies, `base:allocation`,
//! then `NBD_OPT_GO` (or `NBD_OPT_EXPORT_NAME` on servers without it).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{NbdError, OptionRefused, ProtocolError};
use super::proto::option::{
    self as wire, BlockSize, EXPORT_NAME_PADDING, EXPORT_NAME_REPLY_LEN, GREETING_LEN, Info,
    OPTION_REPLY_HEADER_LEN, OptionReplyHeader, TransmissionFlags,
};
use super::proto::{
    BASE_ALLOCATION, FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES, FLAG_NO_ZEROES, INFO_BLOCK_SIZE,
    MAX_STRING, OPT_EXPORT_NAME, OPT_GO, OPT_SET_META_CONTEXT, OPT_STRUCTURED_REPLY,
    OptionErrorCode, REP_ACK, REP_ERR_BIT, REP_INFO, REP_META_CONTEXT,
};

/// Largest option reply payload accepted; real ones are a few bytes, and
/// strings are capped at 4096 by the spec.
pub const MAX_OPTION_REPLY: u32 = 64 * 1024;
/// Most replies accepted for one option before the server is deemed hostile.
pub const MAX_REPLIES_PER_OPTION: usize = 64;

/// What the handshake learnt about the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    /// The export name that was requested.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Transmission flags: read-only, flush, FUA, trim, write zeroes, …
    pub flags: TransmissionFlags,
    /// Block size constraints: from the server, or [`BlockSize::DEFAULT`].
    pub block_size: BlockSize,
    /// Whether the server sent `NBD_INFO_BLOCK_SIZE`.
    pub block_size_from_server: bool,
    /// Whether structured replies were negotiated.
    pub structured_replies: bool,
    /// Context id of `base:allocation`, when negotiated.
    pub allocation_context: Option<u32>,
    /// The other meta contexts the server selected (e.g. a dirty bitmap),
    /// as (name, id), in the order they were asked for.
    pub extra_contexts: Vec<(String, u32)>,
}

impl ExportInfo {
    /// Whether `NBD_CMD_BLOCK_STATUS` for `base:allocation` is available.
    pub fn has_allocation(&self) -> bool {
        self.allocation_context.is_some()
    }

    /// The id of a negotiated extra meta context.
    pub fn context_id(&self, name: &str) -> Option<u32> {
        self.extra_contexts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    /// Every negotiated meta context id.
    pub fn context_ids(&self) -> Vec<u32> {
        self.allocation_context
            .into_iter()
            .chain(self.extra_contexts.iter().map(|(_, id)| *id))
            .collect()
    }
}

/// Runs the whole handshake on `io`, leaving it at the start of the
/// transmission phase.
pub async fn negotiate<T>(
    io: &mut T,
    export: &str,
    want_allocation: bool,
) -> Result<ExportInfo, NbdError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    negotiate_with(io, export, want_allocation, &[]).await
}

/// As [`negotiate`], also asking for the meta contexts named in `extra`
/// (e.g. `qemu:dirty-bitmap:backup-vda`). A server that does not know one
/// leaves it out of [`ExportInfo::extra_contexts`].
pub async fn negotiate_with<T>(
    io: &mut T,
    export: &str,
    want_allocation: bool,
    extra: &[String],
) -> Result<ExportInfo, NbdError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    if export.len() > MAX_STRING {
        return Err(NbdError::NameTooLong);
    }
    let mut greeting = [0u8; GREETING_LEN];
    io.read_exact(&mut greeting).await?;
    let server_flags = wire::decode_greeting(&greeting)?;
    let no_zeroes = server_flags & FLAG_NO_ZEROES != 0;
    let mut client_flags = FLAG_C_FIXED_NEWSTYLE;
    if no_zeroes {
        client_flags |= FLAG_C_NO_ZEROES;
    }
    io.write_all(&client_flags.to_be_bytes()).await?;

    let structured = match simple_option(io, OPT_STRUCTURED_REPLY, &[]).await? {
        Ok(()) => true,
        Err(refused) if soft_refusal(&refused) => false,
        Err(refused) => return Err(refused.into()),
    };
    let mut queries: Vec<&str> = Vec::new();
    if want_allocation {
        queries.push(BASE_ALLOCATION);
    }
    queries.extend(extra.iter().map(String::as_str));
    let selected = if structured && !queries.is_empty() {
        set_meta_context(io, export, &queries).await?
    } else {
        Vec::new()
    };
    let allocation_context = selected
        .iter()
        .find(|(n, _)| n == BASE_ALLOCATION)
        .map(|(_, id)| *id);
    let extra_contexts: Vec<(String, u32)> = extra
        .iter()
        .filter_map(|name| {
            let id = selected.iter().find(|(n, _)| n == name)?.1;
            Some((name.clone(), id))
        })
        .collect();

    let (size, flags, block_size) = match go(io, export).await? {
        Ok(found) => found,
        Err(refused) if refused.code == OptionErrorCode::Unsupported => {
            let (size, flags) = export_name(io, export, no_zeroes).await?;
            (size, flags, None)
        }
        Err(refused) => return Err(refused.into()),
    };
    Ok(ExportInfo {
        name: export.to_owned(),
        size,
        flags,
        block_size: block_size.unwrap_or(BlockSize::DEFAULT),
        block_size_from_server: block_size.is_some(),
        structured_replies: structured,
        allocation_context,
        extra_contexts,
    })
}

/// Refusals after which negotiation can go on without the option.
fn soft_refusal(refused: &OptionRefused) -> bool {
    !matches!(
        refused.code,
        OptionErrorCode::TlsRequired | OptionErrorCode::Shutdown
    )
}

async fn send_option<T>(io: &mut T, option: u32, data: &[u8]) -> Result<(), NbdError>
where
    T: AsyncWrite + Unpin,
{
    io.write_all(&wire::encode_option(option, data)).await?;
    io.flush().await?;
    Ok(())
}

/// Reads one option reply (header and bounded payload).
async fn read_reply<T>(io: &mut T, option: u32) -> Result<(OptionReplyHeader, Vec<u8>), NbdError>
where
    T: AsyncRead + Unpin,
{
    let mut hdr = [0u8; OPTION_REPLY_HEADER_LEN];
    io.read_exact(&mut hdr).await?;
    let header = wire::decode_option_reply_header(&hdr, option, MAX_OPTION_REPLY)?;
    // Bounded by MAX_OPTION_REPLY just above.
    let mut payload = vec![0u8; header.length as usize];
    io.read_exact(&mut payload).await?;
    Ok((header, payload))
}

fn refusal(header: &OptionReplyHeader, payload: &[u8]) -> OptionRefused {
    let msg = &payload[..payload.len().min(MAX_STRING)];
    OptionRefused {
        option: header.option,
        code: OptionErrorCode::from_reply(header.reply),
        message: String::from_utf8_lossy(msg).into_owned(),
    }
}

fn unexpected(header: &OptionReplyHeader) -> NbdError {
    ProtocolError::UnexpectedOptionReply {
        option: header.option,
        reply: header.reply,
    }
    .into()
}

/// An option whose only success reply is `NBD_REP_ACK`.
async fn simple_option<T>(
    io: &mut T,
    option: u32,
    data: &[u8],
) -> Result<Result<(), OptionRefused>, NbdError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    send_option(io, option, data).await?;
    let (header, payload) = read_reply(io, option).await?;
    match header.reply {
        REP_ACK if payload.is_empty() => Ok(Ok(())),
        r if r & REP_ERR_BIT != 0 => Ok(Err(refusal(&header, &payload))),
        _ => Err(unexpected(&header)),
    }
}

/// Selects the `queries` (exact context names); returns the (name, id)
/// pairs the server selected, empty when it refused softly.
async fn set_meta_context<T>(
    io: &mut T,
    export: &str,
    queries: &[&str],
) -> Result<Vec<(String, u32)>, NbdError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let data = wire::encode_set_meta_context(export, queries)?;
    send_option(io, OPT_SET_META_CONTEXT, &data).await?;
    let mut selected: Vec<(String, u32)> = Vec::new();
    for _ in 0..MAX_REPLIES_PER_OPTION {
        let (header, payload) = read_reply(io, OPT_SET_META_CONTEXT).await?;
        match header.reply {
            REP_META_CONTEXT => {
                let (id, name) = wire::decode_meta_context(&payload)?;
                let Some(query) = queries.iter().find(|q| q.as_bytes() == name) else {
                    return Err(ProtocolError::UnrequestedMetaContext.into());
                };
                if selected.iter().any(|(n, i)| n == query || *i == id) {
                    return Err(ProtocolError::DuplicateMetaContext.into());
                }
                selected.push(((*query).to_string(), id));
            }
            REP_ACK if payload.is_empty() => return Ok(selected),
            r if r & REP_ERR_BIT != 0 => {
                let refused = refusal(&header, &payload);
                return if soft_refusal(&refused) {
                    Ok(Vec::new())
                } else {
                    Err(refused.into())
                };
            }
            _ => return Err(unexpected(&header)),
        }
    }
    Err(ProtocolError::TooManyOptionReplies {
        option: OPT_SET_META_CONTEXT,
    }
    .into())
}

type GoResult = (u64, TransmissionFlags, Option<BlockSize>);

async fn go<T>(io: &mut T, export: &str) -> Result<Result<GoResult, OptionRefused>, NbdError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let data = wire::encode_go(export, &[INFO_BLOCK_SIZE])?;
    send_option(io, OPT_GO, &data).await?;
    let mut export_info = None;
    let mut block_size = None;
    for _ in 0..MAX_REPLIES_PER_OPTION {
        let (header, payload) = read_reply(io, OPT_GO).await?;
        match header.reply {
            REP_INFO => match wire::decode_info(&payload)? {
                Info::Export { size, flags } => export_info = Some((size, flags)),
                Info::BlockSize(bs) => block_size = Some(bs),
                Info::Other(_) => {}
            },
            REP_ACK if payload.is_empty() => {
                let (size, flags) = export_info.ok_or(ProtocolError::MissingExportInfo)?;
                return Ok(Ok((size, flags, block_size)));
            }
            r if r & REP_ERR_BIT != 0 => return Ok(Err(refusal(&header, &payload))),
            _ => return Err(unexpected(&header)),
        }
    }
    Err(ProtocolError::TooManyOptionReplies { option: OPT_GO }.into())
}

/// Fallback for servers without `NBD_OPT_GO`; they close the connection
/// instead of answering when the export does not exist.
async fn export_name<T>(
    io: &mut T,
    export: &str,
    no_zeroes: bool,
) -> Result<(u64, TransmissionFlags), NbdError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    send_option(io, OPT_EXPORT_NAME, export.as_bytes()).await?;
    let mut reply = [0u8; EXPORT_NAME_REPLY_LEN];
    io.read_exact(&mut reply).await?;
    let found = wire::decode_export_name_reply(&reply)?;
    if !no_zeroes {
        let mut pad = [0u8; EXPORT_NAME_PADDING];
        io.read_exact(&mut pad).await?;
    }
    Ok(found)
}
