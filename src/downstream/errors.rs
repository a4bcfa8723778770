//! The one place downstream (rmcp) errors become sentences: what failed, where, and what to
//! do. rmcp's own Display shows transport type names and Debug dumps
//! (`Send message error Transport [rmcp::transport::worker::WorkerTransport<…>]`), which
//! tell a user nothing; the root cause at the bottom of the error chain usually does.

use std::error::Error;

use rmcp::ServiceError;
use rmcp::service::ClientInitializeError;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::transport::worker::WorkerQuitReason;

type HttpError = StreamableHttpError<reqwest::Error>;

/// The deepest cause in an error chain ("Connection refused (os error 111)"). rmcp's HTTP
/// transport errors do not link their inner error as a source, so those are opened by type.
pub(super) fn root_cause(error: &(dyn Error + 'static)) -> String {
    let mut current = error;
    loop {
        let inner: Option<&(dyn Error + 'static)> =
            if let Some(WorkerQuitReason::Fatal { error, .. }) =
                current.downcast_ref::<WorkerQuitReason<HttpError>>()
            {
                Some(error)
            } else if let Some(StreamableHttpError::Client(e)) = current.downcast_ref::<HttpError>()
            {
                Some(e)
            } else {
                current.source()
            };
        match inner {
            Some(next) => current = next,
            None => return current.to_string(),
        }
    }
}

/// Why connecting to a Streamable HTTP server failed.
pub(super) fn http_connect(url: &str, error: &ClientInitializeError) -> String {
    if let Some(challenge) = error.auth_challenge() {
        return format!(
            "{url} refused the connection as unauthorised ({challenge}); set the credentials it expects in the server's `headers`"
        );
    }
    let cause = match error {
        ClientInitializeError::TransportError { error, .. } => root_cause(error),
        ClientInitializeError::ConnectionClosed(_) => {
            return format!(
                "{url} closed the connection during the MCP handshake; check that it is an MCP Streamable HTTP endpoint (usually ending in /mcp)"
            );
        }
        ClientInitializeError::JsonRpcError(e) => {
            return format!(
                "{url} rejected the MCP handshake: {} (code {})",
                e.message, e.code.0
            );
        }
        other => root_cause(other),
    };
    let lower = cause.to_ascii_lowercase();
    let fix = if lower.contains("refused") {
        "nothing is listening there; start the server or fix the port in `url`"
    } else if lower.contains("dns") || lower.contains("resolve") || lower.contains("lookup") {
        "the host name does not resolve; fix the host in `url`"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the host did not answer; check the address and any firewall"
    } else if lower.contains("certificate") || lower.contains("tls") {
        "the TLS handshake failed; check the certificate or use the right scheme (http/https)"
    } else if lower.contains("404") || lower.contains("405") || lower.contains("not found") {
        "the path is not an MCP endpoint; check the path in `url` (usually /mcp)"
    } else {
        "check that the server is running and `url` is its Streamable HTTP endpoint"
    };
    let url = crate::redact::redact_url(url);
    format!("cannot connect to {url}: {cause}; {fix}")
}

/// Why a request on an open connection failed.
pub(super) fn service(error: &ServiceError) -> String {
    match error {
        ServiceError::McpError(e) => {
            format!("the server answered with error {}: {}", e.code.0, e.message)
        }
        ServiceError::TransportSend(e) => format!(
            "the request could not be sent ({}); the connection is being re-established",
            root_cause(e)
        ),
        ServiceError::TransportClosed => {
            "the connection closed before the server answered (did the server exit?)".into()
        }
        ServiceError::Timeout { timeout } => {
            format!("no answer within {}s", timeout.as_secs_f64())
        }
        ServiceError::Cancelled { .. } => "the request was cancelled".into(),
        ServiceError::UnexpectedResponse => {
            "the server answered with the wrong kind of message".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_read_as_sentences_without_type_names() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let transport = rmcp::transport::DynamicTransportError::from_parts(
            "rmcp::transport::worker::WorkerTransport<Foo>",
            std::any::TypeId::of::<()>(),
            Box::new(io),
        );
        let e = ClientInitializeError::TransportError {
            error: transport,
            context: "send initialize request".into(),
        };
        let message = http_connect("http://127.0.0.1:9/mcp", &e);
        assert_eq!(
            message,
            "cannot connect to http://127.0.0.1:9/mcp: Connection refused; nothing is listening there; start the server or fix the port in `url`"
        );
        assert!(!service(&ServiceError::TransportClosed).contains("Transport"));
    }
}
