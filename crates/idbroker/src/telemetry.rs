//! Logging: `RUST_LOG` filters (default `info`), `IDBROKER_LOG_FORMAT=json` for JSON lines.
//! Request spans come from tracing-actix-web; secrets are kept out by the types that hold them.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = if std::env::var("IDBROKER_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
