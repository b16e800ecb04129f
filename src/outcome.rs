//! Upstream answer → the result line (BEHAVIOUR.md §5), spelled as the legacy script printed it,
//! and the loop trigger's message (§9).

use crate::http::{Failure, Reply};
use crate::pyjson::{self, PyStr, Value};

pub const TIMED_OUT: &str = r#"{"status": "error", "message": "Tool attach request timed out."}"#;
pub const UNREACHABLE: &str =
    r#"{"status": "error", "message": "Failed to contact tool selector API."}"#;
const DEFAULT_SUCCESS_MESSAGE: &str = "Tools updated successfully.";
/// How many attached tools the loop trigger's message names before it says "and N more".
const NAMED_IN_TRIGGER: usize = 5;

/// The kind of line a call produced, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Success,
    Error,
    Timeout,
}

/// The line for an upstream answer, before it is spelled: the loop trigger may add a key.
pub struct Answer {
    fields: Vec<(PyStr, Value)>,
    kind: Kind,
}

impl Answer {
    pub fn from_reply(reply: &Reply) -> Answer {
        let body = pyjson::parse_bytes(&reply.body).ok();
        let object = match &body {
            Some(value @ Value::Object(_)) => value,
            _ => return Answer::error(Value::str(format!("HTTP {}", reply.status)), None),
        };
        let succeeded = reply.status == 200 && object.get("success").is_some_and(Value::is_truthy);
        if succeeded {
            let message = object
                .get("message")
                .cloned()
                .unwrap_or_else(|| Value::str(DEFAULT_SUCCESS_MESSAGE));
            let details = object.get("details").cloned().unwrap_or(Value::Null);
            return Answer {
                fields: vec![
                    field("status", Value::str("success")),
                    field("message", message),
                    field("details", details),
                ],
                kind: Kind::Success,
            };
        }
        let message = match object.get("error") {
            Some(error) if error.is_truthy() => error.clone(),
            _ => Value::str(format!("HTTP {}", reply.status)),
        };
        let details = object.get("details").filter(|d| d.is_truthy()).cloned();
        Answer::error(message, details)
    }

    fn error(message: Value, details: Option<Value>) -> Answer {
        let mut fields = vec![
            field("status", Value::str("error")),
            field("message", message),
        ];
        if let Some(details) = details {
            fields.push(field("details", details));
        }
        Answer {
            fields,
            kind: Kind::Error,
        }
    }

    /// The names the loop trigger's message lists: only for a success whose `details` is an
    /// object with a non-empty `successful_attachments` list (legacy crashed on any other
    /// `details`; nothing was attached then).
    pub fn attached_tool_names(&self) -> Option<Vec<String>> {
        if self.kind != Kind::Success {
            return None;
        }
        let details = self
            .fields
            .iter()
            .find(|(k, _)| k.as_str() == Some("details"))?;
        let details @ Value::Object(_) = &details.1 else {
            return None;
        };
        match details.get("successful_attachments")? {
            Value::Array(tools) if !tools.is_empty() => {
                Some(tools.iter().map(attachment_name).collect())
            }
            _ => None,
        }
    }

    /// Adds `loop_triggered` as the line's last key, as legacy did.
    pub fn with_loop_triggered(mut self, triggered: bool) -> Answer {
        self.fields
            .push(field("loop_triggered", Value::Bool(triggered)));
        self
    }

    pub fn render(self) -> (String, Kind) {
        (render(self.fields), self.kind)
    }
}

/// Legacy's `tool.get("name") or tool.get("tool_name", "unknown")` where that gave a string; a
/// string entry names itself. Any other value is `unknown`, where legacy crashed or spelled it
/// with Python's `str`.
fn attachment_name(tool: &Value) -> String {
    let text = |value: Option<&Value>| match value {
        Some(Value::Str(s)) => Some(match s {
            PyStr::Utf8(s) => s.clone(),
            PyStr::Wtf16(units) => String::from_utf16_lossy(units),
        }),
        _ => None,
    };
    let name = match tool {
        Value::Object(_) => text(tool.get("name"))
            .filter(|name| !name.is_empty())
            .or_else(|| text(tool.get("tool_name"))),
        Value::Str(_) => text(Some(tool)),
        _ => None,
    };
    name.filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The loop trigger's request body, spelled as `requests`' `json=` spells it (ASCII).
pub fn loop_trigger_body(names: &[String]) -> String {
    let mut listed = names
        .iter()
        .take(NAMED_IN_TRIGGER)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMED_IN_TRIGGER {
        listed.push_str(&format!(" and {} more", names.len() - NAMED_IN_TRIGGER));
    }
    let content = format!(
        "[SYSTEM] Tools have been attached to your toolkit: {listed}. \
         You can now proceed with your task using these tools."
    );
    let message = Value::Object(vec![
        field("role", Value::str("user")),
        field("content", Value::str(content)),
    ]);
    let payload = Value::Object(vec![
        field("messages", Value::Array(vec![message])),
        field("streaming", Value::Bool(false)),
    ]);
    let mut body = String::new();
    pyjson::write_value(&mut body, &payload, true);
    body
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
    }
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
        Answer::from_reply(&Reply {
            status,
            body: body.as_bytes().to_vec(),
        })
        .render()
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

    fn answer(body: &str) -> Answer {
        Answer::from_reply(&Reply {
            status: 200,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn the_loop_trigger_names_attached_tools_as_legacy_did() {
        let names = answer(
            r#"{"success": true, "details": {"successful_attachments": [{"name": "a"}, {"name": "", "tool_name": "b"}, {"id": 1}, "c", {"name": 5}, {"tool_name": null}, 7]}}"#,
        )
        .attached_tool_names();
        let want = ["a", "b", "unknown", "c", "unknown", "unknown", "unknown"];
        assert_eq!(names.unwrap(), want);
        assert_eq!(
            loop_trigger_body(&want.map(String::from)),
            r#"{"messages": [{"role": "user", "content": "[SYSTEM] Tools have been attached to your toolkit: a, b, unknown, c, unknown and 2 more. You can now proceed with your task using these tools."}], "streaming": false}"#
        );
        assert_eq!(
            loop_trigger_body(&["caf\u{e9}".to_owned()]),
            r#"{"messages": [{"role": "user", "content": "[SYSTEM] Tools have been attached to your toolkit: caf\u00e9. You can now proceed with your task using these tools."}], "streaming": false}"#
        );
    }

    #[test]
    fn nothing_to_trigger_for_without_attachments_in_an_object() {
        for body in [
            r#"{"success": true}"#,
            r#"{"success": true, "details": null}"#,
            r#"{"success": true, "details": "text"}"#,
            r#"{"success": true, "details": [{"successful_attachments": [1]}]}"#,
            r#"{"success": true, "details": {"successful_attachments": []}}"#,
            r#"{"success": true, "details": {"successful_attachments": {"a": 1}}}"#,
            r#"{"success": false, "details": {"successful_attachments": [{"name": "a"}]}}"#,
        ] {
            assert_eq!(answer(body).attached_tool_names(), None, "{body}");
        }
    }

    #[test]
    fn loop_triggered_is_the_last_key() {
        let (line, kind) = answer(r#"{"success": true, "message": "m", "details": {}}"#)
            .with_loop_triggered(false)
            .render();
        assert_eq!(
            line,
            r#"{"status": "success", "message": "m", "details": {}, "loop_triggered": false}"#
        );
        assert_eq!(kind, Kind::Success);
    }
}
