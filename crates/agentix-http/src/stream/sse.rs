//! A server-sent event decoder that keeps the raw bytes, so complete events can be passed on
//! verbatim.
//!
//! It follows the WHATWG event-stream format. Lines end with LF, CRLF or CR, and a blank line
//! ends an event. A line starting with `:` is a comment, `field: value` drops one space after
//! the colon, and consecutive `data` lines join with LF. A UTF-8 byte order mark at the start
//! is skipped. Unlike a browser, the decoder rejects a line whose field is not `data`, `event`,
//! `id` or `retry`: LLM providers send only those, so any other line is a broken stream whose
//! content would otherwise be dropped in silence.

use bytes::{Bytes, BytesMut};

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// One block of lines ended by a blank line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Block<'a> {
    /// An event with data; `name` is the `event` field when the block has one.
    Event {
        name: Option<&'a str>,
        data: &'a str,
    },
    /// A block without data: comments (keep-alive lines) or fields without `data`.
    Empty,
}

/// A stream that is not a valid event stream, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// Splits received bytes into blocks and hands out the bytes of accepted blocks.
#[derive(Debug)]
pub(crate) struct SseDecoder {
    /// Bytes received and not yet taken by [`SseDecoder::take_accepted`].
    buffer: BytesMut,
    /// Offset in `buffer` of the next line to read.
    scanned: usize,
    /// Offset in `buffer` where the block being read starts.
    block_start: usize,
    /// End of the last block returned by [`SseDecoder::next_block`].
    last_block_end: usize,
    /// End of the bytes the caller accepted for passing on.
    accepted_end: usize,
    name: String,
    data: String,
    has_data: bool,
    /// `name` and `data` belong to a returned block and are cleared on the next call.
    dispatched: bool,
    checked_byte_order_mark: bool,
    /// No more bytes will come, so a CR as the last byte ends its line.
    input_ended: bool,
    max_block_bytes: usize,
}

impl SseDecoder {
    /// Creates a decoder that rejects a block longer than `max_block_bytes`.
    pub(crate) fn new(max_block_bytes: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            scanned: 0,
            block_start: 0,
            last_block_end: 0,
            accepted_end: 0,
            name: String::new(),
            data: String::new(),
            has_data: false,
            dispatched: false,
            checked_byte_order_mark: false,
            input_ended: false,
            max_block_bytes,
        }
    }

    /// Appends received bytes.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        debug_assert!(
            !self.input_ended,
            "no bytes are pushed after the end of input"
        );
        self.buffer.extend_from_slice(chunk);
    }

    /// Notes that the body ended, so [`SseDecoder::next_block`] reads a final CR as a line end.
    pub(crate) fn end_input(&mut self) {
        self.input_ended = true;
    }

    /// Returns the next complete block, or `None` when it needs more bytes.
    ///
    /// # Errors
    ///
    /// Fails on a line that is not UTF-8, a line with an unknown field, or a block longer
    /// than the limit. The bytes of the failed block are never accepted.
    pub(crate) fn next_block(&mut self) -> Result<Option<Block<'_>>, DecodeError> {
        if self.dispatched {
            self.name.clear();
            self.data.clear();
            self.has_data = false;
            self.dispatched = false;
        }
        if !self.checked_byte_order_mark {
            if self.buffer.len() < BYTE_ORDER_MARK.len()
                && BYTE_ORDER_MARK.starts_with(&self.buffer)
            {
                return Ok(None);
            }
            if self.buffer.starts_with(BYTE_ORDER_MARK) {
                self.scanned = BYTE_ORDER_MARK.len();
            }
            self.checked_byte_order_mark = true;
        }

        loop {
            let rest = &self.buffer[self.scanned..];
            let Some(line_len) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                return self.need_more();
            };
            let terminator_len = match rest.get(line_len + 1) {
                _ if rest[line_len] == b'\n' => 1,
                Some(b'\n') => 2,
                Some(_) => 1,
                // A CR as the last byte may be the first half of a CRLF.
                None if self.input_ended => 1,
                None => return self.need_more(),
            };
            let line_start = self.scanned;
            self.scanned += line_len + terminator_len;

            if line_len == 0 {
                self.last_block_end = self.scanned;
                self.block_start = self.scanned;
                self.dispatched = true;
                if !self.has_data {
                    return Ok(Some(Block::Empty));
                }
                let name = (!self.name.is_empty()).then_some(self.name.as_str());
                // Every data line appended a LF; the last one is not part of the data.
                let data = &self.data[..self.data.len() - 1];
                return Ok(Some(Block::Event { name, data }));
            }

            let line = &self.buffer[line_start..line_start + line_len];
            let line = std::str::from_utf8(line).map_err(|_| DecodeError("a line is not UTF-8"))?;
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "data" => {
                    self.data.push_str(value);
                    self.data.push('\n');
                    self.has_data = true;
                }
                "event" => {
                    self.name.clear();
                    self.name.push_str(value);
                }
                "id" | "retry" => {}
                _ => {
                    return Err(DecodeError(
                        "a line is neither a comment nor a `data`, `event`, `id` or `retry` field",
                    ))
                }
            }
        }
    }

    fn need_more(&self) -> Result<Option<Block<'static>>, DecodeError> {
        if self.buffer.len() - self.block_start > self.max_block_bytes {
            return Err(DecodeError("an event is larger than `max_response_bytes`"));
        }
        Ok(None)
    }

    /// Accepts the bytes up to the end of the last returned block for passing on.
    pub(crate) fn accept_block(&mut self) {
        self.accepted_end = self.last_block_end;
    }

    /// Removes and returns the accepted bytes; empty when none are pending.
    pub(crate) fn take_accepted(&mut self) -> Bytes {
        let taken = self.accepted_end;
        if taken == 0 {
            return Bytes::new();
        }
        self.scanned -= taken;
        self.block_start -= taken;
        self.last_block_end -= taken;
        self.accepted_end = 0;
        self.buffer.split_to(taken).freeze()
    }

    /// Returns whether bytes of an unfinished block are buffered.
    pub(crate) fn has_partial_block(&self) -> bool {
        self.buffer.len() > self.block_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events as `(name, data)` pairs.
    type Events = Vec<(Option<String>, String)>;

    /// Decodes `input` fed in chunks of `chunk` bytes, accepting every block.
    fn decode(input: &[u8], chunk: usize) -> Result<(Events, Vec<u8>), DecodeError> {
        let mut decoder = SseDecoder::new(1024);
        let mut events = Vec::new();
        let mut passed_on = Vec::new();
        for piece in input.chunks(chunk) {
            decoder.push(piece);
            while let Some(block) = decoder.next_block()? {
                if let Block::Event { name, data } = block {
                    events.push((name.map(str::to_owned), data.to_owned()));
                }
                decoder.accept_block();
            }
            passed_on.extend_from_slice(&decoder.take_accepted());
        }
        decoder.end_input();
        while let Some(block) = decoder.next_block()? {
            if let Block::Event { name, data } = block {
                events.push((name.map(str::to_owned), data.to_owned()));
            }
            decoder.accept_block();
        }
        passed_on.extend_from_slice(&decoder.take_accepted());
        Ok((events, passed_on))
    }

    #[test]
    fn events_survive_every_chunking() {
        let input = b"event: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: x\r\ndata:y\r\n\r\ndata: z\r\r";
        for chunk in 1..=input.len() {
            let (events, passed_on) = decode(input, chunk).unwrap();
            assert_eq!(
                events,
                [
                    (Some("message_start".to_owned()), "{\"a\":1}".to_owned()),
                    (None, "x\ny".to_owned()),
                    (None, "z".to_owned()),
                ],
                "chunk size {chunk}"
            );
            assert_eq!(passed_on, input, "chunk size {chunk}");
        }
    }

    #[test]
    fn byte_order_mark_is_skipped_but_passed_on() {
        let input = b"\xEF\xBB\xBFdata: 1\n\n";
        for chunk in 1..=input.len() {
            let (events, passed_on) = decode(input, chunk).unwrap();
            assert_eq!(events, [(None, "1".to_owned())]);
            assert_eq!(passed_on, input);
        }
    }

    #[test]
    fn final_carriage_return_waits_for_end_of_input() {
        let mut decoder = SseDecoder::new(1024);
        decoder.push(b"data: z\r\r");
        assert_eq!(decoder.next_block(), Ok(None));
        decoder.end_input();
        let expected = Block::Event {
            name: None,
            data: "z",
        };
        assert_eq!(decoder.next_block(), Ok(Some(expected)));
    }

    #[test]
    fn partial_block_is_held_back() {
        let mut decoder = SseDecoder::new(1024);
        decoder.push(b"data: 1\n\ndata: 2\n");
        assert!(matches!(
            decoder.next_block(),
            Ok(Some(Block::Event { .. }))
        ));
        decoder.accept_block();
        assert_eq!(decoder.next_block(), Ok(None));
        assert!(decoder.has_partial_block());
        assert_eq!(&decoder.take_accepted()[..], b"data: 1\n\n");
        assert_eq!(decoder.take_accepted(), Bytes::new());
    }

    #[test]
    fn unaccepted_block_is_not_passed_on() {
        let mut decoder = SseDecoder::new(1024);
        decoder.push(b"data: 1\n\ndata: 2\n\n");
        assert!(decoder.next_block().unwrap().is_some());
        decoder.accept_block();
        assert!(decoder.next_block().unwrap().is_some());
        assert_eq!(&decoder.take_accepted()[..], b"data: 1\n\n");
    }

    #[test]
    fn unknown_field_is_rejected() {
        for input in [&b"{\"choices\":[]}\n\n"[..], b"dat: x\n\n", b"data x\n\n"] {
            let error = decode(input, input.len()).unwrap_err();
            assert!(error.0.contains("neither a comment"), "{input:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let error = decode(b"data: \xFF\xFE\n\n", 4).unwrap_err();
        assert_eq!(error.0, "a line is not UTF-8");
    }

    #[test]
    fn oversized_event_is_rejected() {
        let mut decoder = SseDecoder::new(8);
        decoder.push(b"data: 12");
        assert_eq!(decoder.next_block(), Ok(None));
        decoder.push(b"345");
        let error = decoder.next_block().unwrap_err();
        assert!(error.0.contains("max_response_bytes"), "{error:?}");
    }

    #[test]
    fn fields_without_data_make_an_empty_block() {
        let mut decoder = SseDecoder::new(1024);
        decoder.push(b"event: ping\nid: 7\nretry: 10\n\n");
        assert_eq!(decoder.next_block(), Ok(Some(Block::Empty)));
        decoder.push(b"data: after\n\n");
        let expected = Block::Event {
            name: None,
            data: "after",
        };
        assert_eq!(decoder.next_block(), Ok(Some(expected)));
    }
}
