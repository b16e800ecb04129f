//! Upstream answer → the result line (contract §5), spelled as the legacy script printed it.

use crate::http::{Failure, Reply};
use crate::pyjson::{self, PyStr, Value};

pub const TIMED_OUT: &str = r#"{"status": "error", "message": "Tool attach request timed out."}"#;
pub const UNREACHABLE: &str =
    r#"{"status": "error", "message": "Failed to contact tool selector API."}"#;
const DEFAULT_SUCCESS_MESSAGE: &str = "Tools updated successfully.";

/// The kind of line a call produced, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Success,
    Error,
    Timeout,
}

pub fn from_reply(reply: &Reply) -> (String, Kind) {
    let body = pyjson::parse_bytes(&reply.body).ok();
    let object = match &body {
        Some(value @ Value::Object(_)) => Some(value),
        _ => None,
    };
    let Some(object) = object else {
        return (http_status_error(reply.status), Kind::Error);
    };
    let succeeded = reply.status == 200 && object.get("success").is_some_and(Value::is_truthy);
    if succeeded {
        let message = object
            .get("message")
            .cloned()
            .unwrap_or_else(|| Value::str(DEFAULT_SUCCESS_MESSAGE));
        let details = object.get("details").cloned().unwrap_or(Value::Null);
        let line = render(vec![
            field("status", Value::str("success")),
            field("message", message),
            field("details", details),
        ]);
        return (line, Kind::Success);
    }
    let message = match object.get("error") {
        Some(error) if error.is_truthy() => error.clone(),
        _ => Value::str(format!("HTTP {}", reply.status)),
    };
    let mut fields = vec![
        field("status", Value::str("error")),
        field("message", message),
    ];
    if let Some(details) = object.get("details").filter(|d| d.is_truthy()) {
        fields.push(field("details", details.clone()));
    }
    (render(fields), Kind::Error)
}

pub fn from_failure(failure: &Failure) -> (String, Kind) {
    match failure {
        Failure::Timeout => (TIMED_OUT.to_owned(), Kind::Timeout),
        Failure::Transport => (UNREACHABLE.to_owned(), Kind::Error),
        Failure::TooLarge => (
            render(vec![
                field("status", Value::str("error")),
                field(
                    "message",
                    Value::str("Tool selector response exceeded the size limit."),
                ),
            ]),
            Kind::Error,
        ),
        // Reported to the caller as a rejection, never as a line; kept total for the type.
        Failure::Closed => (UNREACHABLE.to_owned(), Kind::Error),
    }
}

fn http_status_error(status: u16) -> String {
    format!(r#"{{"status": "error", "message": "HTTP {status}"}}"#)
}

fn field(key: &str, value: Value) -> (PyStr, Value) {
    (PyStr::from(key), value)
}

fn render(fields: Vec<(PyStr, Value)>) -> String {
    pyjson::to_string(&Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: u16, body: &str) -> String {
        from_reply(&Reply {
            status,
            body: body.as_bytes().to_vec(),
        })
        .0
    }

    #[test]
    fn success_keeps_message_and_details_as_sent() {
        assert_eq!(
            line(
                200,
                r#"{"success": true, "message": "ok", "details": {"b": 1, "a": [1.5E3, 12345678901234567890123]}}"#
            ),
            r#"{"status": "success", "message": "ok", "details": {"b": 1, "a": [1500.0, 12345678901234567890123]}}"#
        );
        assert_eq!(
            line(200, r#"{"success": 1, "details": {"x": []}}"#),
            r#"{"status": "success", "message": "Tools updated successfully.", "details": {"x": []}}"#
        );
        assert_eq!(
            line(200, r#"{"success": "yes", "message": null}"#),
            r#"{"status": "success", "message": null, "details": null}"#
        );
    }

    #[test]
    fn falsy_success_and_error_statuses() {
        assert_eq!(
            line(200, r#"{"success": false}"#),
            r#"{"status": "error", "message": "HTTP 200"}"#
        );
        assert_eq!(
            line(
                200,
                r#"{"success": 0, "error": "nope", "details": {"k": "v"}}"#
            ),
            r#"{"status": "error", "message": "nope", "details": {"k": "v"}}"#
        );
        assert_eq!(
            line(500, r#"{"error": "boom", "details": {}}"#),
            r#"{"status": "error", "message": "boom"}"#
        );
        assert_eq!(
            line(500, r#"{"error": null, "details": "a string detail"}"#),
            r#"{"status": "error", "message": "HTTP 500", "details": "a string detail"}"#
        );
        assert_eq!(
            line(422, r#"{"error": {"field": ["bad"]}}"#),
            r#"{"status": "error", "message": {"field": ["bad"]}}"#
        );
        assert_eq!(
            line(201, r#"{"success": true}"#),
            r#"{"status": "error", "message": "HTTP 201"}"#
        );
    }

    #[test]
    fn bodies_that_are_not_a_json_object() {
        for body in ["", "<html>", "[1, 2]", "\"text\"", "{\"a\": 1"] {
            assert_eq!(
                line(502, body),
                r#"{"status": "error", "message": "HTTP 502"}"#,
                "{body}"
            );
        }
    }

    #[test]
    fn failures() {
        assert_eq!(
            from_failure(&Failure::Timeout),
            (TIMED_OUT.to_owned(), Kind::Timeout)
        );
        assert_eq!(from_failure(&Failure::Transport).0, UNREACHABLE);
        assert!(from_failure(&Failure::TooLarge).0.contains("size limit"));
    }
}
