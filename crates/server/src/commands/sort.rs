//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted by their numeric
//! value, as strings (ALPHA), or by the values of other keys (BY pattern, hash fields with
//! `->`), limited (LIMIT), replaced by other keys' values (GET), answered or stored as a
//! list (STORE), all as Redis 7.0's `sort.c` does it.
//!
//! Orders that clients can see follow Redis's algorithms: a full sort is stable (glibc's
//! `qsort` is a merge sort), a sort with BY and a LIMIT is Redis's partial quicksort
//! (`sort::pqsort`), ALPHA compares as `strcoll` in the C.UTF-8 locale (bytes, up to the
//! first NUL) unless the result is stored (whole bytes). Numbers are read as `strtod`
//! reads them. Like Redis, SORT turns a listpack sorted set into a skiplist.

mod pqsort;

use std::cmp::Ordering;

use crate::command::{handler, key_flags, CommandError, CommandResult, Ctx, Done, Entry};
use crate::config::notify;
use crate::errors::{self, c_string};
use crate::keyspace::{DbMut, Sds, Value};
use crate::types::{End, ListValue, ZsetLimits, ZsetValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by name.
pub static HANDLERS: &[Entry] = &[
    Entry {
        getkeys: Some(sort_keys),
        ..handler("sort", sort)
    },
    Entry {
        getkeys: Some(sort_ro_keys),
        ..handler("sort_ro", sort_ro)
    },
];

/// Redis's `sortGetKeys`: the sorted key, and the last STORE destination. Options are
/// skipped with the arguments Redis expects them to take (LIMIT two, GET and BY one),
/// whatever they hold; a STORE's destination is looked at as an option in turn.
fn sort_keys(argv: &[&[u8]]) -> Vec<(usize, u32)> {
    let mut keys = vec![(1, key_flags::RO | key_flags::ACCESS)];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let opt = c_string(argv[i]);
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("limit") {
            i += 2;
        } else if is("store") && i + 1 < argv.len() {
            store = Some(i + 1);
        } else if is("get") || is("by") {
            i += 1;
        }
        i += 1;
    }
    keys.extend(store.map(|at| (at, key_flags::OW | key_flags::UPDATE)));
    keys
}

/// Redis's `sortROGetKeys`: the sorted key alone.
fn sort_ro_keys(_argv: &[&[u8]]) -> Vec<(usize, u32)> {
    vec![(1, key_flags::RO | key_flags::ACCESS)]
}

/// SORT's options, as Redis reads them: in any order, later ones overriding earlier ones.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// BY a pattern without `*`: nothing to sort by. Once set it stays set, as in Redis.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
}

/// Reads the options after the key; STORE only when `can_store`. Options are compared as
/// C strings.
fn parse_options<'a>(argv: &[&'a [u8]], can_store: bool) -> Result<Options<'a>, CommandError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let opt = c_string(argv[j]);
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("asc") {
            o.desc = false;
        } else if is("desc") {
            o.desc = true;
        } else if is("alpha") {
            o.alpha = true;
        } else if is("limit") && left >= 2 {
            o.limit_start = parse_i64(argv[j + 1]).ok_or(errors::NOT_INTEGER)?;
            o.limit_count = parse_i64(argv[j + 2]).ok_or(errors::NOT_INTEGER)?;
            j += 2;
        } else if can_store && is("store") && left >= 1 {
            o.store = Some(argv[j + 1]);
            j += 1;
        } else if is("by") && left >= 1 {
            o.by = Some(argv[j + 1]);
            if !c_string(argv[j + 1]).contains(&b'*') {
                o.dont_sort = true;
            }
            j += 1;
        } else if is("get") && left >= 1 {
            o.gets.push(argv[j + 1]);
            j += 1;
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` of the
/// pattern is replaced by the element to name a key, whose string value is the answer, or
/// with `->field` after the `*`, that field of the hash at the key. `None` for a missing
/// key or field, another type, or a pattern without `*`. The pattern is read as C reads
/// it up to where C stops (a NUL), the key and field are taken from the whole argument.
fn lookup_by_pattern(db: &mut DbMut, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    let cpattern = c_string(pattern);
    if cpattern == b"#" {
        return Some(element.to_vec());
    }
    let star = memchr::memchr(b'*', cpattern)?;
    let after_star = &cpattern[star + 1..];
    let field = memchr::memmem::find(after_star, b"->")
        .filter(|&arrow| arrow + 2 < after_star.len())
        .map(|arrow| &pattern[star + 1 + arrow + 2..]);
    let postfix_end = match field {
        Some(f) => pattern.len() - f.len() - 2,
        None => pattern.len(),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    let entry = db.get(&key)?;
    match (field, &entry.value) {
        (Some(field), Value::Hash(hash)) => hash.get(field).map(|v| v.to_vec()),
        (None, value) => {
            let mut scratch = itoa::Buffer::new();
            value.string_bytes(&mut scratch).map(<[u8]>::to_vec)
        }
        (Some(_), _) => None,
    }
}

/// Redis's numeric reading of a sort weight: `strtod` over the text up to a NUL, which must
/// be used up entirely, without NaN or a range error (an overflow, or a decimal number too
/// small to be a normal double).
fn parse_weight(text: &[u8]) -> Option<f64> {
    let text = c_string(text);
    let (value, used, erange) = crate::types::zset::strtod(text);
    let digits = text.trim_ascii_start();
    let digits = digits
        .strip_prefix(b"-")
        .or(digits.strip_prefix(b"+"))
        .unwrap_or(digits);
    let hex = digits.len() > 1 && digits[0] == b'0' && digits[1].eq_ignore_ascii_case(&b'x');
    let tiny = value != 0.0 && value.abs() < f64::MIN_POSITIVE && !hex;
    (used == text.len() && !erange && !tiny && !value.is_nan()).then_some(value)
}

/// One element being sorted, with what it is compared by.
struct Item {
    element: Sds,
    score: f64,
    weight: Option<Vec<u8>>,
}

/// How two items compare (Redis's `sortCompare`).
struct Comparison {
    desc: bool,
    alpha: bool,
    by_pattern: bool,
    /// STORE compares whole bytes; a reply compares as `strcoll` does.
    store: bool,
}

impl Comparison {
    fn strings(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.store {
            a.cmp(b)
        } else {
            c_string(a).cmp(c_string(b))
        }
    }

    fn compare(&self, a: &Item, b: &Item) -> Ordering {
        let order = if !self.alpha {
            match a.score.partial_cmp(&b.score) {
                Some(Ordering::Equal) | None => a.element.as_slice().cmp(b.element.as_slice()),
                Some(order) => order,
            }
        } else if self.by_pattern {
            match (&a.weight, &b.weight) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => self.strings(x, y),
            }
        } else {
            self.strings(&a.element, &b.element)
        };
        if self.desc {
            order.reverse()
        } else {
            order
        }
    }
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]`.
fn sort(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    sort_generic(ctx, argv, true)
}

/// `SORT_RO key ...`: SORT without STORE.
fn sort_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    sort_generic(ctx, argv, false)
}

/// The source's type, for the decisions that depend on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    List,
    Set,
    ZSet,
}

fn sort_generic(ctx: &mut Ctx, argv: &[&[u8]], can_store: bool) -> CommandResult {
    let mut o = parse_options(argv, can_store)?;
    let key = argv[1];
    let (mut db, out) = ctx.db_out();
    let source = match db.get(key).map(|e| e.value) {
        None | Some(Value::List(_)) => Source::List,
        Some(Value::Set(_)) => Source::Set,
        Some(Value::ZSet(_)) => Source::ZSet,
        Some(_) => return Err(errors::WRONGTYPE.into()),
    };
    // A set has no order of its own: stored or scripted results are sorted as strings.
    if o.dont_sort
        && source == Source::Set
        && (o.store.is_some() || crate::scripting::declared_keys().is_some())
    {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    if source == Source::ZSet {
        to_skiplist(&mut db, key);
    }
    let len = match db.peek(key).map(|e| e.value) {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;
    let mut start = o.limit_start.clamp(0, len);
    let count = o.limit_count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    let mut items: Vec<Item> = Vec::with_capacity(len as usize);
    let item = |element: Sds| Item {
        element,
        score: 0.0,
        weight: None,
    };
    match db.peek(key).map(|e| e.value) {
        Some(Value::List(l)) if o.dont_sort && end >= start => {
            let (from, to) = if o.desc {
                (len - 1 - end, len - 1 - start)
            } else {
                (start, end)
            };
            let range = l
                .range(from as usize, to as usize)
                .map(|e| Sds::from_slice(&e));
            items.extend(range.map(item));
            if o.desc {
                items.reverse();
            }
            (start, end) = (0, end - start);
        }
        // Nothing in the range of an unsorted list.
        Some(Value::List(_)) if o.dont_sort => {}
        Some(Value::List(l)) if len > 0 => {
            items.extend(l.iter().map(|e| item(Sds::from_slice(&e))));
        }
        Some(Value::Set(s)) => items.extend(s.iter().map(|m| item(m.to_sds()))),
        Some(Value::ZSet(z)) if o.dont_sort => {
            let wanted = (end - start + 1).max(0) as usize;
            let members = z.iter(o.desc).skip(start.max(0) as usize).take(wanted);
            items.extend(members.map(|(m, _)| item(Sds::from_slice(m))));
            (start, end) = (0, end - start);
        }
        Some(Value::ZSet(z)) => items.extend(z.iter(false).map(|(m, _)| item(Sds::from_slice(m)))),
        _ => {}
    }

    if !o.dont_sort {
        let mut not_a_number = false;
        for it in &mut items {
            let weight = match o.by {
                Some(pattern) => match lookup_by_pattern(&mut db, pattern, &it.element) {
                    Some(w) => w,
                    None => continue,
                },
                None => it.element.to_vec(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.weight = Some(weight);
                }
            } else {
                match parse_weight(&weight) {
                    Some(score) => it.score = score,
                    None => not_a_number = true,
                }
            }
        }
        if not_a_number {
            return Err(errors::SORT_NOT_DOUBLE.into());
        }
        let comparison = Comparison {
            desc: o.desc,
            alpha: o.alpha,
            by_pattern: o.by.is_some(),
            store: o.store.is_some(),
        };
        let mut cmp = |a: &Item, b: &Item| comparison.compare(a, b);
        let n = items.len() as i64;
        if o.by.is_some() && (start != 0 || end != n - 1) {
            if start <= end {
                pqsort::partial_sort(&mut items, start as usize, end as usize, &mut cmp);
            }
        } else {
            items.sort_by(&mut cmp);
        }
    }

    let picked: &[Item] = if start <= end {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let output_len = if o.gets.is_empty() {
        picked.len()
    } else {
        o.gets.len() * picked.len()
    };
    let Some(dest) = o.store else {
        out.array(output_len);
        for it in picked {
            if o.gets.is_empty() {
                out.bulk(&it.element);
            }
            for pattern in &o.gets {
                match lookup_by_pattern(&mut db, pattern, &it.element) {
                    Some(value) => out.bulk(&value),
                    None => out.null(),
                }
            }
        }
        return Ok(Done);
    };
    let mut list = ListValue::new();
    for it in picked {
        if o.gets.is_empty() {
            list.push(End::Tail, &it.element);
        }
        for pattern in &o.gets {
            let value = lookup_by_pattern(&mut db, pattern, &it.element).unwrap_or_default();
            list.push(End::Tail, &value);
        }
    }
    let value = (output_len > 0).then(|| Value::List(Box::new(list)));
    super::store_or_delete(&mut db, dest, value, notify::LIST, "sortstore");
    out.int(output_len as i64);
    Ok(Done)
}

/// Redis converts a sorted set it sorts into a skiplist, for good (OBJECT ENCODING shows
/// it); nothing is signalled.
fn to_skiplist(db: &mut DbMut, key: &[u8]) {
    let Ok(Some(mut zset)) = db.write::<ZsetValue>(key) else {
        return;
    };
    if zset.encoding() == "listpack" {
        let entries: Vec<(Sds, f64)> = zset
            .iter(false)
            .map(|(m, s)| (Sds::from_slice(m), s))
            .collect();
        let skiplist = ZsetLimits {
            max_entries: 0,
            max_value: 0,
        };
        *zset = ZsetValue::from_sorted(entries, skiplist);
    }
    zset.unchanged();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_read_as_strtod_reads_them() {
        assert_eq!(parse_weight(b"1.5"), Some(1.5));
        assert_eq!(parse_weight(b""), Some(0.0));
        assert_eq!(parse_weight(b" 3"), Some(3.0));
        assert_eq!(parse_weight(b"0x10"), Some(16.0));
        assert_eq!(parse_weight(b"1\0x"), Some(1.0));
        assert_eq!(parse_weight(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_weight(b"0e-400"), Some(0.0));
        assert_eq!(parse_weight(b"0x1p-1074"), Some(f64::from_bits(1)));
        for bad in [
            &b"abc"[..],
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-310",
            b"4.9e-324",
            b" ",
        ] {
            assert_eq!(parse_weight(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn alpha_compares_c_strings_unless_storing() {
        let c = |store| Comparison {
            desc: false,
            alpha: true,
            by_pattern: false,
            store,
        };
        let item = |s: &[u8]| Item {
            element: Sds::from_slice(s),
            score: 0.0,
            weight: None,
        };
        let (a, b) = (item(b"a\0c"), item(b"a\0b"));
        assert_eq!(c(false).compare(&a, &b), Ordering::Equal);
        assert_eq!(c(true).compare(&a, &b), Ordering::Greater);
        assert_eq!(
            c(false).compare(&item(b"\xff"), &item(b"z")),
            Ordering::Greater
        );
    }
}
