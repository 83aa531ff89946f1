//! Console sessions: a random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure when
//! the issuer is https), mapped in memory to the session's CSRF token and when it was last
//! used. Sessions live in one replica's memory: behind a load balancer, use sticky sessions or
//! sign in again (docs/operations.md). A session unused for the idle period is gone.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::ConsoleError;
use crate::AppState;

/// The session cookie's name; the cookie is scoped to `/console`.
pub const COOKIE: &str = "idbroker_console";

/// At most this many sessions per replica: a flood of sign-ins cannot grow memory without
/// bound (each needs the admin token anyway).
const MAX_SESSIONS: usize = 1000;

struct Entry {
    csrf: String,
    last_seen: Instant,
}

pub struct Sessions {
    idle: Duration,
    secure: bool,
    entries: Mutex<HashMap<String, Entry>>,
}

/// 32 random bytes, URL-safe base64 (43 characters).
fn random_token() -> Result<String, ConsoleError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| ConsoleError::Internal)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl Sessions {
    pub fn new(idle: Duration, secure: bool) -> Self {
        Self {
            idle,
            secure,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A new session: its id (for the cookie) and CSRF token.
    pub fn open(&self) -> Result<(String, String), ConsoleError> {
        let (id, csrf) = (random_token()?, random_token()?);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_SESSIONS {
            entries.retain(|_, e| now.duration_since(e.last_seen) < self.idle);
        }
        if entries.len() >= MAX_SESSIONS {
            return Err(ConsoleError::TooManySessions);
        }
        entries.insert(
            id.clone(),
            Entry {
                csrf: csrf.clone(),
                last_seen: now,
            },
        );
        Ok((id, csrf))
    }

    /// The CSRF token of a live session, which counts as used now; an idle one is removed.
    fn touch(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get_mut(id)?;
        if now.duration_since(entry.last_seen) >= self.idle {
            entries.remove(id);
            return None;
        }
        entry.last_seen = now;
        Some(entry.csrf.clone())
    }

    /// Whether `id` names a live session (which counts as a use).
    pub fn is_live(&self, id: &str) -> bool {
        self.touch(id).is_some()
    }

    pub fn close(&self, id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// The `Set-Cookie` value that hands a browser its session.
    pub fn cookie(&self, id: &str) -> String {
        format!(
            "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict{}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes it.
    pub fn expired_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.secure { "; Secure" } else { "" }
        )
    }
}

/// The session cookie's value, if the request has one.
pub fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A signed-in console user; take it as a handler argument. Without a live session the
/// request is sent to the sign-in page.
pub struct Session {
    pub id: String,
    pub csrf: String,
}

impl Session {
    /// Reads a form posted in this session: refused unless its `csrf` field is the session's
    /// token (compared in constant time). Every form handler reads its body through here.
    pub fn form<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ConsoleError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| ConsoleError::BadForm)?;
        let presented = pairs
            .iter()
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.as_bytes())
            .ok_or(ConsoleError::Csrf)?;
        if !bool::from(presented.ct_eq(self.csrf.as_bytes())) {
            return Err(ConsoleError::Csrf);
        }
        serde_urlencoded::from_bytes(body).map_err(|_| ConsoleError::BadForm)
    }
}

impl FromRequest for Session {
    type Error = ConsoleError;
    type Future = Ready<Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let sessions = req
            .app_data::<web::Data<AppState>>()
            .and_then(|state| state.console.as_ref())
            .map(|console| &console.sessions);
        let found = match (sessions, cookie_value(req)) {
            (Some(sessions), Some(id)) => sessions.touch(&id).map(|csrf| Session { id, csrf }),
            _ => None,
        };
        ready(found.ok_or(ConsoleError::SignIn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_after_the_idle_period_and_on_close() {
        let sessions = Sessions::new(Duration::from_millis(50), false);
        let (id, csrf) = sessions.open().unwrap();
        assert_eq!(id.len(), 43, "256 bits");
        assert_ne!(id, csrf);
        assert_eq!(sessions.touch(&id), Some(csrf));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sessions.touch(&id), None, "idle too long");
        let (id, _) = sessions.open().unwrap();
        sessions.close(&id);
        assert_eq!(sessions.touch(&id), None);
        assert_eq!(sessions.touch("made-up"), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_on_https() {
        let plain = Sessions::new(Duration::from_secs(60), false).cookie("x");
        assert_eq!(
            plain,
            "idbroker_console=x; Path=/console; HttpOnly; SameSite=Strict"
        );
        assert!(
            Sessions::new(Duration::from_secs(60), true)
                .cookie("x")
                .ends_with("; Secure")
        );
    }

    #[test]
    fn a_form_needs_the_sessions_csrf_token() {
        #[derive(serde::Deserialize)]
        struct F {
            name: String,
        }
        let s = Session {
            id: "i".into(),
            csrf: "token".into(),
        };
        assert_eq!(s.form::<F>(b"csrf=token&name=a").unwrap().name, "a");
        assert!(matches!(s.form::<F>(b"name=a"), Err(ConsoleError::Csrf)));
        assert!(matches!(
            s.form::<F>(b"csrf=other&name=a"),
            Err(ConsoleError::Csrf)
        ));
    }
}
