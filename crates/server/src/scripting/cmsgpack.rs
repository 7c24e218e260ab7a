//! The `cmsgpack` library scripts have in Redis (lua-cmsgpack 0.4.0): `pack`, `unpack`,
//! `unpack_one` and `unpack_limit`, with its encodings (the smallest integer form, a
//! float when a double survives the trip, arrays for tables keyed 1..n) and its errors.

use mlua::{Lua, MultiValue, Table, Value};

use super::raw::mode;

/// Tables nested deeper than this are packed as nil (circular references survive).
const MAX_NESTING: usize = 16;

/// A `luaL_error`: the trampoline puts the caller's position in front.
fn raise(lua: &Lua, msg: &str) -> mlua::Result<(Value, i64)> {
    Ok((Value::String(lua.create_string(msg)?), mode::RAISE_AT))
}

/// Results for the trampoline to return one by one.
fn spread(lua: &Lua, values: Vec<Value>) -> mlua::Result<(Value, i64)> {
    let t = lua.create_table()?;
    t.raw_set("n", values.len())?;
    for (i, v) in values.into_iter().enumerate() {
        t.raw_set(i + 1, v)?;
    }
    Ok((Value::Table(t), mode::SPREAD))
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Integer(_)) => "number",
        Some(Value::LightUserData(_)) => "userdata",
        Some(v) => v.type_name(),
    }
}

fn arg_error(lua: &Lua, n: usize, func: &str, msg: &str) -> mlua::Result<(Value, i64)> {
    raise(lua, &format!("bad argument #{n} to '{func}' ({msg})"))
}

/// The library table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        super::sandbox::via_trampoline(lua, |lua, args| {
            if args.is_empty() {
                return arg_error(lua, 0, "pack", "MessagePack pack needs input.");
            }
            let mut out = Vec::new();
            for arg in args.iter() {
                encode(arg, 0, &mut out).map_err(mlua::Error::runtime)?;
            }
            Ok((Value::String(lua.create_string(&out)?), mode::RETURN))
        })?,
    )?;
    t.raw_set(
        "unpack",
        super::sandbox::via_trampoline(lua, |lua, args| unpack(lua, &args, "unpack", 0, 0, true))?,
    )?;
    t.raw_set(
        "unpack_one",
        super::sandbox::via_trampoline(lua, |lua, args| {
            let offset = match args.get(1) {
                None | Some(Value::Nil) => 0,
                Some(v) => match number_of(v) {
                    Some(n) => n as i64,
                    None => {
                        let msg = format!("number expected, got {}", type_name(Some(v)));
                        return arg_error(lua, 2, "unpack_one", &msg);
                    }
                },
            };
            unpack(lua, &args, "unpack_one", 1, offset, false)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        super::sandbox::via_trampoline(lua, |lua, args| {
            let Some(limit) = args.get(1).and_then(number_of) else {
                let msg = format!("number expected, got {}", type_name(args.get(1)));
                return arg_error(lua, 2, "unpack_limit", &msg);
            };
            let offset = match args.get(2) {
                None | Some(Value::Nil) => 0,
                Some(v) => match number_of(v) {
                    Some(n) => n as i64,
                    None => {
                        let msg = format!("number expected, got {}", type_name(Some(v)));
                        return arg_error(lua, 3, "unpack_limit", &msg);
                    }
                },
            };
            unpack(lua, &args, "unpack_limit", limit as i64, offset, false)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    // lua-cmsgpack's IS_INT64_EQUIVALENT: finite and equal to its int64 cast.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_finite() && (-LIMIT..LIMIT).contains(&n) && (n as i64) as f64 == n {
        encode_int(n as i64, out);
        return;
    }
    let f = n as f32;
    if f as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(len: usize, fix: u8, fix_max: usize, wide: [u8; 2], out: &mut Vec<u8>) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(wide[0]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(wide[1]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::String(s) => {
            let s = s.as_bytes();
            let len = s.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&s);
        }
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_number(*n as f64, out),
        Value::Number(n) => encode_number(*n, out),
        Value::Table(t) if level < MAX_NESTING => {
            let pairs: Vec<(Value, Value)> = t
                .pairs::<Value, Value>()
                .collect::<mlua::Result<_>>()
                .map_err(|e| e.to_string())?;
            let mut max = 0f64;
            let is_array = pairs.iter().all(|(k, _)| {
                let n = match k {
                    Value::Integer(n) => *n as f64,
                    Value::Number(n) => *n,
                    _ => return false,
                };
                if n <= 0.0 || n.is_infinite() || (n as i32) as f64 != n {
                    return false;
                }
                max = max.max(n);
                true
            }) && max as usize == pairs.len();
            if is_array {
                let len = t.raw_len();
                encode_len(len, 0x90, 16, [0xdc, 0xdd], out);
                for i in 1..=len {
                    let item = t.raw_get::<Value>(i).map_err(|e| e.to_string())?;
                    encode(&item, level + 1, out)?;
                }
            } else {
                encode_len(pairs.len(), 0x80, 16, [0xde, 0xdf], out);
                for (k, item) in &pairs {
                    encode(k, level + 1, out)?;
                    encode(item, level + 1, out)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// Why decoding stopped.
enum Stop {
    Missing,
    BadFormat,
    /// A nil or NaN map key, which Lua's `settable` refuses.
    Index(&'static str),
    Lua(mlua::Error),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Lua(e)
    }
}

/// A container being decoded.
enum Open {
    Array {
        t: Table,
        next: usize,
        len: usize,
    },
    Map {
        t: Table,
        left: usize,
        key: Option<Value>,
    },
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Stop> {
        if self.data.len() - self.pos < n {
            return Err(Stop::Missing);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
}

enum Item {
    Value(Value),
    Array(usize),
    Map(usize),
}

fn item(lua: &Lua, c: &mut Cursor) -> Result<Item, Stop> {
    let b = c.take(1)?[0];
    let num = |n: f64| Ok(Item::Value(Value::Number(n)));
    match b {
        0xcc => num(c.be(1)? as f64),
        0xcd => num(c.be(2)? as f64),
        0xce => num(c.be(4)? as f64),
        0xcf => num(c.be(8)? as f64),
        0xd0 => num(c.be(1)? as u8 as i8 as f64),
        0xd1 => num(c.be(2)? as u16 as i16 as f64),
        0xd2 => num(c.be(4)? as u32 as i32 as f64),
        0xd3 => num(c.be(8)? as i64 as f64),
        0xc0 => Ok(Item::Value(Value::Nil)),
        0xc3 => Ok(Item::Value(Value::Boolean(true))),
        0xc2 => Ok(Item::Value(Value::Boolean(false))),
        0xca => num(f32::from_bits(c.be(4)? as u32) as f64),
        0xcb => num(f64::from_bits(c.be(8)?)),
        0xd9..=0xdb => {
            let len = c.be(1 << (b - 0xd9))? as usize;
            let s = c.take(len)?;
            Ok(Item::Value(Value::String(lua.create_string(s)?)))
        }
        0xdc => Ok(Item::Array(c.be(2)? as usize)),
        0xdd => Ok(Item::Array(c.be(4)? as usize)),
        0xde => Ok(Item::Map(c.be(2)? as usize)),
        0xdf => Ok(Item::Map(c.be(4)? as usize)),
        _ if b & 0x80 == 0 => num(b as f64),
        _ if b & 0xe0 == 0xe0 => num(b as i8 as f64),
        _ if b & 0xe0 == 0xa0 => {
            let s = c.take((b & 0x1f) as usize)?;
            Ok(Item::Value(Value::String(lua.create_string(s)?)))
        }
        _ if b & 0xf0 == 0x90 => Ok(Item::Array((b & 0x0f) as usize)),
        _ if b & 0xf0 == 0x80 => Ok(Item::Map((b & 0x0f) as usize)),
        _ => Err(Stop::BadFormat),
    }
}

/// One whole value, containers on an explicit stack (the input may nest deeply).
fn decode_one(lua: &Lua, c: &mut Cursor) -> Result<Value, Stop> {
    let mut open: Vec<Open> = Vec::new();
    loop {
        let mut value = match item(lua, c)? {
            Item::Value(v) => v,
            Item::Array(0) | Item::Map(0) => Value::Table(lua.create_table()?),
            Item::Array(len) => {
                let t = lua.create_table()?;
                open.push(Open::Array { t, next: 1, len });
                continue;
            }
            Item::Map(len) => {
                let t = lua.create_table()?;
                open.push(Open::Map {
                    t,
                    left: len,
                    key: None,
                });
                continue;
            }
        };
        loop {
            let done = match open.last_mut() {
                None => return Ok(value),
                Some(Open::Array { t, next, len }) => {
                    t.raw_set(*next, value)?;
                    *next += 1;
                    *next > *len
                }
                Some(Open::Map { t, left, key }) => match key.take() {
                    None => {
                        *key = Some(value);
                        false
                    }
                    Some(k) => {
                        match &k {
                            Value::Nil => return Err(Stop::Index("table index is nil")),
                            Value::Number(n) if n.is_nan() => {
                                return Err(Stop::Index("table index is NaN"))
                            }
                            _ => {}
                        }
                        t.raw_set(k, value)?;
                        *left -= 1;
                        *left == 0
                    }
                },
            };
            if !done {
                break;
            }
            value = match open.pop() {
                Some(Open::Array { t, .. } | Open::Map { t, .. }) => Value::Table(t),
                None => Value::Nil,
            };
        }
    }
}

/// lua-cmsgpack's `mp_unpack_full`.
fn unpack(
    lua: &Lua,
    args: &MultiValue,
    func: &str,
    limit: i64,
    offset: i64,
    all: bool,
) -> mlua::Result<(Value, i64)> {
    // A limit and an offset of 0 decode everything, as plain unpack does.
    let all = all || (limit == 0 && offset == 0);
    let data = match args.front() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Integer(n)) => n.to_string().into_bytes(),
        Some(Value::Number(n)) => super::convert::lua_number_text(*n).into_bytes(),
        other => {
            let msg = format!("string expected, got {}", type_name(other));
            return arg_error(lua, 1, func, &msg);
        }
    };
    let len = data.len() as i64;
    if offset < 0 || limit < 0 {
        let msg = format!("Invalid request to unpack with offset of {offset} and limit of {len}.");
        return raise(lua, &msg);
    }
    if offset > len {
        return raise(
            lua,
            &format!("Start offset {offset} greater than input length {len}."),
        );
    }
    let limit = if all { i64::MAX } else { limit };
    let mut c = Cursor {
        data: &data,
        pos: offset as usize,
    };
    let mut values = Vec::new();
    while c.pos < data.len() && (values.len() as i64) < limit {
        match decode_one(lua, &mut c) {
            Ok(v) => values.push(v),
            Err(Stop::Missing) => return raise(lua, "Missing bytes in input."),
            Err(Stop::BadFormat) => return raise(lua, "Bad data format in input."),
            Err(Stop::Index(msg)) => {
                return Ok((Value::String(lua.create_string(msg)?), mode::RAISE))
            }
            Err(Stop::Lua(e)) => return Err(e),
        }
    }
    if !all {
        let next = if c.pos == data.len() {
            -1
        } else {
            c.pos as i64
        };
        values.insert(0, Value::Integer(next));
    }
    spread(lua, values)
}
