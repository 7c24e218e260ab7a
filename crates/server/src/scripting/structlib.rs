//! The `struct` library scripts have in Redis (Roberto Ierusalimschy's struct 0.2, as
//! Redis ships it): `struct.pack`, `struct.unpack` and `struct.size`. C functions against
//! the Lua C API, as the original, so that argument errors name the function as called.
//!
//! As in `raw`, nothing here holds a value with a destructor across a call that can
//! raise: results are built on the Lua stack, and messages in fixed buffers.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table};

const MAX_INT_SIZE: usize = 32;
/// The strictest alignment of the platform (a double's, 8 on x86-64).
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            endian: if cfg!(target_endian = "big") {
                Endian::Big
            } else {
                Endian::Little
            },
            align: 1,
        }
    }
}

/// A message built without the heap: `parts` joined.
struct Message {
    buf: [u8; 128],
    len: usize,
}

impl Message {
    fn new(parts: &[&[u8]]) -> Message {
        let mut m = Message {
            buf: [0; 128],
            len: 0,
        };
        for part in parts {
            let n = part.len().min(m.buf.len() - 1 - m.len);
            m.buf[m.len..m.len + n].copy_from_slice(&part[..n]);
            m.len += n;
        }
        m
    }
}

/// `luaL_error`: the message with the caller's position in front.
unsafe fn error(l: *mut lua_State, parts: &[&[u8]]) -> ! {
    let m = Message::new(parts);
    ffi::luaL_where(l, 1);
    ffi::lua_pushlstring(l, m.buf.as_ptr().cast(), m.len);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// `luaL_argerror` with a message built from `parts`.
unsafe fn arg_error(l: *mut lua_State, arg: c_int, parts: &[&[u8]]) -> ! {
    let m = Message::new(parts);
    ffi::lua_pushlstring(l, m.buf.as_ptr().cast(), m.len);
    ffi::luaL_argerror(l, arg, ffi::lua_tostring(l, -1));
    unreachable!("luaL_argerror raises")
}

/// A decimal number at the format cursor, or `default`.
unsafe fn get_num(l: *mut lua_State, fmt: &[u8], at: &mut usize, default: usize) -> usize {
    if !fmt.get(*at).is_some_and(u8::is_ascii_digit) {
        return default;
    }
    let mut a: usize = 0;
    while let Some(&d) = fmt.get(*at).filter(|d| d.is_ascii_digit()) {
        let d = (d - b'0') as usize;
        if a > (i32::MAX as usize) / 10 || a * 10 > (i32::MAX as usize) - d {
            error(l, &[b"integral size overflow"]);
        }
        a = a * 10 + d;
        *at += 1;
    }
    a
}

unsafe fn opt_size(l: *mut lua_State, opt: u8, fmt: &[u8], at: &mut usize) -> usize {
    match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' => 8,
        b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => get_num(l, fmt, at, 1),
        b'i' | b'I' => {
            let size = get_num(l, fmt, at, 4);
            if size > MAX_INT_SIZE {
                let mut n = itoa::Buffer::new();
                let n = n.format(size).as_bytes();
                let mut max = itoa::Buffer::new();
                let max = max.format(MAX_INT_SIZE).as_bytes();
                error(
                    l,
                    &[b"integral size ", n, b" is larger than limit of ", max],
                );
            }
            size
        }
        _ => 0,
    }
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

unsafe fn control(l: *mut lua_State, opt: u8, fmt: &[u8], at: &mut usize, h: &mut Header) {
    match opt {
        b' ' => {}
        b'>' => h.endian = Endian::Big,
        b'<' => h.endian = Endian::Little,
        b'!' => {
            let a = get_num(l, fmt, at, MAX_ALIGN);
            if a == 0 || a & (a - 1) != 0 {
                let mut n = itoa::Buffer::new();
                error(
                    l,
                    &[
                        b"alignment ",
                        n.format(a).as_bytes(),
                        b" is not a power of 2",
                    ],
                );
            }
            h.align = a;
        }
        _ => arg_error(l, 1, &[b"invalid format option '", &[opt], b"'"]),
    }
}

/// Appends `bytes` to the result string on top of the stack.
unsafe fn append(l: *mut lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
    ffi::lua_concat(l, 2);
}

fn in_order(bytes: &mut [u8], endian: Endian) {
    let native_little = cfg!(target_endian = "little");
    if (endian == Endian::Little) != native_little {
        bytes.reverse();
    }
}

unsafe fn format_arg(l: *mut lua_State) -> &'static [u8] {
    let mut len = 0;
    let p = ffi::luaL_checklstring(l, 1, &mut len);
    // The format string stays on the stack for the whole call.
    std::slice::from_raw_parts(p.cast(), len)
}

/// `struct.pack(fmt, ...)`.
pub unsafe extern "C-unwind" fn pack(l: *mut lua_State) -> c_int {
    let fmt = format_arg(l);
    let mut h = Header::new();
    let mut arg: c_int = 2;
    let mut total = 0usize;
    let mut at = 0usize;
    // Redis's struct marks the end of the arguments with a nil (which a missing
    // argument then reads as), before its buffer.
    ffi::lua_pushnil(l);
    ffi::lua_pushstring(l, c"".as_ptr());
    // The format stops at a NUL, as a C string does.
    while let Some(&opt) = fmt.get(at).filter(|&&c| c != 0) {
        at += 1;
        let mut size = opt_size(l, opt, fmt, &mut at);
        let pad = to_align(total, &h, opt, size);
        total += pad;
        for _ in 0..pad {
            append(l, b"\0");
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = ffi::luaL_checknumber(l, arg);
                arg += 1;
                let mut value: u64 = if n < 0.0 { (n as i64) as u64 } else { n as u64 };
                let mut buf = [0u8; MAX_INT_SIZE];
                for byte in buf.iter_mut().take(size) {
                    *byte = (value & 0xff) as u8;
                    value >>= 8;
                }
                if h.endian == Endian::Big {
                    buf[..size].reverse();
                }
                append(l, &buf[..size]);
            }
            b'x' => append(l, b"\0"),
            b'f' => {
                let f = ffi::luaL_checknumber(l, arg) as f32;
                arg += 1;
                let mut bytes = f.to_ne_bytes();
                in_order(&mut bytes, h.endian);
                append(l, &bytes);
            }
            b'd' => {
                let d = ffi::luaL_checknumber(l, arg);
                arg += 1;
                let mut bytes = d.to_ne_bytes();
                in_order(&mut bytes, h.endian);
                append(l, &bytes);
            }
            b'c' | b's' => {
                let mut len = 0;
                let p = ffi::luaL_checklstring(l, arg, &mut len);
                arg += 1;
                if size == 0 {
                    size = len;
                }
                if len < size {
                    ffi::luaL_argerror(l, arg, c"string too short".as_ptr());
                }
                let s = std::slice::from_raw_parts(p.cast::<u8>(), size);
                append(l, s);
                if opt == b's' {
                    append(l, b"\0");
                    size += 1;
                }
            }
            _ => control(l, opt, fmt, &mut at, &mut h),
        }
        total += size;
    }
    1
}

fn get_integer(bytes: &[u8], endian: Endian, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let mut push = |b: u8| {
        v = (v << 8) | b as u64;
    };
    if endian == Endian::Big {
        bytes.iter().for_each(|&b| push(b));
    } else {
        bytes.iter().rev().for_each(|&b| push(b));
    }
    if !signed {
        return v as f64;
    }
    let bits = (bytes.len() * 8).wrapping_sub(1) as u32;
    let mask = (!0u64).wrapping_shl(bits);
    if v & mask != 0 {
        v |= mask;
    }
    v as i64 as f64
}

/// `struct.unpack(fmt, data [, pos])`: the values, then the position after them.
pub unsafe extern "C-unwind" fn unpack(l: *mut lua_State) -> c_int {
    let fmt = format_arg(l);
    let mut len = 0;
    let p = ffi::luaL_checklstring(l, 2, &mut len);
    let data = std::slice::from_raw_parts(p.cast::<u8>(), len);
    let pos = ffi::luaL_optinteger(l, 3, 1) as usize;
    if pos == 0 {
        ffi::luaL_argerror(l, 3, c"offset must be 1 or greater".as_ptr());
    }
    let mut pos = pos.wrapping_sub(1);
    let mut n: c_int = 0;
    let mut h = Header::new();
    let mut at = 0usize;
    while let Some(&opt) = fmt.get(at).filter(|&&c| c != 0) {
        at += 1;
        let mut size = opt_size(l, opt, fmt, &mut at);
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if !(size <= len && pos <= len - size) {
            ffi::luaL_argerror(l, 2, c"data string too short".as_ptr());
        }
        ffi::luaL_checkstack(l, 2, c"too many results".as_ptr());
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = get_integer(&data[pos..pos + size], h.endian, opt.is_ascii_lowercase());
                ffi::lua_pushnumber(l, v);
                n += 1;
            }
            b'x' => {}
            b'f' => {
                let mut bytes = [0u8; 4];
                bytes.copy_from_slice(&data[pos..pos + 4]);
                in_order(&mut bytes, h.endian);
                ffi::lua_pushnumber(l, f32::from_ne_bytes(bytes) as f64);
                n += 1;
            }
            b'd' => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&data[pos..pos + 8]);
                in_order(&mut bytes, h.endian);
                ffi::lua_pushnumber(l, f64::from_ne_bytes(bytes));
                n += 1;
            }
            b'c' => {
                if size == 0 {
                    if n == 0 || ffi::lua_isnumber(l, -1) == 0 {
                        error(l, &[b"format 'c0' needs a previous size"]);
                    }
                    size = ffi::lua_tonumber(l, -1) as usize;
                    ffi::lua_pop(l, 1);
                    n -= 1;
                    if !(size <= len && pos <= len - size) {
                        ffi::luaL_argerror(l, 2, c"data string too short".as_ptr());
                    }
                }
                ffi::lua_pushlstring(l, data[pos..].as_ptr().cast(), size);
                n += 1;
            }
            b's' => {
                let Some(end) = memchr::memchr(0, &data[pos..]) else {
                    error(l, &[b"unfinished string in data"]);
                };
                size = end + 1;
                ffi::lua_pushlstring(l, data[pos..].as_ptr().cast(), end);
                n += 1;
            }
            _ => control(l, opt, fmt, &mut at, &mut h),
        }
        pos = pos.wrapping_add(size);
    }
    ffi::lua_pushinteger(l, pos.wrapping_add(1) as ffi::lua_Integer);
    n + 1
}

/// `struct.size(fmt)`.
pub unsafe extern "C-unwind" fn size(l: *mut lua_State) -> c_int {
    let fmt = format_arg(l);
    let mut h = Header::new();
    let mut pos = 0usize;
    let mut at = 0usize;
    while let Some(&opt) = fmt.get(at).filter(|&&c| c != 0) {
        at += 1;
        let size = opt_size(l, opt, fmt, &mut at);
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            ffi::luaL_argerror(l, 1, c"option 's' has no fixed size".as_ptr());
        } else if opt == b'c' && size == 0 {
            ffi::luaL_argerror(l, 1, c"option 'c0' has no fixed size".as_ptr());
        }
        // Letters that are not options count for nothing here.
        if !opt.is_ascii_alphanumeric() {
            control(l, opt, fmt, &mut at, &mut h);
        }
        pos += size;
    }
    ffi::lua_pushinteger(l, pos as ffi::lua_Integer);
    1
}

/// The `struct` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // SAFETY: these follow the Lua C API's rules (see the module comment).
    unsafe {
        t.raw_set("pack", lua.create_c_function(pack)?)?;
        t.raw_set("unpack", lua.create_c_function(unpack)?)?;
        t.raw_set("size", lua.create_c_function(size)?)?;
    }
    Ok(t)
}
