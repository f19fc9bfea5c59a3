//! OTLP `TracesData` decoding, JSON (the Collector's `otlp_json`, file exporter lines) and
//! protobuf (`otlp_proto`), detected per record. Pure and bounded: bad input is skipped and
//! counted by reason (see [`SkipCounts`]), never a panic.
//!
//! Protobuf is read with a small wire reader over just the fields quell maps, instead of a
//! generated-code dependency: the dozen fields are listed below with their numbers from
//! opentelemetry-proto (`trace/v1/trace.proto`, `common/v1/common.proto`).

use crate::model::otel::{AttrValue, Attributes, SkipCounts, Span};
use std::sync::Arc;

pub const NOT_OTLP: &str = "not OTLP";
pub const TRUNCATED: &str = "truncated protobuf";
pub const NO_IDS: &str = "spans without ids";
pub const UNKNOWN_TYPE: &str = "attributes of unknown type";
pub const CAPPED: &str = "attribute values over 64 KiB (hash kept)";

/// Nesting of arrays and key-value lists kept; deeper values are skipped as unknown.
const MAX_DEPTH: usize = 16;

/// Decodes one record (one `TracesData` batch) in whichever encoding it is.
pub fn decode(bytes: &[u8], spans: &mut Vec<Span>, skipped: &mut SkipCounts) {
    // TracesData field 1 (resource_spans), wire type 2 is tag byte 0x0a, a newline: a record
    // that starts with it and is not a JSON document is protobuf.
    let json_like = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if json_like {
        if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) {
            return decode_json(&doc, spans, skipped);
        }
    }
    if bytes.first() == Some(&0x0a) {
        return decode_proto(bytes, spans, skipped);
    }
    skipped.add(NOT_OTLP);
}

// ---------- JSON ----------

fn decode_json(doc: &serde_json::Value, spans: &mut Vec<Span>, skipped: &mut SkipCounts) {
    let Some(rss) = doc.get("resourceSpans").and_then(|v| v.as_array()) else {
        return skipped.add(NOT_OTLP);
    };
    for rs in rss {
        let resource = Arc::new(json_attrs(rs.get("resource").and_then(|r| r.get("attributes")), skipped));
        let scopes = rs.get("scopeSpans").or_else(|| rs.get("instrumentationLibrarySpans"));
        for ss in scopes.and_then(|v| v.as_array()).into_iter().flatten() {
            for sp in ss.get("spans").and_then(|v| v.as_array()).into_iter().flatten() {
                let text = |k: &str| sp.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                let (trace_id, span_id) = (text("traceId").to_ascii_lowercase(), text("spanId").to_ascii_lowercase());
                if !is_id(&trace_id, 32) || !is_id(&span_id, 16) {
                    skipped.add(NO_IDS);
                    continue;
                }
                let parent = text("parentSpanId").to_ascii_lowercase();
                let status = sp.get("status");
                let code = status.and_then(|s| s.get("code")).map(json_int).unwrap_or(0);
                let code = if code == 0 {
                    // Some writers spell the enum by name.
                    match status.and_then(|s| s.get("code")).and_then(|c| c.as_str()) {
                        Some("STATUS_CODE_ERROR") => 2,
                        _ => 0,
                    }
                } else {
                    code
                };
                spans.push(Span {
                    trace_id,
                    span_id,
                    parent_span_id: (!parent.is_empty()).then_some(parent),
                    name: capped_text(text("name")),
                    start_ns: sp.get("startTimeUnixNano").map(json_int).unwrap_or(0).max(0) as u64,
                    end_ns: sp.get("endTimeUnixNano").map(json_int).unwrap_or(0).max(0) as u64,
                    attributes: json_attrs(sp.get("attributes"), skipped),
                    resource: resource.clone(),
                    error: (code == 2).then(|| {
                        capped_text(status.and_then(|s| s.get("message")).and_then(|m| m.as_str()).unwrap_or(""))
                    }),
                });
            }
        }
    }
}

fn capped_text(s: &str) -> String {
    match AttrValue::text(s.to_owned()) {
        AttrValue::Str(s) => s,
        other => other.display(),
    }
}

fn is_id(hex: &str, len: usize) -> bool {
    hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit()) && hex.bytes().any(|b| b != b'0')
}

/// int64 values are decimal strings in OTLP JSON (numbers are accepted too).
fn json_int(v: &serde_json::Value) -> i64 {
    match v {
        serde_json::Value::String(s) => s.trim().parse().unwrap_or(0),
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|u| u as i64)).unwrap_or(0),
        _ => 0,
    }
}

fn json_attrs(v: Option<&serde_json::Value>, skipped: &mut SkipCounts) -> Attributes {
    let mut out = Vec::new();
    for kv in v.and_then(|v| v.as_array()).into_iter().flatten() {
        let Some(key) = kv.get("key").and_then(|k| k.as_str()) else {
            skipped.add(UNKNOWN_TYPE);
            continue;
        };
        match kv.get("value").and_then(|v| json_value(v, 0)) {
            Some(v) => {
                if matches!(v, AttrValue::Capped { .. }) {
                    skipped.add(CAPPED);
                }
                out.push((key.to_owned(), v));
            }
            None => skipped.add(UNKNOWN_TYPE),
        }
    }
    out
}

fn json_value(v: &serde_json::Value, depth: usize) -> Option<AttrValue> {
    if let Some(s) = v.get("stringValue").and_then(|s| s.as_str()) {
        return Some(AttrValue::text(s.to_owned()));
    }
    if let Some(b) = v.get("boolValue").and_then(|b| b.as_bool()) {
        return Some(AttrValue::Bool(b));
    }
    if let Some(i) = v.get("intValue") {
        return Some(AttrValue::Int(json_int(i)));
    }
    if let Some(d) = v.get("doubleValue") {
        return d.as_f64().or_else(|| d.as_str().and_then(|s| s.parse().ok())).map(AttrValue::Double);
    }
    if let Some(b) = v.get("bytesValue").and_then(|b| b.as_str()) {
        return Some(AttrValue::text(b.to_owned()));
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    if let Some(values) = v.get("arrayValue").map(|a| a.get("values").and_then(|x| x.as_array())) {
        let items: Vec<serde_json::Value> =
            values.into_iter().flatten().filter_map(|x| json_value(x, depth + 1)).map(plain).collect();
        return Some(AttrValue::text(serde_json::Value::Array(items).to_string()).json());
    }
    if let Some(values) = v.get("kvlistValue").map(|a| a.get("values").and_then(|x| x.as_array())) {
        let mut map = serde_json::Map::new();
        for kv in values.into_iter().flatten() {
            if let (Some(k), Some(v)) = (kv.get("key").and_then(|k| k.as_str()), kv.get("value")) {
                if let Some(v) = json_value(v, depth + 1) {
                    map.insert(k.to_owned(), plain(v));
                }
            }
        }
        return Some(AttrValue::text(serde_json::Value::Object(map).to_string()).json());
    }
    None
}

/// A value as plain JSON (inside an array or list).
fn plain(v: AttrValue) -> serde_json::Value {
    match v {
        AttrValue::Str(s) => s.into(),
        AttrValue::Int(i) => i.into(),
        AttrValue::Double(d) => d.into(),
        AttrValue::Bool(b) => b.into(),
        AttrValue::Json(j) => serde_json::from_str(&j).unwrap_or(serde_json::Value::String(j)),
        capped @ AttrValue::Capped { .. } => capped.display().into(),
    }
}

impl AttrValue {
    /// A string that holds an array or list's JSON.
    fn json(self) -> Self {
        match self {
            AttrValue::Str(s) => AttrValue::Json(s),
            other => other,
        }
    }
}

// ---------- protobuf ----------

/// A protobuf field as read: number and value.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    /// A fixed32 field (span flags): not read.
    Fixed32,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first()?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Some(a)
    }

    /// The next field, `None` at the end; `Err` when the message is truncated or malformed.
    fn field(&mut self) -> Result<Option<(u64, Field<'a>)>, ()> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint().ok_or(())?;
        let number = tag >> 3;
        let value = match tag & 7 {
            0 => Field::Varint(self.varint().ok_or(())?),
            1 => Field::Fixed64(u64::from_le_bytes(self.take(8).ok_or(())?.try_into().map_err(|_| ())?)),
            2 => {
                let n = usize::try_from(self.varint().ok_or(())?).map_err(|_| ())?;
                Field::Bytes(self.take(n).ok_or(())?)
            }
            5 => {
                self.take(4).ok_or(())?;
                Field::Fixed32
            }
            _ => return Err(()),
        };
        if number == 0 {
            return Err(());
        }
        Ok(Some((number, value)))
    }
}

/// Calls `on` for every field of a message; `Err` when it is truncated or malformed.
fn fields<'a>(buf: &'a [u8], mut on: impl FnMut(u64, Field<'a>) -> Result<(), ()>) -> Result<(), ()> {
    let mut r = Reader { buf };
    while let Some((n, f)) = r.field()? {
        on(n, f)?;
    }
    Ok(())
}

fn utf8(b: &[u8]) -> String {
    if b.len() > crate::model::otel::MAX_VALUE_BYTES {
        return AttrValue::text(String::from_utf8_lossy(b).into_owned()).display();
    }
    String::from_utf8_lossy(b).into_owned()
}

fn decode_proto(bytes: &[u8], spans: &mut Vec<Span>, skipped: &mut SkipCounts) {
    let mut batch = Vec::new();
    let mut local = SkipCounts::default();
    let whole = fields(bytes, |n, f| match (n, f) {
        (1, Field::Bytes(rs)) => resource_spans(rs, &mut batch, &mut local),
        (1, _) => Err(()),
        _ => Ok(()),
    });
    match whole {
        // A batch that does not parse to its end is not trusted in part.
        Err(()) => skipped.add(TRUNCATED),
        Ok(()) if batch.is_empty() && local.is_empty() => skipped.add(NOT_OTLP),
        Ok(()) => {
            spans.append(&mut batch);
            skipped.merge(&local);
        }
    }
}

fn resource_spans(buf: &[u8], spans: &mut Vec<Span>, skipped: &mut SkipCounts) -> Result<(), ()> {
    let mut resource = Vec::new();
    let mut scopes: Vec<&[u8]> = Vec::new();
    fields(buf, |n, f| {
        match (n, f) {
            // Resource { repeated KeyValue attributes = 1; }
            (1, Field::Bytes(r)) => fields(r, |n, f| match (n, f) {
                (1, Field::Bytes(kv)) => key_value(kv, &mut resource, skipped),
                _ => Ok(()),
            })?,
            (2, Field::Bytes(s)) => scopes.push(s),
            _ => {}
        }
        Ok(())
    })?;
    let resource = Arc::new(resource);
    for s in scopes {
        // ScopeSpans { scope = 1; repeated Span spans = 2; }
        fields(s, |n, f| match (n, f) {
            (2, Field::Bytes(sp)) => span(sp, &resource, spans, skipped),
            _ => Ok(()),
        })?;
    }
    Ok(())
}

fn span(buf: &[u8], resource: &Arc<Attributes>, spans: &mut Vec<Span>, skipped: &mut SkipCounts) -> Result<(), ()> {
    let (mut trace, mut id, mut parent, mut name) = (&[][..], &[][..], &[][..], String::new());
    let (mut start, mut end) = (0u64, 0u64);
    let mut attributes = Vec::new();
    let (mut code, mut message) = (0u64, String::new());
    fields(buf, |n, f| {
        match (n, f) {
            (1, Field::Bytes(b)) => trace = b,
            (2, Field::Bytes(b)) => id = b,
            (4, Field::Bytes(b)) => parent = b,
            (5, Field::Bytes(b)) => name = utf8(b),
            (7, Field::Fixed64(t)) => start = t,
            (8, Field::Fixed64(t)) => end = t,
            (9, Field::Bytes(kv)) => key_value(kv, &mut attributes, skipped)?,
            // Status { string message = 2; StatusCode code = 3; }
            (15, Field::Bytes(st)) => fields(st, |n, f| {
                match (n, f) {
                    (2, Field::Bytes(m)) => message = utf8(m),
                    (3, Field::Varint(c)) => code = c,
                    _ => {}
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    let nonzero = |b: &[u8]| b.iter().any(|&x| x != 0);
    if trace.len() != 16 || id.len() != 8 || !nonzero(trace) || !nonzero(id) {
        skipped.add(NO_IDS);
        return Ok(());
    }
    spans.push(Span {
        trace_id: hex::encode(trace),
        span_id: hex::encode(id),
        parent_span_id: (parent.len() == 8 && nonzero(parent)).then(|| hex::encode(parent)),
        name,
        start_ns: start,
        end_ns: end,
        attributes,
        resource: resource.clone(),
        error: (code == 2).then_some(message),
    });
    Ok(())
}

/// KeyValue { string key = 1; AnyValue value = 2; }
fn key_value(buf: &[u8], out: &mut Attributes, skipped: &mut SkipCounts) -> Result<(), ()> {
    let (mut key, mut value) = (None, None);
    fields(buf, |n, f| {
        match (n, f) {
            (1, Field::Bytes(k)) => key = Some(utf8(k)),
            (2, Field::Bytes(v)) => value = Some(any_value(v, 0)?),
            _ => {}
        }
        Ok(())
    })?;
    match (key, value.flatten()) {
        (Some(k), Some(v)) => {
            if matches!(v, AttrValue::Capped { .. }) {
                skipped.add(CAPPED);
            }
            out.push((k, v));
        }
        _ => skipped.add(UNKNOWN_TYPE),
    }
    Ok(())
}

/// AnyValue { oneof: string 1, bool 2, int64 3, double 4, ArrayValue 5, KeyValueList 6, bytes 7 }.
/// `Ok(None)`: a value of a type quell does not know (or nested too deep).
fn any_value(buf: &[u8], depth: usize) -> Result<Option<AttrValue>, ()> {
    let mut out = None;
    fields(buf, |n, f| {
        out = match (n, f) {
            (1, Field::Bytes(s)) => Some(AttrValue::text(String::from_utf8_lossy(s).into_owned())),
            (2, Field::Varint(b)) => Some(AttrValue::Bool(b != 0)),
            (3, Field::Varint(i)) => Some(AttrValue::Int(i as i64)),
            (4, Field::Fixed64(d)) => Some(AttrValue::Double(f64::from_bits(d))),
            (7, Field::Bytes(b)) => Some(AttrValue::text(hex::encode(b))),
            (5, Field::Bytes(a)) if depth < MAX_DEPTH => {
                let mut items = Vec::new();
                fields(a, |n, f| {
                    if let (1, Field::Bytes(v)) = (n, f) {
                        if let Some(v) = any_value(v, depth + 1)? {
                            items.push(plain(v));
                        }
                    }
                    Ok(())
                })?;
                Some(AttrValue::text(serde_json::Value::Array(items).to_string()).json())
            }
            (6, Field::Bytes(l)) if depth < MAX_DEPTH => {
                let mut kvs = Vec::new();
                let mut ignored = SkipCounts::default();
                fields(l, |n, f| match (n, f) {
                    (1, Field::Bytes(kv)) => key_value(kv, &mut kvs, &mut ignored),
                    _ => Ok(()),
                })?;
                let map: serde_json::Map<String, serde_json::Value> =
                    kvs.into_iter().map(|(k, v)| (k, plain(v))).collect();
                Some(AttrValue::text(serde_json::Value::Object(map).to_string()).json())
            }
            _ => None,
        };
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal protobuf writer for the tests (and the integration tests' records).
    pub fn pb_len(field: u64, body: &[u8], out: &mut Vec<u8>) {
        pb_varint(field << 3 | 2, out);
        pb_varint(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    pub fn pb_varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn kv_str(key: &str, value: &str) -> Vec<u8> {
        let mut any = Vec::new();
        pb_len(1, value.as_bytes(), &mut any);
        let mut kv = Vec::new();
        pb_len(1, key.as_bytes(), &mut kv);
        pb_len(2, &any, &mut kv);
        kv
    }

    fn proto_batch(trace: &[u8], id: &[u8], extra_kv: &[Vec<u8>]) -> Vec<u8> {
        let mut span = Vec::new();
        pb_len(1, trace, &mut span);
        pb_len(2, id, &mut span);
        pb_len(5, b"chat m", &mut span);
        pb_varint(7 << 3 | 1, &mut span);
        span.extend_from_slice(&1_000u64.to_le_bytes());
        pb_varint(8 << 3 | 1, &mut span);
        span.extend_from_slice(&2_000u64.to_le_bytes());
        pb_len(9, &kv_str("gen_ai.operation.name", "chat"), &mut span);
        for kv in extra_kv {
            pb_len(9, kv, &mut span);
        }
        let mut status = Vec::new();
        pb_len(2, b"boom", &mut status);
        pb_varint(3 << 3, &mut status);
        pb_varint(2, &mut status);
        pb_len(15, &status, &mut span);
        let mut scope = Vec::new();
        pb_len(2, &span, &mut scope);
        let mut resource = Vec::new();
        pb_len(1, &kv_str("service.name", "svc"), &mut resource);
        let mut rs = Vec::new();
        pb_len(1, &resource, &mut rs);
        pb_len(2, &scope, &mut rs);
        let mut td = Vec::new();
        pb_len(1, &rs, &mut td);
        td
    }

    fn run(bytes: &[u8]) -> (Vec<Span>, SkipCounts) {
        let (mut spans, mut skipped) = (Vec::new(), SkipCounts::default());
        decode(bytes, &mut spans, &mut skipped);
        (spans, skipped)
    }

    #[test]
    fn json_batch_with_every_value_variant() {
        let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k8s.pod.name","value":{"stringValue":"p-0"}}]},
          "scopeSpans":[{"scope":{},"spans":[{"traceId":"0AF7651916CD43DD8448EB211C80319C","spanId":"b7ad6b7169203331",
          "name":"chat m","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",
          "attributes":[{"key":"s","value":{"stringValue":"x"}},{"key":"i","value":{"intValue":"42"}},
          {"key":"d","value":{"doubleValue":1.5}},{"key":"b","value":{"boolValue":true}},
          {"key":"a","value":{"arrayValue":{"values":[{"stringValue":"p"},{"intValue":"1"}]}}},
          {"key":"l","value":{"kvlistValue":{"values":[{"key":"z","value":{"boolValue":false}}]}}},
          {"key":"u","value":{"weirdValue":1}}],
          "status":{"code":2,"message":"bad"}}]}]}]}"#;
        let (spans, skipped) = run(json.as_bytes());
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!(s.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(s.start_ns, 1_700_000_000_000_000_000);
        assert_eq!(s.attr("i"), Some(&AttrValue::Int(42)));
        assert_eq!(s.attr("d"), Some(&AttrValue::Double(1.5)));
        assert_eq!(s.attr("b"), Some(&AttrValue::Bool(true)));
        assert_eq!(s.attr("a"), Some(&AttrValue::Json(r#"["p",1]"#.into())));
        assert_eq!(s.attr("l"), Some(&AttrValue::Json(r#"{"z":false}"#.into())));
        assert_eq!(s.error.as_deref(), Some("bad"));
        assert_eq!(s.resource_first("k8s.pod.name"), Some("p-0"));
        assert_eq!(skipped.0.get(UNKNOWN_TYPE), Some(&1));
    }

    impl Span {
        fn resource_first(&self, k: &str) -> Option<&str> {
            self.resource.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn proto_batch_decodes_like_json() {
        let (spans, skipped) = run(&proto_batch(&[7; 16], &[9; 8], &[]));
        assert!(skipped.is_empty(), "{skipped:?}");
        // A batch whose first length byte is a whitespace byte is still protobuf.
        let mut pad = Vec::new();
        pb_len(1, &[b' '; 30], &mut pad);
        let (more, _) = run(&proto_batch(&[7; 16], &[9; 8], &[pad]));
        assert_eq!(more.len(), 1);
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!(s.trace_id, "07".repeat(16));
        assert_eq!(s.span_id, "09".repeat(8));
        assert_eq!((s.start_ns, s.end_ns), (1_000, 2_000));
        assert_eq!(s.str("gen_ai.operation.name"), Some("chat"));
        assert_eq!(s.error.as_deref(), Some("boom"));
        assert_eq!(s.resource_first("service.name"), Some("svc"));
    }

    #[test]
    fn bad_input_is_counted_never_a_panic() {
        assert_eq!(run(b"hello").1 .0.get(NOT_OTLP), Some(&1));
        assert_eq!(run(b"{\"foo\":1}").1 .0.get(NOT_OTLP), Some(&1));
        assert_eq!(run(b"").1 .0.get(NOT_OTLP), Some(&1));
        let full = proto_batch(&[7; 16], &[9; 8], &[]);
        for cut in 1..full.len() {
            let (spans, skipped) = run(&full[..cut]);
            assert!(spans.is_empty() || skipped.is_empty(), "cut at {cut}");
            assert!(!skipped.is_empty() || !spans.is_empty(), "cut at {cut}: nothing said");
        }
        assert_eq!(run(&full[..full.len() - 3]).1 .0.get(TRUNCATED), Some(&1));
        // Spans without ids.
        let (spans, skipped) = run(&proto_batch(&[], &[9; 8], &[]));
        assert!(spans.is_empty());
        assert_eq!(skipped.0.get(NO_IDS), Some(&1));
        let json = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","spanId":"","name":"x"}]}]}]}"#;
        assert_eq!(run(json.as_bytes()).1 .0.get(NO_IDS), Some(&1));
        // An unknown AnyValue variant (field 9) is counted, the span kept.
        let mut any = Vec::new();
        pb_len(9, b"?", &mut any);
        let mut kv = Vec::new();
        pb_len(1, b"odd", &mut kv);
        pb_len(2, &any, &mut kv);
        let (spans, skipped) = run(&proto_batch(&[7; 16], &[9; 8], &[kv]));
        assert_eq!(spans.len(), 1);
        assert_eq!(skipped.0.get(UNKNOWN_TYPE), Some(&1));
        // Random bytes starting like a batch.
        let mut noise = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f];
        noise.extend(std::iter::repeat_n(0xab, 64));
        assert_eq!(run(&noise).1 .0.get(TRUNCATED), Some(&1));
    }

    #[test]
    fn a_ten_megabyte_value_keeps_only_its_hash() {
        let big = "y".repeat(10 * 1024 * 1024);
        let (spans, skipped) = run(&proto_batch(&[7; 16], &[9; 8], &[kv_str("gen_ai.tool.call.result", &big)]));
        assert_eq!(skipped.0.get(CAPPED), Some(&1));
        assert!(
            matches!(spans[0].attr("gen_ai.tool.call.result"), Some(AttrValue::Capped { len, .. }) if *len == big.len())
        );
        let json = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{}","spanId":"{}","attributes":[{{"key":"v","value":{{"stringValue":"{big}"}}}}]}}]}}]}}]}}"#,
            "1".repeat(32),
            "2".repeat(16)
        );
        let (spans, skipped) = run(json.as_bytes());
        assert_eq!(skipped.0.get(CAPPED), Some(&1));
        assert!(matches!(spans[0].attr("v"), Some(AttrValue::Capped { .. })));
    }
}
