//! Values between Lua and Redis replies, both ways, as Redis 7.0's `script_lua.c` converts
//! them: a command's reply (in the script's protocol, `redis.setresp`) becomes a Lua value
//! for `redis.call`, and what a script returns becomes the reply of EVAL.

use bytes::BytesMut;
use lockstep_resp::{Decoder, Frame};
use mlua::{Lua, Table, Value};

use crate::reply::{Protocol, Reply};

/// Deeper than this, a returned table is cut short (Redis runs out of Lua stack near there).
const MAX_DEPTH: usize = 1000;

/// Lua's `tostring` of a number (`%.14g`).
pub fn lua_number_text(n: f64) -> String {
    crate::util::format_g(n, 14)
}

/// Redis's `luaPushErrorBuff`: `-CODE message` keeps its code, a bare message gets `ERR`;
/// the table holds `err = "CODE message"` (and, for errors a command already counted,
/// `ignore_error_stats_update = true`).
pub fn error_table(lua: &Lua, text: &[u8], ignore_stats: bool) -> mlua::Result<Value> {
    let (code, msg): (&[u8], &[u8]) = match text.strip_prefix(b"-") {
        Some(rest) => match memchr::memchr(b' ', rest) {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", text),
    };
    let is_newline = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_newline(b)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|b| !is_newline(b))
        .map_or(start, |e| e + 1);
    let msg = &msg[start..end.max(start)];
    let mut err = Vec::with_capacity(code.len() + 1 + msg.len());
    err.extend_from_slice(code);
    err.push(b' ');
    err.extend_from_slice(msg);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(c_str(&err))?)?;
    if ignore_stats {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(Value::Table(t))
}

/// The bytes before the first NUL, as C's string functions see them.
fn c_str(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(end) => &s[..end],
        None => s,
    }
}

/// An error reply `-<text>`; `counted: false` for an error a command inside the script
/// already counted in the error stats.
pub fn write_error(out: &mut Reply, text: &[u8], counted: bool) {
    if counted {
        out.error_bytes(text);
        return;
    }
    out.buf.reserve(text.len() + 3);
    out.buf.extend_from_slice(b"-");
    for &b in text {
        out.buf
            .extend_from_slice(&[if b == b'\r' || b == b'\n' { b' ' } else { b }]);
    }
    out.buf.extend_from_slice(b"\r\n");
}

/// C's cast of a double to `long long` on x86-64: out of range (and NaN) gives the
/// "integer indefinite" value.
fn to_long_long(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn raw_string(t: &Table, key: &str) -> Option<mlua::String> {
    match t.raw_get::<Value>(key) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Redis's `luaReplyToRedisReply`: writes what the script returned. `script_resp` is the
/// protocol the script last asked for, which decides how booleans are written. Nested
/// tables are walked with an explicit stack: a table may contain itself.
pub fn write_reply(out: &mut Reply, script_resp: Protocol, value: &Value, depth: usize) {
    let mut work: Vec<(Value, usize)> = vec![(value.clone(), depth)];
    while let Some((value, depth)) = work.pop() {
        if depth > MAX_DEPTH {
            out.error("ERR reached lua stack limit");
            continue;
        }
        match value {
            Value::String(s) => out.bulk(&s.as_bytes()),
            Value::Boolean(b) => match script_resp {
                Protocol::Resp2 if b => out.int(1),
                Protocol::Resp2 => out.null(),
                Protocol::Resp3 => out.bool(b),
            },
            Value::Integer(n) => out.int(n),
            Value::Number(n) => out.int(to_long_long(n)),
            Value::Table(t) => write_table(out, &t, depth, &mut work),
            _ => out.null(),
        }
    }
}

/// Writes a table's own part of the reply; its elements go on `work`, last first.
fn write_table(out: &mut Reply, t: &Table, depth: usize, work: &mut Vec<(Value, usize)>) {
    if let Some(err) = raw_string(t, "err") {
        let text = c_str(&err.as_bytes()).to_vec();
        // Redis writes `-%s`: a message without a code stays without one.
        let counted = !matches!(
            t.raw_get::<Value>("ignore_error_stats_update"),
            Ok(Value::Boolean(true))
        );
        write_error(out, &text, counted);
        return;
    }
    if let Some(ok) = raw_string(t, "ok") {
        let text: Vec<u8> = c_str(&ok.as_bytes())
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        out.buf.extend_from_slice(b"+");
        out.buf.extend_from_slice(&text);
        out.buf.extend_from_slice(b"\r\n");
        return;
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return out.double(d),
        Ok(Value::Integer(d)) => return out.double(d as f64),
        _ => {}
    }
    if let Some(big) = raw_string(t, "big_number") {
        let text: Vec<u8> = big
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        if out.resp3() {
            out.buf.extend_from_slice(b"(");
            out.buf.extend_from_slice(&text);
            out.buf.extend_from_slice(b"\r\n");
        } else {
            out.bulk(&text);
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Some(format), Some(string)) = (raw_string(&v, "format"), raw_string(&v, "string")) {
            let text = string.as_bytes();
            if out.resp3() {
                let mut fmt = c_str(&format.as_bytes()).to_vec();
                fmt.resize(3, 0);
                out.buf
                    .extend_from_slice(format!("={}\r\n", text.len() + 4).as_bytes());
                out.buf.extend_from_slice(&fmt);
                out.buf.extend_from_slice(b":");
                out.buf.extend_from_slice(&text);
                out.buf.extend_from_slice(b"\r\n");
            } else {
                out.bulk(&text);
            }
            return;
        }
    }
    if let Ok(Value::Table(map)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> =
            map.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in pairs.into_iter().rev() {
            work.push((v, depth + 1));
            work.push((k, depth + 1));
        }
        return;
    }
    if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = set
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        out.set(keys.len());
        for k in keys.into_iter().rev() {
            work.push((k, depth + 1));
        }
        return;
    }
    let mut items = Vec::new();
    for j in 1.. {
        match t.raw_get::<Value>(j) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in items.into_iter().rev() {
        work.push((v, depth + 1));
    }
}

/// A command's reply (written in `resp`) as `redis.call` returns it, and whether it is an
/// error. Output before the reply (the caller's own keyspace notifications) goes on to
/// the caller's reply.
pub fn reply_to_lua(
    lua: &Lua,
    caller: &mut Reply,
    reply: Reply,
    resp: Protocol,
) -> mlua::Result<(Value, bool)> {
    let whole = reply.buf;
    let mut buf = BytesMut::from(&whole[..]);
    let mut decoder = Decoder::default();
    let mut last: Option<(usize, Frame)> = None;
    let mut offset = 0;
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        last = Some((offset, frame));
        offset = whole.len() - buf.len();
    }
    let Some((start, frame)) = last else {
        return Ok((Value::Nil, false));
    };
    caller.buf.extend_from_slice(&whole[..start]);
    let failed = matches!(frame, Frame::Error(_));
    Ok((frame_to_lua(lua, frame, resp)?, failed))
}

/// Redis's `redisProtocolToLuaType`.
fn frame_to_lua(lua: &Lua, frame: Frame, resp: Protocol) -> mlua::Result<Value> {
    Ok(match frame {
        Frame::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(&s)?)?;
            Value::Table(t)
        }
        Frame::Error(e) => {
            let mut text = Vec::with_capacity(e.len() + 1);
            text.push(b'-');
            text.extend_from_slice(&e);
            error_table(lua, &text, true)?
        }
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(&b)?),
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table()?;
            for (j, item) in items.into_iter().enumerate() {
                let v = frame_to_lua(lua, item, resp)?;
                t.raw_set(j + 1, v)?;
            }
            Value::Table(t)
        }
        Frame::Null => match resp {
            Protocol::Resp2 => Value::Boolean(false),
            Protocol::Resp3 => Value::Nil,
        },
        Frame::Map(pairs) => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                let k = frame_to_lua(lua, k, resp)?;
                let v = frame_to_lua(lua, v, resp)?;
                if !matches!(k, Value::Nil) {
                    map.raw_set(k, v)?;
                }
            }
            wrap(lua, "map", Value::Table(map))?
        }
        Frame::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                let k = frame_to_lua(lua, item, resp)?;
                if !matches!(k, Value::Nil) {
                    set.raw_set(k, true)?;
                }
            }
            wrap(lua, "set", Value::Table(set))?
        }
        Frame::Double(d) => wrap(lua, "double", Value::Number(d))?,
        Frame::Boolean(b) => Value::Boolean(b),
        Frame::BigNumber(n) => wrap(lua, "big_number", Value::String(lua.create_string(&n)?))?,
        Frame::Verbatim { format, text } => {
            let v = lua.create_table()?;
            v.raw_set("string", lua.create_string(&text)?)?;
            v.raw_set("format", lua.create_string(format)?)?;
            wrap(lua, "verbatim_string", Value::Table(v))?
        }
        Frame::Attribute { frame, .. } => frame_to_lua(lua, *frame, resp)?,
    })
}

/// `{name = value}`.
fn wrap(lua: &Lua, name: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}
