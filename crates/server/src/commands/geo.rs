//! Geo commands: GEOADD (NX, XX, CH), GEOPOS, GEODIST, GEOHASH, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms, each reply and
//! error as Redis 7.0's `geo.c` writes them.
//!
//! A geo set is a sorted set whose scores are 52-bit geohashes (`types::geohash`): GEOADD
//! is ZADD with the coordinates turned into scores (it runs ZADD's own handler, as Redis
//! calls `zaddCommand`, so its replies, WRONGTYPE and `zadd` events are ZADD's), and a
//! search scans the score ranges of nine geohash cells, keeps the points inside the shape
//! and sorts them by distance as Redis does (a stable merge sort for all of them, Redis's
//! partial quicksort when COUNT keeps fewer), so equally distant points come in Redis's
//! order. Options are read in Redis's order, because that decides which error a client
//! sees. This module never reaches into the sorted set's layout: it uses `ZsetValue`'s
//! public API only.

use lockstep_resp::encode::write_line;

use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry, Registry};
use crate::config::notify;
use crate::errors::{self, c_string};
use crate::keyspace::{Sds, Value};
use crate::reply::Reply;
use crate::types::geohash::{self, Shape, ShapeKind};
use crate::types::zset::{cmp_entry, ScoreRange};
use crate::types::{zset_limits, ZsetValue};
use crate::util::{parse_f64, parse_i64};

/// The handlers of this family, joined with their metadata (`crates/commands`) by name.
pub static HANDLERS: &[Entry] = &[
    handler("geoadd", geoadd),
    handler("geopos", geopos),
    handler("geodist", geodist),
    handler("geohash", geohash_command),
    handler("georadius", georadius),
    handler("georadius_ro", georadius_ro),
    handler("georadiusbymember", georadiusbymember),
    handler("georadiusbymember_ro", georadiusbymember_ro),
    handler("geosearch", geosearch),
    handler("geosearchstore", geosearchstore),
];

/// True when `arg` is `word` as C's `strcasecmp` sees it (any case, cut at a NUL).
fn is_word(arg: &[u8], word: &str) -> bool {
    c_string(arg).eq_ignore_ascii_case(word.as_bytes())
}

/// `getDoubleFromObjectOrReply`, with `error` in place of the usual one.
fn float(arg: &[u8], error: &'static str) -> Result<f64, CommandError> {
    parse_f64(arg).ok_or_else(|| error.into())
}

/// Redis's `extractLongLatOrReply`: two floats, then the range check.
fn long_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CommandError> {
    let lon = float(lon, errors::NOT_FLOAT)?;
    let lat = float(lat, errors::NOT_FLOAT)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(errors::geo_invalid_pair(lon, lat).into());
    }
    Ok((lon, lat))
}

/// Redis's `extractUnitOrReply`: meters per unit.
fn unit(arg: &[u8]) -> Result<f64, CommandError> {
    let u = c_string(arg);
    let is = |name: &str| u.eq_ignore_ascii_case(name.as_bytes());
    if is("m") {
        Ok(1.0)
    } else if is("km") {
        Ok(1000.0)
    } else if is("ft") {
        Ok(0.3048)
    } else if is("mi") {
        Ok(1609.34)
    } else {
        Err(errors::GEO_UNSUPPORTED_UNIT.into())
    }
}

/// Redis's `extractDistanceOrReply`: a radius and its unit; (radius, meters per unit).
fn radius_arg(radius: &[u8], u: &[u8]) -> Result<(f64, f64), CommandError> {
    let radius = float(radius, errors::GEO_NEED_NUMERIC_RADIUS)?;
    if radius < 0.0 {
        return Err(errors::GEO_RADIUS_NEGATIVE.into());
    }
    Ok((radius, unit(u)?))
}

/// Redis's `extractBoxOrReply`: width, height and unit.
fn box_arg(width: &[u8], height: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CommandError> {
    let w = float(width, errors::GEO_NEED_NUMERIC_WIDTH)?;
    let h = float(height, errors::GEO_NEED_NUMERIC_HEIGHT)?;
    if h < 0.0 || w < 0.0 {
        return Err(errors::GEO_BOX_NEGATIVE.into());
    }
    Ok((w, h, unit(u)?))
}

/// A member's position in a geo set, `None` when it is not there.
fn member_pos(zset: &ZsetValue, member: &[u8]) -> Option<(f64, f64)> {
    zset.score(member).map(geohash::decode_score)
}

/// A coordinate as `addReplyHumanLongDouble` writes it: a bulk string in RESP2, a double
/// in RESP3, both with the digits of `%.17Lf` without trailing zeros.
fn reply_coordinate(out: &mut Reply, d: f64) {
    let text = geohash::format_coordinate(d);
    if out.resp3() {
        write_line(&mut out.buf, b',', text.as_bytes());
    } else {
        out.bulk(text.as_bytes());
    }
}

/// `GEOADD key [NX|XX] [CH] longitude latitude member [...]`: ZADD with each pair of
/// coordinates turned into its score. Every pair is checked before anything is added.
fn geoadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut xx, mut nx) = (false, false);
    let mut longidx = 2;
    while longidx < argv.len() {
        let opt = argv[longidx];
        if is_word(opt, "nx") {
            nx = true;
        } else if is_word(opt, "xx") {
            xx = true;
        } else if !is_word(opt, "ch") {
            break;
        }
        longidx += 1;
    }
    if !(argv.len() - longidx).is_multiple_of(3) || (xx && nx) {
        return Err(errors::SYNTAX.into());
    }
    let scores = argv[longidx..]
        .chunks_exact(3)
        .map(|t| {
            let (lon, lat) = long_lat(t[0], t[1])?;
            Ok(itoa::Buffer::new()
                .format(geohash::encode_score(lon, lat))
                .as_bytes()
                .to_vec())
        })
        .collect::<Result<Vec<Vec<u8>>, CommandError>>()?;
    // ZADD key [options] score member ..., run by ZADD's handler as Redis runs zaddCommand.
    let mut zadd_argv: Vec<&[u8]> = Vec::with_capacity(longidx + scores.len() * 2);
    zadd_argv.push(b"zadd");
    zadd_argv.extend_from_slice(&argv[1..longidx]);
    for (score, triple) in scores.iter().zip(argv[longidx..].chunks_exact(3)) {
        zadd_argv.push(score);
        zadd_argv.push(triple[2]);
    }
    let zadd = Registry::get()
        .lookup(b"zadd")
        .ok_or(CommandError::from(errors::SYNTAX))?;
    (zadd.handler)(ctx, &zadd_argv)
}

/// `GEOPOS key member [member ...]`: each member's [longitude, latitude], or a null array.
fn geopos(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let zset = db.read::<ZsetValue>(argv[1])?;
    out.array(argv.len() - 2);
    for member in &argv[2..] {
        match zset.and_then(|z| member_pos(z, member)) {
            Some((lon, lat)) => {
                out.array(2);
                reply_coordinate(out, lon);
                reply_coordinate(out, lat);
            }
            None => out.null_array(),
        }
    }
    Ok(Done)
}

/// `GEOHASH key member [member ...]`: each member's standard 11-character geohash, or null.
fn geohash_command(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let zset = db.read::<ZsetValue>(argv[1])?;
    out.array(argv.len() - 2);
    for member in &argv[2..] {
        match zset.and_then(|z| member_pos(z, member)) {
            Some((lon, lat)) => out.bulk(&geohash::standard_geohash(lon, lat)),
            None => out.null(),
        }
    }
    Ok(Done)
}

/// `GEODIST key member1 member2 [M|KM|FT|MI]`: the distance with 4 decimals, or null when
/// the key or either member is missing. The unit is checked before the key.
fn geodist(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let to_meter = match argv.len() {
        5 => unit(argv[4])?,
        n if n > 5 => return Err(errors::SYNTAX.into()),
        _ => 1.0,
    };
    let (mut db, out) = ctx.db_out();
    let Some(zset) = db.read::<ZsetValue>(argv[1])? else {
        out.null();
        return Ok(Done);
    };
    match (member_pos(zset, argv[2]), member_pos(zset, argv[3])) {
        (Some((lon1, lat1)), Some((lon2, lat2))) => {
            let d = geohash::distance(lon1, lat1, lon2, lat2) / to_meter;
            out.bulk(geohash::format_distance(d).as_bytes());
        }
        _ => out.null(),
    }
    Ok(Done)
}

/// Which search command runs (the flags of Redis's `georadiusGeneric`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS: around coordinates given by position.
    Coords { store: bool },
    /// GEORADIUSBYMEMBER: around a member given by position.
    Member { store: bool },
    /// GEOSEARCH, or GEOSEARCHSTORE (with `store`).
    Search { store: bool },
}

impl Variant {
    fn accepts_store_option(self) -> bool {
        matches!(
            self,
            Variant::Coords { store: true } | Variant::Member { store: true }
        )
    }

    fn is_search(self) -> bool {
        matches!(self, Variant::Search { .. })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found by a search (Redis's `geoPoint`).
struct Point {
    lon: f64,
    lat: f64,
    /// Meters from the centre, then in the asked unit.
    dist: f64,
    score: f64,
    member: Sds,
}

/// Redis's `sort_gp_asc`.
fn cmp_asc(a: &Point, b: &Point) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

fn cmp_desc(a: &Point, b: &Point) -> i32 {
    -cmp_asc(a, b)
}

/// glibc's `qsort` for arrays it can copy (a merge sort, stable, top-down with the first
/// half the shorter), so that points the comparator calls equal keep their order, and
/// with a comparator that is not a total order (NaN distances) the same outcome.
fn merge_sort(v: Vec<Point>, cmp: fn(&Point, &Point) -> i32) -> Vec<Point> {
    if v.len() <= 1 {
        return v;
    }
    let mut v = v;
    let right = v.split_off(v.len() / 2);
    let left = merge_sort(v, cmp);
    let right = merge_sort(right, cmp);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        if cmp(l, r) <= 0 {
            out.extend(left.next());
        } else {
            out.extend(right.next());
        }
    }
    out.extend(left);
    out.extend(right);
    out
}

/// The points of `zset` inside `shape`, cell by cell (`membersOfAllNeighbors`): a cell
/// equal to the one scanned just before is skipped (huge radii repeat cells; the centre
/// cell is never compared), and with `limit` (COUNT ... ANY) the scan stops once that many
/// points are found.
fn points_in_shape(zset: &ZsetValue, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = shape.areas();
    let mut found: Vec<Point> = Vec::new();
    let full = |found: &Vec<Point>| !found.is_empty() && limit > 0 && found.len() >= limit;
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        let Some(cell) = *cell else { continue };
        if last != 0 && cells[last] == Some(cell) {
            continue;
        }
        if full(&found) {
            break;
        }
        let (min, max) = geohash::cell_scores(cell);
        let range = ScoreRange {
            min,
            min_ex: false,
            max,
            max_ex: true,
        };
        let ranks = zset.score_ranks(&range);
        for (member, score) in zset.iter_from(ranks.start, false).take(ranks.len()) {
            let (lon, lat) = geohash::decode_score(score);
            if let Some(dist) = shape.distance_if_within(lon, lat) {
                found.push(Point {
                    lon,
                    lat,
                    dist,
                    score,
                    member: Sds::from_slice(member),
                });
            }
            if full(&found) {
                break;
            }
        }
        last = i;
    }
    found
}

/// What a search asked for, once its arguments are read.
struct Request<'a> {
    shape: Shape,
    withdist: bool,
    withhash: bool,
    withcoords: bool,
    sort: Sort,
    any: bool,
    count: i64,
    storekey: Option<&'a [u8]>,
    storedist: bool,
}

/// Redis's `georadiusGeneric` for every search command: the source key at `src`.
fn search(ctx: &mut Ctx, argv: &[&[u8]], src: usize, variant: Variant) -> CommandResult {
    let zset = ctx.read::<ZsetValue>(argv[src])?;
    let (request, points) = {
        let mut shape = Shape {
            center: (0.0, 0.0),
            kind: ShapeKind::Radius(0.0),
            conversion: 0.0,
        };
        let mut storekey = None;
        let base_args = match variant {
            Variant::Coords { .. } => {
                shape.center = long_lat(argv[2], argv[3])?;
                let (radius, conversion) = radius_arg(argv[4], argv[5])?;
                shape.kind = ShapeKind::Radius(radius);
                shape.conversion = conversion;
                6
            }
            // Without the key the arguments are still read, for the reply's shape.
            Variant::Member { .. } if zset.is_none() => 5,
            Variant::Member { .. } => {
                let z = zset.ok_or(CommandError::from(errors::GEO_MEMBER_NOT_FOUND))?;
                shape.center = member_pos(z, argv[2])
                    .ok_or(CommandError::from(errors::GEO_MEMBER_NOT_FOUND))?;
                let (radius, conversion) = radius_arg(argv[3], argv[4])?;
                shape.kind = ShapeKind::Radius(radius);
                shape.conversion = conversion;
                5
            }
            Variant::Search { store: true } => {
                storekey = Some(argv[1]);
                3
            }
            Variant::Search { store: false } => 2,
        };
        let mut request = Request {
            shape,
            withdist: false,
            withhash: false,
            withcoords: false,
            sort: Sort::None,
            any: false,
            count: 0,
            storekey,
            storedist: false,
        };
        let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
        let rest = argv.get(base_args..).unwrap_or_default();
        let mut i = 0;
        while i < rest.len() {
            let arg = rest[i];
            let left = rest.len() - i - 1;
            if is_word(arg, "withdist") {
                request.withdist = true;
            } else if is_word(arg, "withhash") {
                request.withhash = true;
            } else if is_word(arg, "withcoord") {
                request.withcoords = true;
            } else if is_word(arg, "any") {
                request.any = true;
            } else if is_word(arg, "asc") {
                request.sort = Sort::Asc;
            } else if is_word(arg, "desc") {
                request.sort = Sort::Desc;
            } else if is_word(arg, "count") && left >= 1 {
                let count =
                    parse_i64(rest[i + 1]).ok_or(CommandError::from(errors::NOT_INTEGER))?;
                if count <= 0 {
                    return Err(errors::GEO_COUNT_NOT_POSITIVE.into());
                }
                request.count = count;
                i += 1;
            } else if (is_word(arg, "store") || is_word(arg, "storedist"))
                && left >= 1
                && variant.accepts_store_option()
            {
                request.storekey = Some(rest[i + 1]);
                request.storedist = is_word(arg, "storedist");
                i += 1;
            } else if is_word(arg, "storedist") && variant == (Variant::Search { store: true }) {
                request.storedist = true;
            } else if is_word(arg, "frommember") && left >= 1 && variant.is_search() && !fromloc {
                if let Some(z) = zset {
                    request.shape.center = member_pos(z, rest[i + 1])
                        .ok_or(CommandError::from(errors::GEO_MEMBER_NOT_FOUND))?;
                }
                frommember = true;
                i += 1;
            } else if is_word(arg, "fromlonlat") && left >= 2 && variant.is_search() && !frommember
            {
                request.shape.center = long_lat(rest[i + 1], rest[i + 2])?;
                fromloc = true;
                i += 2;
            } else if is_word(arg, "byradius") && left >= 2 && variant.is_search() && !bybox {
                let (radius, conversion) = radius_arg(rest[i + 1], rest[i + 2])?;
                request.shape.kind = ShapeKind::Radius(radius);
                request.shape.conversion = conversion;
                byradius = true;
                i += 2;
            } else if is_word(arg, "bybox") && left >= 3 && variant.is_search() && !byradius {
                let (width, height, conversion) = box_arg(rest[i + 1], rest[i + 2], rest[i + 3])?;
                request.shape.kind = ShapeKind::Box { width, height };
                request.shape.conversion = conversion;
                bybox = true;
                i += 3;
            } else {
                return Err(errors::SYNTAX.into());
            }
            i += 1;
        }
        if request.storekey.is_some()
            && (request.withdist || request.withhash || request.withcoords)
        {
            let geosearchstore = variant == Variant::Search { store: true };
            return Err(errors::geo_store_with_options(geosearchstore).into());
        }
        if variant.is_search() && !(frommember || fromloc) {
            return Err(errors::geo_exactly_one_from(argv[0]).into());
        }
        if variant.is_search() && !(byradius || bybox) {
            return Err(errors::geo_exactly_one_by(argv[0]).into());
        }
        if request.any && request.count == 0 {
            return Err(errors::GEO_ANY_WITHOUT_COUNT.into());
        }
        let points = zset.map(|z| {
            let limit = if request.any {
                request.count as usize
            } else {
                0
            };
            points_in_shape(z, &request.shape, limit)
        });
        (request, points)
    };
    let Some(mut points) = points else {
        // No source key: STORE deletes the destination, a reply is empty.
        match request.storekey {
            Some(dst) => {
                super::store_or_delete(&mut ctx.db(), dst, None, notify::ZSET, "");
                ctx.out.int(0);
            }
            None => ctx.out.array(0),
        }
        return Ok(Done);
    };
    let mut sort = request.sort;
    if request.count != 0 && sort == Sort::None && !request.any {
        sort = Sort::Asc;
    }
    if points.is_empty() && request.storekey.is_none() {
        ctx.out.array(0);
        return Ok(Done);
    }
    let found = points.len();
    let returned = if request.count == 0 || (found as i64) < request.count {
        found
    } else {
        request.count as usize
    };
    if sort != Sort::None {
        let cmp = if sort == Sort::Asc { cmp_asc } else { cmp_desc };
        if returned == found {
            points = merge_sort(points, cmp);
        } else {
            geohash::pqsort(&mut points, &cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= request.shape.conversion;
    }
    match request.storekey {
        None => reply_points(ctx.out, &points, &request),
        Some(dst) => {
            let event = if variant.is_search() {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            let mut entries: Vec<(Sds, f64)> = points
                .into_iter()
                .map(|p| {
                    let score = if request.storedist { p.dist } else { p.score };
                    (p.member, score)
                })
                .collect();
            entries.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            let value = (!entries.is_empty()).then(|| {
                let limits = zset_limits(&ctx.state.config);
                Value::ZSet(Box::new(ZsetValue::from_sorted(entries, limits)))
            });
            super::store_or_delete(&mut ctx.db(), dst, value, notify::ZSET, event);
            ctx.out.int(returned as i64);
        }
    }
    Ok(Done)
}

/// The reply of a search without STORE: members, or with WITH* options an array per
/// point of the member, its distance, its score and its coordinates.
fn reply_points(out: &mut Reply, points: &[Point], request: &Request) {
    let options = usize::from(request.withdist)
        + usize::from(request.withhash)
        + usize::from(request.withcoords);
    out.array(points.len());
    for p in points {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&p.member);
        if request.withdist {
            out.bulk(geohash::format_distance(p.dist).as_bytes());
        }
        if request.withhash {
            out.int(geohash::c_double_to_i64(p.score));
        }
        if request.withcoords {
            out.array(2);
            reply_coordinate(out, p.lon);
            reply_coordinate(out, p.lat);
        }
    }
}

/// `GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]`
fn georadius(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    search(ctx, argv, 1, Variant::Coords { store: true })
}

/// `GEORADIUS_RO`: GEORADIUS without STORE and STOREDIST.
fn georadius_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    search(ctx, argv, 1, Variant::Coords { store: false })
}

/// `GEORADIUSBYMEMBER key member radius M|KM|FT|MI [options as GEORADIUS]`
fn georadiusbymember(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    search(ctx, argv, 1, Variant::Member { store: true })
}

/// `GEORADIUSBYMEMBER_RO`: GEORADIUSBYMEMBER without STORE and STOREDIST.
fn georadiusbymember_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    search(ctx, argv, 1, Variant::Member { store: false })
}

/// `GEOSEARCH key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius unit|BYBOX
/// width height unit [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]`
fn geosearch(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    search(ctx, argv, 1, Variant::Search { store: false })
}

/// `GEOSEARCHSTORE destination source ... [STOREDIST]`: GEOSEARCH's points stored as a
/// sorted set (scores: their geohashes, or with STOREDIST their distances).
fn geosearchstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    search(ctx, argv, 2, Variant::Search { store: true })
}
