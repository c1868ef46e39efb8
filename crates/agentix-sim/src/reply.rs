//! The reply the simulated model generates, independent of wire format.
//!
//! Both formats render the same [`Reply`]: the JSON path as one body, the streaming path as
//! a sequence of server-sent events built from [`Reply::text_chunks`].

use crate::format::{tokens_for_chars, ChatRequest};

/// Words the default reply cycles through, one token each.
const WORDS: [&str; 8] = [
    "Simulated",
    "reply",
    "from",
    "the",
    "Agentix",
    "test",
    "provider",
    "model.",
];

/// One generated reply with its usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// Per-server sequence number, used to build unique ids.
    pub(crate) sequence: u64,
    pub(crate) model: String,
    /// Unix time in seconds, as OpenAI's `created`.
    pub(crate) created: u64,
    pub(crate) text: String,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    /// Generation stopped at the request's `max_tokens`.
    pub(crate) truncated: bool,
}

/// Reply settings taken from the scripted step and the server options.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReplyOptions<'a> {
    /// Fixed reply text, in place of the generated words.
    pub(crate) text: Option<&'a str>,
    /// Usage reported verbatim as `(input, output)`.
    pub(crate) usage: Option<(u64, u64)>,
    /// Tokens generated when neither `text` nor `max_tokens` limits the reply.
    pub(crate) default_tokens: u64,
}

impl Reply {
    /// Generates the reply to `request`.
    ///
    /// The default text has `default_tokens` words, one token each, cut to `max_tokens`. A
    /// fixed text counts four characters per token and is cut to `max_tokens * 4`
    /// characters. Fixed usage replaces the counted numbers but leaves the text as it is.
    pub(crate) fn generate(
        request: &ChatRequest,
        options: ReplyOptions<'_>,
        sequence: u64,
        created: u64,
    ) -> Reply {
        let cap = request.max_tokens.unwrap_or(u64::MAX);
        let (text, output_tokens, truncated) = match options.text {
            Some(text) => {
                let tokens = tokens_for_chars(text.chars().count());
                if tokens > cap {
                    let kept_chars = usize::try_from(cap.saturating_mul(4)).unwrap_or(usize::MAX);
                    (text.chars().take(kept_chars).collect(), cap, true)
                } else {
                    (text.to_owned(), tokens, false)
                }
            }
            None => {
                let tokens = options.default_tokens.min(cap);
                (
                    default_text(tokens),
                    tokens,
                    tokens < options.default_tokens,
                )
            }
        };
        let (input_tokens, output_tokens) = options
            .usage
            .unwrap_or((request.input_tokens, output_tokens));
        Reply {
            sequence,
            model: request.model.clone(),
            created,
            text,
            input_tokens,
            output_tokens,
            truncated,
        }
    }

    /// Splits the text into word-sized pieces, each keeping its trailing space, for
    /// streaming deltas.
    pub(crate) fn text_chunks(&self) -> impl Iterator<Item = &str> {
        self.text.split_inclusive(' ')
    }
}

fn default_text(tokens: u64) -> String {
    let words = usize::try_from(tokens).unwrap_or(usize::MAX);
    let mut text = String::new();
    for word in WORDS.iter().cycle().take(words) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(max_tokens: Option<u64>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            max_tokens,
            input_tokens: 7,
            stream: false,
            stream_usage: false,
        }
    }

    fn options(default_tokens: u64) -> ReplyOptions<'static> {
        ReplyOptions {
            default_tokens,
            ..ReplyOptions::default()
        }
    }

    #[test]
    fn default_reply_has_one_word_per_token() {
        let reply = Reply::generate(&request(None), options(10), 1, 0);
        assert_eq!(reply.text.split(' ').count(), 10);
        assert_eq!(reply.output_tokens, 10);
        assert_eq!(reply.input_tokens, 7);
        assert!(!reply.truncated);
    }

    #[test]
    fn default_reply_stops_at_max_tokens() {
        let reply = Reply::generate(&request(Some(3)), options(10), 1, 0);
        assert_eq!(reply.text, "Simulated reply from");
        assert_eq!(reply.output_tokens, 3);
        assert!(reply.truncated);
    }

    #[test]
    fn fixed_text_is_cut_to_max_tokens() {
        let opts = ReplyOptions {
            text: Some("abcdefghijkl"),
            ..options(10)
        };
        let reply = Reply::generate(&request(Some(2)), opts, 1, 0);
        assert_eq!(reply.text, "abcdefgh");
        assert_eq!(reply.output_tokens, 2);
        assert!(reply.truncated);
    }

    #[test]
    fn fixed_usage_is_reported_verbatim() {
        let opts = ReplyOptions {
            usage: Some((1000, 2000)),
            ..options(4)
        };
        let reply = Reply::generate(&request(Some(5)), opts, 1, 0);
        assert_eq!((reply.input_tokens, reply.output_tokens), (1000, 2000));
        assert_eq!(reply.text.split(' ').count(), 4);
    }

    #[test]
    fn text_chunks_rebuild_the_text() {
        let reply = Reply::generate(&request(None), options(5), 1, 0);
        let joined: String = reply.text_chunks().collect();
        assert_eq!(joined, reply.text);
        assert_eq!(reply.text_chunks().count(), 5);
    }
}
