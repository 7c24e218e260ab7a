//! The `bit` library scripts have in Redis (LuaBitOp 1.0.2): 32-bit operations on Lua
//! numbers, results as signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::raw::mode;

/// LuaBitOp's `barg`: a number's low 32 bits, rounding as adding 2^52 + 2^51 does.
fn bits(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// The error `luaL_checknumber` raises, without its position (the trampoline adds it).
fn bad_argument(name: &str, index: usize, args: &MultiValue) -> String {
    let got = args.get(index - 1).map_or("no value", |v| v.type_name());
    format!("bad argument #{index} to '{name}' (number expected, got {got})")
}

fn arg(name: &str, index: usize, args: &MultiValue) -> Result<u32, String> {
    let n = match args.get(index - 1) {
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()),
        _ => None,
    };
    n.map(bits).ok_or_else(|| bad_argument(name, index, args))
}

type Op = fn(&str, &MultiValue) -> Result<Value, String>;

fn number(b: u32) -> Value {
    Value::Number(b as i32 as f64)
}

fn fold(name: &str, args: &MultiValue, f: fn(u32, u32) -> u32) -> Result<Value, String> {
    let mut b = arg(name, 1, args)?;
    for i in 2..=args.len() {
        b = f(b, arg(name, i, args)?);
    }
    Ok(number(b))
}

fn shift(name: &str, args: &MultiValue, f: fn(u32, u32) -> u32) -> Result<Value, String> {
    let b = arg(name, 1, args)?;
    let n = arg(name, 2, args)? & 31;
    Ok(number(f(b, n)))
}

const OPS: &[(&str, Op)] = &[
    ("tobit", |name, args| Ok(number(arg(name, 1, args)?))),
    ("bnot", |name, args| Ok(number(!arg(name, 1, args)?))),
    ("band", |name, args| fold(name, args, |a, b| a & b)),
    ("bor", |name, args| fold(name, args, |a, b| a | b)),
    ("bxor", |name, args| fold(name, args, |a, b| a ^ b)),
    ("lshift", |name, args| shift(name, args, |b, n| b << n)),
    ("rshift", |name, args| shift(name, args, |b, n| b >> n)),
    ("arshift", |name, args| {
        shift(name, args, |b, n| ((b as i32) >> n) as u32)
    }),
    ("rol", |name, args| {
        shift(name, args, |b, n| b.rotate_left(n))
    }),
    ("ror", |name, args| {
        shift(name, args, |b, n| b.rotate_right(n))
    }),
    ("bswap", |name, args| {
        Ok(number(arg(name, 1, args)?.swap_bytes()))
    }),
];

fn tohex(lua: &Lua, args: &MultiValue) -> Result<Value, String> {
    let mut b = arg("tohex", 1, args)?;
    let mut n: i32 = if args.len() < 2 {
        8
    } else {
        arg("tohex", 2, args)? as i32
    };
    let digits: &[u8; 16] = if n < 0 {
        n = n.wrapping_neg();
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.clamp(0, 8) as usize;
    let mut buf = [0u8; 8];
    for i in (0..n).rev() {
        buf[i] = digits[(b & 15) as usize];
        b >>= 4;
    }
    lua.create_string(&buf[..n])
        .map(Value::String)
        .map_err(|e| e.to_string())
}

/// The `bit` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let bit = lua.create_table()?;
    for &(name, op) in OPS {
        let f = super::sandbox::via_trampoline(lua, move |lua, args| match op(name, &args) {
            Ok(v) => Ok((v, mode::RETURN)),
            Err(msg) => Ok((Value::String(lua.create_string(msg)?), mode::RAISE_AT)),
        })?;
        bit.raw_set(name, f)?;
    }
    let f = super::sandbox::via_trampoline(lua, |lua, args| match tohex(lua, &args) {
        Ok(v) => Ok((v, mode::RETURN)),
        Err(msg) => Ok((Value::String(lua.create_string(msg)?), mode::RAISE_AT)),
    })?;
    bit.raw_set("tohex", f)?;
    Ok(bit)
}
