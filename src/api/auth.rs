//! Who may call: the holder of the bearer token in `[api] token_file`.
//! The file must be the daemon user's (or root's) and unreadable by
//! others, as ssh demands of a private key; the token is compared in
//! constant time and never logged.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Api, ApiError, reply};

/// Shorter tokens are refused: they can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// The bearer token. Debug hides it.
pub struct Token(Zeroizing<String>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl Token {
    /// Reads and checks the token file: a regular file, owned by this
    /// user or root, no group or other permissions, one token of at least
    /// [`MIN_TOKEN_LEN`] characters (surrounding whitespace ignored).
    pub fn load(path: &Path) -> Result<Token, ApiError> {
        let text = crate::config::read_secret_file(path).map_err(|why| ApiError::Token {
            path: path.to_path_buf(),
            why,
        })?;
        Token::parse(&text).map_err(|why| ApiError::Token {
            path: path.to_path_buf(),
            why,
        })
    }

    /// The token in a file's text.
    pub fn parse(text: &str) -> Result<Token, String> {
        let t = text.trim();
        if t.len() < MIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "must hold one token of at least {MIN_TOKEN_LEN} characters without spaces; \
                 make one with `head -c 32 /dev/urandom | base64 > FILE`"
            ));
        }
        Ok(Token(Zeroizing::new(t.to_string())))
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        // Lengths differ only for a wrong token; the bytes compare in
        // constant time.
        given.ct_eq(self.0.as_bytes()).into()
    }
}

/// The middleware: `/metrics` may be open by config; everything else
/// needs the token.
pub(super) async fn check(State(api): State<Api>, request: Request, next: Next) -> Response {
    let open = api.metrics_without_token && request.uri().path() == "/metrics";
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if open || api.token.admits(given) {
        return next.run(request).await;
    }
    let mut answer = reply::error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token: send `Authorization: Bearer TOKEN` with the token in [api] token_file",
    );
    answer.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let t = Token::parse("  0123456789abcdefXYZ\n").unwrap();
        assert!(t.admits(Some(b"Bearer 0123456789abcdefXYZ")));
        assert!(!t.admits(Some(b"Bearer 0123456789abcdefXY")));
        assert!(!t.admits(Some(b"Bearer 0123456789abcdefXYZZ")));
        assert!(!t.admits(Some(b"bearer 0123456789abcdefXYZ")));
        assert!(!t.admits(Some(b"0123456789abcdefXYZ")));
        assert!(!t.admits(None));
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert!(Token::parse("short").is_err());
        assert!(Token::parse("0123456789abcdef 0123").is_err());
        assert!(Token::parse("").is_err());
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Token::load(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Token::load(&path).is_ok());
        assert!(!format!("{:?}", Token::load(&path).unwrap()).contains("0123"));
    }
}
