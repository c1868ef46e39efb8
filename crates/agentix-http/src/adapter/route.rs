//! Reading and rewriting the `model` of a JSON request body.

use std::borrow::Cow;
use std::fmt;

use agentix_core::{BoxError, RouteModel};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::Request;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::LlmAdapter;

impl RouteModel<Request<Bytes>> for LlmAdapter {
    /// Returns the top-level `model` string of the JSON body; `None` when the body is not a
    /// JSON object or has no string `model`.
    fn model(&self, request: &Request<Bytes>) -> Option<String> {
        #[derive(Deserialize)]
        struct ModelField<'a> {
            #[serde(borrow)]
            model: Option<Cow<'a, str>>,
        }
        let fields: ModelField<'_> = serde_json::from_slice(request.body()).ok()?;
        fields.model.map(Cow::into_owned)
    }

    /// Sets the top-level `model` of the JSON body, adding it when absent.
    ///
    /// Every other field keeps its position and its bytes. A `content-length` header, when
    /// present, is updated to the new length.
    ///
    /// # Errors
    ///
    /// Returns a [`SetModelError`] when the body is not a JSON object.
    fn set_model(&self, request: &mut Request<Bytes>, model: &str) -> Result<(), BoxError> {
        let body = rewrite_model(request.body(), model)?;
        if request.headers().contains_key(CONTENT_LENGTH) {
            request
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        *request.body_mut() = body;
        Ok(())
    }
}

/// A request body whose model could not be replaced.
///
/// The message names the requested model and the parse error, never the body.
#[derive(Debug)]
pub struct SetModelError {
    model: String,
    reason: String,
}

impl SetModelError {
    /// Returns the model that was to be set.
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl fmt::Display for SetModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot set the model to `{}`: the request body is not a JSON object ({})",
            self.model, self.reason
        )
    }
}

impl std::error::Error for SetModelError {}

/// Returns `body` with its top-level `model` set to `model`.
fn rewrite_model(body: &[u8], model: &str) -> Result<Bytes, SetModelError> {
    let fields: ObjectFields<'_> = serde_json::from_slice(body).map_err(|e| SetModelError {
        model: model.to_owned(),
        reason: e.to_string(),
    })?;
    let model_json = serde_json::to_string(model).expect("a string always serializes");

    let mut out = Vec::with_capacity(body.len() + model_json.len());
    out.push(b'{');
    let mut has_model = false;
    for (index, (key, value)) in fields.0.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key.as_ref()).expect("a string always serializes");
        out.push(b':');
        if key == "model" {
            has_model = true;
            out.extend_from_slice(model_json.as_bytes());
        } else {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    if !has_model {
        if !fields.0.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"model\":");
        out.extend_from_slice(model_json.as_bytes());
    }
    out.push(b'}');
    Ok(Bytes::from(out))
}

/// The fields of a JSON object in their original order, each value as its raw text.
struct ObjectFields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// A key that borrows from the input unless it contains escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Deserialize<'de> for ObjectFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = ObjectFields<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(key)) = map.next_key()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(ObjectFields(fields))
            }
        }

        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &'static str, with_length: bool) -> Request<Bytes> {
        let mut builder = Request::builder()
            .method("POST")
            .uri("http://h/v1/messages");
        if with_length {
            builder = builder.header(CONTENT_LENGTH, body.len());
        }
        builder.body(Bytes::from_static(body.as_bytes())).unwrap()
    }

    #[test]
    fn model_reads_top_level_field() {
        let adapter = LlmAdapter::new();
        let req = request(
            r#"{"max_tokens":5,"model":"claude-x","metadata":{"model":"no"}}"#,
            false,
        );
        assert_eq!(adapter.model(&req).as_deref(), Some("claude-x"));
    }

    #[test]
    fn model_with_escapes_is_unescaped() {
        let req = request(r#"{"model":"a\"b\u00e9"}"#, false);
        assert_eq!(LlmAdapter::new().model(&req).as_deref(), Some("a\"bé"));
    }

    #[test]
    fn model_missing_or_unreadable_is_none() {
        let adapter = LlmAdapter::new();
        for body in [
            r#"{"messages":[]}"#,
            r#"{"model":7}"#,
            "not json",
            "[]",
            "",
            r#"{"model":null}"#,
        ] {
            assert_eq!(adapter.model(&request(body, false)), None, "{body:?}");
        }
    }

    #[test]
    fn set_model_keeps_other_fields_verbatim() {
        let adapter = LlmAdapter::new();
        let mut req = request(
            r#"{"z":1.50, "model":"old","messages":[{"role":"user","content":"hi \u00e9"}],"a":null}"#,
            true,
        );
        adapter.set_model(&mut req, "new-model").unwrap();
        let expected = r#"{"z":1.50,"model":"new-model","messages":[{"role":"user","content":"hi \u00e9"}],"a":null}"#;
        assert_eq!(std::str::from_utf8(req.body()).unwrap(), expected);
        assert_eq!(
            req.headers()[CONTENT_LENGTH],
            expected.len().to_string().as_str()
        );
        assert_eq!(adapter.model(&req).as_deref(), Some("new-model"));
    }

    #[test]
    fn set_model_adds_missing_model() {
        let adapter = LlmAdapter::new();
        let mut req = request(r#"{"max_tokens":3}"#, false);
        adapter.set_model(&mut req, "m").unwrap();
        assert_eq!(req.body(), r#"{"max_tokens":3,"model":"m"}"#);
        assert!(req.headers().get(CONTENT_LENGTH).is_none());

        let mut empty = request("{}", false);
        adapter.set_model(&mut empty, "m").unwrap();
        assert_eq!(empty.body(), r#"{"model":"m"}"#);
    }

    #[test]
    fn set_model_escapes_model_name() {
        let adapter = LlmAdapter::new();
        let mut req = request(r#"{"model":"x"}"#, false);
        adapter.set_model(&mut req, "we\"ird\n").unwrap();
        assert_eq!(adapter.model(&req).as_deref(), Some("we\"ird\n"));
    }

    #[test]
    fn set_model_rejects_non_object_bodies() {
        let adapter = LlmAdapter::new();
        for body in ["not json", "[1,2]", "\"model\"", "", r#"{"model":"x""#] {
            let mut req = request(body, true);
            let error = adapter.set_model(&mut req, "fallback").unwrap_err();
            let error = error.downcast::<SetModelError>().expect("a SetModelError");
            assert_eq!(error.model(), "fallback");
            assert!(error.to_string().contains("not a JSON object"), "{error}");
            assert_eq!(req.body(), body.as_bytes(), "the body is left unchanged");
        }
    }
}
