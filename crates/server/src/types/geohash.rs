//! Redis's geohash, as `geohash.c` and `geohash_helper.c` of Redis 7.0 compute it: the
//! 52-bit interleaved score of a point, its decoding back to the centre of its cell, the
//! eight neighbours of a cell, the nine cells a radius or box search scans (with Redis's
//! step estimation and its exclusion of useless neighbours), the haversine distance, and
//! the number formatting of coordinates and distances.
//!
//! Every computation follows Redis's operations in Redis's order, on `f64` with the same
//! libm, because a client sees the digits: a reassociated sum or a different rounding
//! would move a coordinate's 17th decimal or a point across a search's edge. Nothing here
//! touches the keyspace or replies.

/// The longitude and latitude a geo set can hold (EPSG:900913; the poles cannot be).
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;

/// Bits per coordinate of a stored point: 26, so a score holds 52 bits.
pub const STEP_MAX: u8 = 26;

/// Redis's `D_R`, `M_PI / 180.0` as a double.
const D_R: f64 = std::f64::consts::PI / 180.0;
/// Earth's quadratic mean radius for WGS-84, in meters.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A cell: `step` bits per coordinate, interleaved (longitude in the odd bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// Redis's `HASHISZERO`: a neighbour excluded from the search.
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell's first score at 52 bits (`geohashAlign52Bits`).
    pub fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Range {
    min: f64,
    max: f64,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell's bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Area {
    longitude: Range,
    latitude: Range,
}

/// Bit `i` of `x` goes to bit `2i`, bit `i` of `y` to bit `2i + 1`.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of `interleave`: (even bits, odd bits).
fn deinterleave(v: u64) -> (u32, u32) {
    fn gather(v: u64) -> u32 {
        let mut v = v & 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF;
        v as u32
    }
    (gather(v), gather(v >> 1))
}

/// x86-64's `cvttsd2si`, which C's conversion of a double to a `long long` compiles to:
/// truncation, and `LLONG_MIN` for NaN and anything out of range (Rust's `as` saturates).
pub fn c_double_to_i64(d: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_63..TWO_63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// C's conversion of a double to a `uint64_t` as GCC compiles it for x86-64: below 2^63
/// through `cvttsd2si`, from 2^63 on by subtracting 2^63 and flipping the top bit back
/// (so 2^64 and beyond, and +inf, become 0; negatives wrap; -inf is 2^63).
pub fn c_double_to_u64(d: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO_63 {
        (c_double_to_i64(d - TWO_63) as u64) ^ (1 << 63)
    } else {
        c_double_to_i64(d) as u64
    }
}

/// `geohashEncode`: the cell of `step` bits holding the point, `None` outside the ranges.
fn encode(lon_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    // C converts the doubles to uint32_t arguments: truncation to 64 bits, low half kept.
    let bits = interleave(
        c_double_to_i64(lat_offset) as u32,
        c_double_to_i64(long_offset) as u32,
    );
    Some(HashBits { bits, step })
}

/// The score GEOADD stores for a valid point (`geohashEncodeWGS84` at 26 bits, aligned).
pub fn encode_score(lon: f64, lat: f64) -> u64 {
    encode(LONG_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map_or(0, |h| h.align52())
}

/// `geohashDecode`: the bounds of a cell; `None` for an excluded one.
fn decode(lon_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let (ilato, ilono) = deinterleave(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = lon_range.max - lon_range.min;
    let cells = (1u64 << hash.step) as f64;
    // `ilato + 1` is unsigned int arithmetic in C: it wraps.
    Some(Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / cells) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) * 1.0 / cells) * lat_scale,
        },
        longitude: Range {
            min: lon_range.min + (f64::from(ilono) * 1.0 / cells) * long_scale,
            max: lon_range.min + (f64::from(ilono.wrapping_add(1)) * 1.0 / cells) * long_scale,
        },
    })
}

/// The point a score stands for (Redis's `decodeGeohash`): the centre of its 26-bit cell,
/// clamped into the valid ranges. Any score decodes, as in Redis, after C's conversion of
/// the double to 64 bits.
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = HashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    let area = decode(LONG_RANGE, LAT_RANGE, hash).unwrap_or(Area {
        longitude: LONG_RANGE,
        latitude: LAT_RANGE,
    });
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// GEOHASH's 11 characters for a point: re-encoded over the standard latitude range
/// (-90..90), 52 bits in base 32, and a last character that is always `0`.
pub fn standard_geohash(lon: f64, lat: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let ranges = (
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
    );
    let bits = encode(ranges.0, ranges.1, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    hash.bits = x | y;
}

fn neighbour(hash: HashBits, dx: i8, dy: i8) -> HashBits {
    let mut n = hash;
    move_x(&mut n, dx);
    move_y(&mut n, dy);
    n
}

/// What a search covers: a circle of `radius` or a box `width` by `height` (in the unit
/// whose meters are `conversion`), around `center` (longitude, latitude).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub center: (f64, f64),
    pub kind: ShapeKind,
    /// Meters per unit.
    pub conversion: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

impl Shape {
    /// `geohashBoundingBox`: min longitude, min latitude, max longitude, max latitude.
    fn bounding_box(&self) -> [f64; 4] {
        let (longitude, latitude) = self.center;
        let (height, width) = match self.kind {
            ShapeKind::Radius(r) => (self.conversion * r, self.conversion * r),
            ShapeKind::Box { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        let southern = latitude < 0.0;
        let long_delta = if southern {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            longitude - long_delta,
            latitude - lat_delta,
            longitude + long_delta,
            latitude + lat_delta,
        ]
    }

    /// `geohashGetDistanceIfInRadiusWGS84` / `geohashGetDistanceIfInRectangle`: the
    /// distance in meters from the centre to (lon, lat) when the point is in the shape.
    pub fn distance_if_within(&self, lon: f64, lat: f64) -> Option<f64> {
        let (x1, y1) = self.center;
        match self.kind {
            ShapeKind::Radius(r) => {
                let distance = distance(x1, y1, lon, lat);
                (distance <= r * self.conversion).then_some(distance)
            }
            ShapeKind::Box { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                let lon_distance = distance(lon, lat, x1, lat);
                let lat_distance = distance(lon, lat, lon, y1);
                if lon_distance > width_m / 2.0 || lat_distance > height_m / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, lon, lat))
            }
        }
    }

    /// `geohashCalculateAreasByShapeWGS84`: the centre cell and its eight neighbours
    /// (north, south, east, west, north-east, north-west, south-east, south-west), at the
    /// step estimated from the radius, one coarser when a neighbour falls short of the
    /// bounding box; neighbours wholly outside the box are left out (`None`).
    pub fn areas(&self) -> [Option<HashBits>; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let (longitude, latitude) = self.center;
        let mut radius_meters = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        radius_meters *= self.conversion;
        let mut steps = estimate_steps(radius_meters, latitude);
        let cells = |steps: u8| {
            let hash =
                encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps).unwrap_or(HashBits {
                    bits: 0,
                    step: steps,
                });
            [
                hash,
                neighbour(hash, 0, 1),
                neighbour(hash, 0, -1),
                neighbour(hash, 1, 0),
                neighbour(hash, -1, 0),
                neighbour(hash, 1, 1),
                neighbour(hash, -1, 1),
                neighbour(hash, 1, -1),
                neighbour(hash, -1, -1),
            ]
        };
        let mut n = cells(steps);
        let area_of = |h: HashBits| decode(LONG_RANGE, LAT_RANGE, h);
        let decrease = {
            let north = area_of(n[1]);
            let south = area_of(n[2]);
            let east = area_of(n[3]);
            let west = area_of(n[4]);
            north.is_some_and(|a| a.latitude.max < max_lat)
                || south.is_some_and(|a| a.latitude.min > min_lat)
                || east.is_some_and(|a| a.longitude.max < max_lon)
                || west.is_some_and(|a| a.longitude.min > min_lon)
        };
        if steps > 1 && decrease {
            steps -= 1;
            n = cells(steps);
        }
        let mut out: [Option<HashBits>; 9] = n.map(Some);
        if steps >= 2 {
            if let Some(area) = area_of(n[0]) {
                let mut drop = |idx: &[usize]| idx.iter().for_each(|&i| out[i] = None);
                if area.latitude.min < min_lat {
                    drop(&[2, 8, 7]);
                }
                if area.latitude.max > max_lat {
                    drop(&[1, 5, 6]);
                }
                if area.longitude.min < min_lon {
                    drop(&[4, 8, 6]);
                }
                if area.longitude.max > max_lon {
                    drop(&[3, 7, 5]);
                }
            }
        }
        out
    }
}

/// `geohashEstimateStepsByRadius`: the bits per coordinate of the nine cells.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The scores `min..max` (max excluded) of the points in a cell (`scoresOfGeoHashBox`).
pub fn cell_scores(hash: HashBits) -> (f64, f64) {
    let min = hash.align52();
    let max = HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    }
    .align52();
    (min as f64, max as f64)
}

/// The haversine distance in meters (`geohashGetDistance`).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lat1r = deg_rad(lat1d);
    let lon1r = deg_rad(lon1d);
    let lat2r = deg_rad(lat2d);
    let lon2r = deg_rad(lon2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// A coordinate as Redis prints it (`addReplyHumanLongDouble`): `%.17Lf` of the value,
/// trailing zeros and a bare dot dropped, `-0` printed `0`.
pub fn format_coordinate(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// A distance as Redis prints it (`addReplyDoubleDistance`): `%.4f`, with C's spelling of
/// NaN (rounding can push the haversine of nearly antipodal points past `asin`'s domain).
pub fn format_distance(d: f64) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    format!("{d:.4}")
}

/// Redis 7.0's `pqsort` (NetBSD's qsort, Bentley and McIlroy, without the switch to
/// insertion sort after a pass without swaps, cut short outside the ranks `lrange..=rrange`): GEORADIUS and GEOSEARCH sort with it when COUNT keeps fewer points
/// than they found, and which of equally distant points come first is its doing, so it is
/// followed swap for swap. `cmp` is a C comparator (negative, zero, positive).
pub fn pqsort<T>(a: &mut [T], cmp: &impl Fn(&T, &T) -> i32, lrange: usize, rrange: usize) {
    pqsort_range(a, 0, a.len(), cmp, lrange, rrange);
}

fn med3<T>(a: &[T], i: usize, j: usize, k: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&a[i], &a[j]) < 0 {
        if cmp(&a[j], &a[k]) < 0 {
            j
        } else if cmp(&a[i], &a[k]) < 0 {
            k
        } else {
            i
        }
    } else if cmp(&a[j], &a[k]) > 0 {
        j
    } else if cmp(&a[i], &a[k]) < 0 {
        i
    } else {
        k
    }
}

fn vecswap<T>(a: &mut [T], i: usize, j: usize, n: usize) {
    for k in 0..n {
        a.swap(i + k, j + k);
    }
}

fn insertion_sort<T>(a: &mut [T], lo: usize, n: usize, cmp: &impl Fn(&T, &T) -> i32) {
    for m in lo + 1..lo + n {
        let mut l = m;
        while l > lo && cmp(&a[l - 1], &a[l]) > 0 {
            a.swap(l, l - 1);
            l -= 1;
        }
    }
}

/// One call of `_pqsort` over `a[lo..lo + n]`, the tail recursion as a loop.
fn pqsort_range<T>(
    a: &mut [T],
    mut lo: usize,
    mut n: usize,
    cmp: &impl Fn(&T, &T) -> i32,
    lrange: usize,
    rrange: usize,
) {
    // Whether a[start..start + len] holds any rank of lrange..=rrange.
    let overlaps = |start: usize, len: usize| {
        let end = start + len;
        !((lrange < start && rrange < start) || (lrange >= end && rrange >= end))
    };
    loop {
        if n < 7 {
            insertion_sort(a, lo, n, cmp);
            return;
        }
        let mut pm = lo + n / 2;
        if n > 7 {
            let mut pl = lo;
            let mut pn = lo + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(a, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(a, pm - d, pm, pm + d, cmp);
                pn = med3(a, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(a, pl, pm, pn, cmp);
        }
        a.swap(lo, pm);
        let (mut pa, mut pb) = (lo + 1, lo + 1);
        let (mut pc, mut pd) = (lo + n - 1, lo + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&a[pb], &a[lo]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    a.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&a[pc], &a[lo]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    a.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            a.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = lo + n;
        let r = (pa - lo).min(pb - pa);
        vecswap(a, lo, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(a, pb, pn - r, r);
        let left = pb - pa;
        if left > 1 && overlaps(lo, left) {
            pqsort_range(a, lo, left, cmp, lrange, rrange);
        }
        let right = pd - pc;
        if right > 1 {
            lo = pn - right;
            n = right;
            if overlaps(lo, n) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn palermo_scores_and_decodes_as_redis_does() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698.
        let score = encode_score(13.361389, 38.115556);
        assert_eq!(score, 3479099956230698);
        let (lon, lat) = decode_score(score as f64);
        assert_eq!(format_coordinate(lon), "13.36138933897018433");
        assert_eq!(format_coordinate(lat), "38.11555639549629859");
        assert_eq!(&standard_geohash(lon, lat), b"sqc8b49rny0");
    }

    #[test]
    fn scores_out_of_range_decode_as_c_converts_them() {
        assert_eq!(c_double_to_u64(1e20), 0);
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_double_to_u64(-5.0), (-5i64) as u64);
        assert_eq!(decode_score(-5.0), (LONG_MAX, LAT_MAX));
        assert_eq!(c_double_to_i64(f64::INFINITY), i64::MIN);
    }

    #[test]
    fn coordinates_print_without_trailing_zeros() {
        assert_eq!(format_coordinate(180.0), "180");
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(-1e-30), "0");
        assert_eq!(format_coordinate(0.5), "0.5");
        assert_eq!(format_distance(190.44242984775784), "190.4424");
    }

    #[test]
    fn pqsort_sorts_the_asked_ranks() {
        let cmp = |a: &u32, b: &u32| (*a as i32) - (*b as i32);
        let mut v: Vec<u32> = (0..200).map(|i| (i * 7919) % 211).collect();
        let mut sorted = v.clone();
        sorted.sort();
        pqsort(&mut v, &cmp, 0, 9);
        assert_eq!(&v[..10], &sorted[..10]);
        let mut w: Vec<u32> = (0..200).map(|i| (i * 31) % 97).collect();
        let mut all = w.clone();
        all.sort();
        let len = w.len();
        pqsort(&mut w, &cmp, 0, len - 1);
        assert_eq!(w, all);
    }
}
