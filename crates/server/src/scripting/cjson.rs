//! The `cjson` library scripts have in Redis (lua-cjson 2.1.0 with Redis's defaults):
//! `cjson.encode`, `cjson.decode`, `cjson.null`, the configuration functions and
//! `cjson.new`, with lua-cjson's output and its error messages. As in Redis, the
//! configuration is the library's and outlives the script that changes it.

use std::sync::Arc;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;

use super::raw::mode;

/// lua-cjson's `json_config_t`, with Redis's defaults.
#[derive(Clone, Copy, Debug)]
struct Config {
    sparse_convert: i64,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    precision: i64,
    keep_buffer: i64,
    /// 0 off, 1 on, 2 null.
    encode_invalid_numbers: i64,
    decode_invalid_numbers: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            precision: 14,
            keep_buffer: 1,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: 1,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

/// `cjson.null`: a light userdata holding NULL.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    library_with(lua, Shared::default())
}

fn library_with(lua: &Lua, config: Shared) -> mlua::Result<Table> {
    let cjson = lua.create_table()?;
    let cfg = config.clone();
    cjson.raw_set(
        "encode",
        super::sandbox::via_trampoline(lua, move |lua, args| {
            if args.len() != 1 {
                return raise(lua, "bad argument #1 to 'encode' (expected 1 argument)");
            }
            let mut out = Vec::new();
            let config = *cfg.lock();
            match encode(&args[0], &config, &mut out) {
                Ok(()) => Ok((Value::String(lua.create_string(&out)?), mode::RETURN)),
                Err(msg) => raise(lua, &msg),
            }
        })?,
    )?;
    cjson.raw_set(
        "decode",
        super::sandbox::via_trampoline(lua, {
            let cfg = config.clone();
            move |lua, args: MultiValue| {
                if args.len() != 1 {
                    return raise(lua, "bad argument #1 to 'decode' (expected 1 argument)");
                }
                let text = match &args[0] {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(n) => n.to_string().into_bytes(),
                    Value::Number(n) => super::convert::lua_number_text(*n).into_bytes(),
                    other => {
                        let msg = format!(
                            "bad argument #1 to 'decode' (string expected, got {})",
                            other.type_name()
                        );
                        return raise(lua, &msg);
                    }
                };
                let mut parser = Parser {
                    lua,
                    data: &text,
                    pos: 0,
                    depth: 0,
                    config: *cfg.lock(),
                };
                match parser.document() {
                    Ok(v) => Ok((v, mode::RETURN)),
                    Err(Failure::Message(msg)) => raise(lua, &msg),
                    Err(Failure::Lua(e)) => Err(e),
                }
            }
        })?,
    )?;
    configuration(lua, &cjson, &config)?;
    cjson.raw_set(
        "new",
        super::sandbox::via_trampoline(lua, |lua, _| {
            Ok((
                Value::Table(library_with(lua, Shared::default())?),
                mode::RETURN,
            ))
        })?,
    )?;
    cjson.raw_set("null", null())?;
    cjson.raw_set("_NAME", "cjson")?;
    cjson.raw_set("_VERSION", "2.1.0")?;
    Ok(cjson)
}

/// A `luaL_error`: the trampoline puts the caller's position in front.
fn raise(lua: &Lua, msg: &str) -> mlua::Result<(Value, i64)> {
    Ok((Value::String(lua.create_string(msg)?), mode::RAISE_AT))
}

fn number(n: f64, config: &Config, out: &mut Vec<u8>) -> Result<(), String> {
    if n.is_nan() || n.is_infinite() {
        match config.encode_invalid_numbers {
            0 => return Err("Cannot serialise number: must not be NaN or Inf".into()),
            // Printed as C's printf prints them: inf, -inf, nan.
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    let precision = config.precision.clamp(1, 14) as usize;
    out.extend_from_slice(crate::util::format_g(n, precision).as_bytes());
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) => "number",
        other => other.type_name(),
    }
}

/// lua-cjson's `lua_array_length`: the array's length, or `None` for an object.
fn array_length(t: &Table, config: &Config) -> Result<Option<usize>, String> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let k = match k {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if k.floor() != k || k < 1.0 {
            return Ok(None);
        }
        max = max.max(k as usize);
        items += 1;
    }
    let (max_i, items_i) = (max as i64, items as i64);
    if config.sparse_ratio > 0
        && max_i > items_i.saturating_mul(config.sparse_ratio)
        && max_i > config.sparse_safe
    {
        if config.sparse_convert == 0 {
            return Err("Cannot serialise table: excessively sparse array".into());
        }
        return Ok(None);
    }
    Ok(if max > 0 { Some(max) } else { None })
}

/// What is left to write, innermost last: an explicit stack instead of recursion, since
/// a table may nest a thousand deep (or contain itself) and the task's stack is small.
enum Work {
    Value(Value, usize),
    Key(Value),
    Bytes(&'static [u8]),
}

fn encode(v: &Value, config: &Config, out: &mut Vec<u8>) -> Result<(), String> {
    let mut work = vec![Work::Value(v.clone(), 0)];
    while let Some(item) = work.pop() {
        match item {
            Work::Bytes(b) => out.extend_from_slice(b),
            Work::Key(k) => {
                match &k {
                    Value::Integer(n) => {
                        out.push(b'"');
                        number(*n as f64, config, out)?;
                        out.push(b'"');
                    }
                    Value::Number(n) => {
                        out.push(b'"');
                        number(*n, config, out)?;
                        out.push(b'"');
                    }
                    Value::String(s) => string(&s.as_bytes(), out),
                    other => {
                        return Err(format!(
                            "Cannot serialise {}: table key must be a number or string",
                            type_name(other)
                        ))
                    }
                }
                out.push(b':');
            }
            Work::Value(v, depth) => match v {
                Value::String(s) => string(&s.as_bytes(), out),
                Value::Integer(n) => number(n as f64, config, out)?,
                Value::Number(n) => number(n, config, out)?,
                Value::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                Value::Nil => out.extend_from_slice(b"null"),
                Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
                Value::Table(t) => {
                    let depth = depth + 1;
                    if depth as i64 > config.encode_max_depth {
                        return Err(format!("Cannot serialise, excessive nesting ({depth})"));
                    }
                    match array_length(&t, config)? {
                        Some(len) => {
                            out.push(b'[');
                            work.push(Work::Bytes(b"]"));
                            for i in (1..=len).rev() {
                                let item = t.raw_get::<Value>(i).map_err(|e| e.to_string())?;
                                work.push(Work::Value(item, depth));
                                if i > 1 {
                                    work.push(Work::Bytes(b","));
                                }
                            }
                        }
                        None => {
                            out.push(b'{');
                            let pairs: Vec<(Value, Value)> = t
                                .pairs::<Value, Value>()
                                .collect::<mlua::Result<_>>()
                                .map_err(|e| e.to_string())?;
                            work.push(Work::Bytes(b"}"));
                            for (i, (k, item)) in pairs.into_iter().enumerate().rev() {
                                work.push(Work::Value(item, depth));
                                work.push(Work::Key(k));
                                if i > 0 {
                                    work.push(Work::Bytes(b","));
                                }
                            }
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "Cannot serialise {}: type not supported",
                        type_name(&other)
                    ))
                }
            },
        }
    }
    Ok(())
}

enum Failure {
    Message(String),
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(e: mlua::Error) -> Failure {
        Failure::Lua(e)
    }
}

/// A token of lua-cjson's tokenizer, with the offset it starts at.
#[derive(Debug)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Colon,
    Comma,
    End,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    /// An invalid token, with lua-cjson's description.
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(what) => what,
        }
    }
}

struct Parser<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    depth: usize,
    config: Config,
}

impl Parser<'_> {
    /// The byte at `i`, NUL past the end (lua-cjson reads a C string).
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn next_token(&mut self) -> (Token, usize) {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let c = self.at(self.pos);
        let single = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            0 => return (Token::End, start),
            _ => None,
        };
        if let Some(token) = single {
            self.pos += 1;
            return (token, start);
        }
        let rest = &self.data[self.pos.min(self.data.len())..];
        if c == b'"' {
            return self.string_token();
        }
        if c == b'-' || c.is_ascii_digit() {
            if self.config.decode_invalid_numbers == 0 && invalid_number(rest) {
                return (Token::Error("invalid number"), start);
            }
            return self.number_token();
        }
        if rest.starts_with(b"true") {
            self.pos += 4;
            return (Token::Bool(true), start);
        }
        if rest.starts_with(b"false") {
            self.pos += 5;
            return (Token::Bool(false), start);
        }
        if rest.starts_with(b"null") {
            self.pos += 4;
            return (Token::Null, start);
        }
        // With decode_invalid_numbers (Redis's default), the numbers JSON does not
        // have (Inf, NaN, hex).
        if self.config.decode_invalid_numbers != 0
            && matches!(c, b'i' | b'I' | b'n' | b'N')
            && invalid_number(rest)
        {
            return self.number_token();
        }
        (Token::Error("invalid token"), start)
    }

    fn number_token(&mut self) -> (Token, usize) {
        let start = self.pos;
        match strtod(&self.data[start..]) {
            Some((n, used)) => {
                self.pos += used;
                (Token::Num(n), start)
            }
            None => (Token::Error("invalid number"), start),
        }
    }

    fn string_token(&mut self) -> (Token, usize) {
        let start = self.pos;
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return (Token::Error("unexpected end of string"), self.pos),
                b'\\' => {
                    let escaped = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => match self.unicode_escape(&mut s) {
                            Some(()) => continue,
                            None => return (Token::Error("invalid unicode escape code"), self.pos),
                        },
                        _ => return (Token::Error("invalid escape code"), self.pos),
                    };
                    s.push(escaped);
                    self.pos += 2;
                }
                _ => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        (Token::Str(s), start)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.data.get(at..at + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    }

    /// `\uXXXX` (or a surrogate pair of them) at `pos`, appended as UTF-8.
    fn unicode_escape(&mut self, s: &mut Vec<u8>) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut len = 6;
        if (0xDC00..=0xDFFF).contains(&cp) {
            return None;
        }
        if (0xD800..=0xDBFF).contains(&cp) {
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let ch = char::from_u32(cp)?;
        let mut buf = [0u8; 4];
        s.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        self.pos += len;
        Some(())
    }

    fn error(&self, expected: &str, token: &Token, at: usize) -> Failure {
        Failure::Message(format!(
            "Expected {expected} but found {} at character {}",
            token.name(),
            at + 1
        ))
    }

    fn document(&mut self) -> Result<Value, Failure> {
        let (token, at) = self.next_token();
        let value = self.value(token, at)?;
        let (token, at) = self.next_token();
        if !matches!(token, Token::End) {
            return Err(self.error("the end", &token, at));
        }
        Ok(value)
    }

    fn descend(&mut self) -> Result<(), Failure> {
        self.depth += 1;
        if self.depth as i64 > self.config.decode_max_depth {
            return Err(Failure::Message(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.pos
            )));
        }
        Ok(())
    }

    /// The key and colon of an object's next member, after its `{` or `,`.
    fn member_key(&mut self) -> Result<Vec<u8>, Failure> {
        let (token, at) = self.next_token();
        let Token::Str(key) = token else {
            return Err(self.error("object key string", &token, at));
        };
        let (colon, colon_at) = self.next_token();
        if !matches!(colon, Token::Colon) {
            return Err(self.error("colon", &colon, colon_at));
        }
        Ok(key)
    }

    /// A value starting with `token`. Containers are kept on an explicit stack rather
    /// than recursed into: a document may nest a thousand deep.
    fn value(&mut self, mut token: Token, mut at: usize) -> Result<Value, Failure> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            let mut value = match token {
                Token::Str(s) => Value::String(self.lua.create_string(&s)?),
                Token::Num(n) => Value::Number(n),
                Token::Bool(b) => Value::Boolean(b),
                Token::Null => null(),
                Token::ObjBegin => {
                    self.descend()?;
                    let t = self.lua.create_table()?;
                    let save = self.pos;
                    let (next, _) = self.next_token();
                    if matches!(next, Token::ObjEnd) {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        self.pos = save;
                        let key = self.member_key()?;
                        open.push(Open::Object(t, key));
                        (token, at) = self.next_token();
                        continue;
                    }
                }
                Token::ArrBegin => {
                    self.descend()?;
                    let t = self.lua.create_table()?;
                    let (next, next_at) = self.next_token();
                    if matches!(next, Token::ArrEnd) {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        open.push(Open::Array(t, 1));
                        (token, at) = (next, next_at);
                        continue;
                    }
                }
                other => return Err(self.error("value", &other, at)),
            };
            // A value is complete: it goes into its container, which may close too.
            loop {
                match open.last_mut() {
                    None => return Ok(value),
                    Some(Open::Array(t, i)) => {
                        t.raw_set(*i, value)?;
                        *i += 1;
                        let (sep, sep_at) = self.next_token();
                        match sep {
                            Token::ArrEnd => {}
                            Token::Comma => {
                                (token, at) = self.next_token();
                                break;
                            }
                            other => return Err(self.error("comma or array end", &other, sep_at)),
                        }
                    }
                    Some(Open::Object(t, key)) => {
                        t.raw_set(self.lua.create_string(&*key)?, value)?;
                        let (sep, sep_at) = self.next_token();
                        match sep {
                            Token::ObjEnd => {}
                            Token::Comma => {
                                let next_key = self.member_key()?;
                                if let Some(Open::Object(_, key)) = open.last_mut() {
                                    *key = next_key;
                                }
                                (token, at) = self.next_token();
                                break;
                            }
                            other => return Err(self.error("comma or object end", &other, sep_at)),
                        }
                    }
                }
                // The container closed: it is the value now.
                self.depth -= 1;
                value = match open.pop() {
                    Some(Open::Array(t, _) | Open::Object(t, _)) => Value::Table(t),
                    // `last_mut` found it just above.
                    None => Value::Nil,
                };
            }
        }
    }
}

/// A container being decoded: an array and its next index, or an object and the key
/// of the member being read.
enum Open {
    Array(Table, usize),
    Object(Table, Vec<u8>),
}

/// lua-cjson's `json_is_invalid_number`: a leading `+`, hex, leading zeros, Inf, NaN.
fn invalid_number(s: &[u8]) -> bool {
    let s = match s.first() {
        Some(b'+') => return true,
        Some(b'-') => &s[1..],
        _ => s,
    };
    match s.first() {
        Some(b'0') => matches!(s.get(1), Some(c) if (c | 0x20) == b'x' || c.is_ascii_digit()),
        Some(c) if *c <= b'9' => false,
        _ => {
            let lower: Vec<u8> = s.iter().take(3).map(u8::to_ascii_lowercase).collect();
            lower == b"inf" || lower == b"nan"
        }
    }
}

/// The configuration functions. Each reads and, given arguments, sets its options.
fn configuration(lua: &Lua, cjson: &Table, config: &Shared) -> mlua::Result<()> {
    type Field = fn(&mut Config) -> &mut i64;
    let integers: [(&str, Field, i64, i64); 3] = [
        (
            "encode_max_depth",
            |c| &mut c.encode_max_depth,
            1,
            i32::MAX as i64,
        ),
        (
            "decode_max_depth",
            |c| &mut c.decode_max_depth,
            1,
            i32::MAX as i64,
        ),
        ("encode_number_precision", |c| &mut c.precision, 1, 14),
    ];
    for (name, field, min, max) in integers {
        let cfg = config.clone();
        let f = super::sandbox::via_trampoline(lua, move |lua, args| {
            let mut config = cfg.lock();
            if args.len() > 1 {
                return arg_error(lua, 2, name, "found too many arguments");
            }
            match integer_option(&args, 0, field(&mut config), min, max) {
                Ok(v) => Ok((v, mode::RETURN)),
                Err(msg) => arg_error(lua, msg.0, name, &msg.1),
            }
        })?;
        cjson.raw_set(name, f)?;
    }
    let enums: [(&str, Field, &'static [&'static str]); 3] = [
        ("encode_keep_buffer", |c| &mut c.keep_buffer, &["off", "on"]),
        (
            "encode_invalid_numbers",
            |c| &mut c.encode_invalid_numbers,
            &["off", "on", "null"],
        ),
        (
            "decode_invalid_numbers",
            |c| &mut c.decode_invalid_numbers,
            &["off", "on"],
        ),
    ];
    for (name, field, options) in enums {
        let cfg = config.clone();
        let f = super::sandbox::via_trampoline(lua, move |lua, args| {
            let mut config = cfg.lock();
            if args.len() > 1 {
                return arg_error(lua, 2, name, "found too many arguments");
            }
            match enum_option(lua, &args, 0, field(&mut config), options) {
                Ok(v) => Ok((v, mode::RETURN)),
                Err(msg) => arg_error(lua, msg.0, name, &msg.1),
            }
        })?;
        cjson.raw_set(name, f)?;
    }
    let cfg = config.clone();
    let f = super::sandbox::via_trampoline(lua, move |lua, args| {
        let name = "encode_sparse_array";
        let mut config = cfg.lock();
        if args.len() > 3 {
            return arg_error(lua, 4, name, "found too many arguments");
        }
        let results = (|| -> Result<Vec<Value>, (usize, String)> {
            let convert = enum_option(lua, &args, 0, &mut config.sparse_convert, &["off", "on"])?;
            let ratio = integer_option(&args, 1, &mut config.sparse_ratio, 0, i32::MAX as i64)?;
            let safe = integer_option(&args, 2, &mut config.sparse_safe, 0, i32::MAX as i64)?;
            Ok(vec![convert, ratio, safe])
        })();
        match results {
            Ok(values) => {
                let t = lua.create_table()?;
                t.raw_set("n", values.len())?;
                for (i, v) in values.into_iter().enumerate() {
                    t.raw_set(i + 1, v)?;
                }
                Ok((Value::Table(t), mode::SPREAD))
            }
            Err(msg) => arg_error(lua, msg.0, name, &msg.1),
        }
    })?;
    cjson.raw_set("encode_sparse_array", f)?;
    Ok(())
}

fn arg_error(lua: &Lua, n: usize, func: &str, msg: &str) -> mlua::Result<(Value, i64)> {
    raise(lua, &format!("bad argument #{n} to '{func}' ({msg})"))
}

fn lua_type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(v) => type_name(v),
    }
}

/// lua-cjson's `json_integer_option` for argument `i` (0-based).
fn integer_option(
    args: &MultiValue,
    i: usize,
    setting: &mut i64,
    min: i64,
    max: i64,
) -> Result<Value, (usize, String)> {
    match args.get(i) {
        None | Some(Value::Nil) => {}
        Some(v) => {
            let n = match v {
                Value::Integer(n) => *n,
                Value::Number(n) => *n as i64,
                Value::String(s) => {
                    match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                        Some(n) => n as i64,
                        None => {
                            return Err((i + 1, format!("number expected, got {}", type_name(v))))
                        }
                    }
                }
                other => return Err((i + 1, format!("number expected, got {}", type_name(other)))),
            };
            let n = n as i32 as i64;
            if !(min..=max).contains(&n) {
                // lua-cjson names argument 1 whichever argument it is.
                return Err((1, format!("expected integer between {min} and {max}")));
            }
            *setting = n;
        }
    }
    Ok(Value::Integer(*setting))
}

/// lua-cjson's `json_enum_option` for argument `i` (0-based): a boolean, or one of
/// `options` by name.
fn enum_option(
    lua: &Lua,
    args: &MultiValue,
    i: usize,
    setting: &mut i64,
    options: &[&str],
) -> Result<Value, (usize, String)> {
    match args.get(i) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = *b as i64,
        Some(Value::String(s)) => {
            let name = s.to_str().map(|s| s.to_string()).unwrap_or_default();
            match options.iter().position(|o| *o == name) {
                Some(p) => *setting = p as i64,
                None => return Err((i + 1, format!("invalid option '{name}'"))),
            }
        }
        Some(Value::Integer(n)) => {
            let name = n.to_string();
            match options.iter().position(|o| *o == name) {
                Some(p) => *setting = p as i64,
                None => return Err((i + 1, format!("invalid option '{name}'"))),
            }
        }
        other => {
            return Err((
                i + 1,
                format!("string expected, got {}", lua_type_name(other)),
            ))
        }
    }
    if *setting == 0 || *setting == 1 {
        Ok(Value::Boolean(*setting == 1))
    } else {
        let name = options.get(*setting as usize).copied().unwrap_or("");
        lua.create_string(name)
            .map(Value::String)
            .map_err(|e| (i + 1, e.to_string()))
    }
}

/// C's `strtod` on the front of `s`: the number and how many bytes it used.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let negative = match s.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let lower: Vec<u8> = rest.iter().take(8).map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"infinity") {
        return Some((sign * f64::INFINITY, i + 8));
    }
    if lower.starts_with(b"inf") {
        return Some((sign * f64::INFINITY, i + 3));
    }
    if lower.starts_with(b"nan") {
        return Some((f64::NAN.copysign(sign), i + 3));
    }
    if lower.starts_with(b"0x") && rest.get(2).is_some_and(|c| c.is_ascii_hexdigit()) {
        let digits = rest[2..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        let text = std::str::from_utf8(&rest[2..2 + digits]).ok()?;
        let n = text.bytes().fold(0f64, |acc, d| {
            acc * 16.0 + (d as char).to_digit(16).unwrap_or(0) as f64
        });
        return Some((sign * n, i + 2 + digits));
    }
    let mut j = 0;
    let int_digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    j += int_digits;
    let mut frac_digits = 0;
    if rest.get(j) == Some(&b'.') {
        frac_digits = rest[j + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if int_digits + frac_digits > 0 {
            j += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(rest.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(rest.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let exp_digits = rest[k.min(rest.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if exp_digits > 0 {
            j = k + exp_digits;
        }
    }
    let text = std::str::from_utf8(&rest[..j]).ok()?;
    let text = text.strip_suffix('.').unwrap_or(text);
    let n: f64 = text.parse().ok()?;
    Some((sign * n, i + j))
}
