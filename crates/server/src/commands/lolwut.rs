//! LOLWUT: some computer art and the server's version, as Redis 7.0 draws it.
//!
//! ```text
//! LOLWUT                                  -> "Redis ver. 7.0.15\n" (7.0's own piece)
//! LOLWUT VERSION 5 [cols] [per-row] [per-col]  -> Georg Nees's Schotter in braille dots
//! LOLWUT VERSION 6 [cols] [rows]          -> an 8-bit skyline in terminal grays
//! ```
//!
//! The pieces are random; what a client can rely on is their shape: how many lines, how
//! wide, the trailer naming the work and the version, the argument clamps. `VERSION n`
//! picks the piece of Redis `n.0.0` (5 Schotter, 6 the skyline, anything else the bare
//! version line); the remaining arguments belong to that piece and
//! must be integers where it reads them. Without `VERSION n` every argument is ignored.
//! Replies are verbatim text (`txt`) in RESP3. It must stay cheap: sizes are clamped as
//! Redis clamps them.

use rand::Rng;

use crate::args::Args;
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::commands::connection::REDIS_VERSION;

pub static HANDLERS: &[Entry] = &[handler("lolwut", lolwut)];

fn lolwut(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut version = None;
    let mut args: &[&[u8]] = &argv[1..];
    if argv.len() >= 3 && argv[1].eq_ignore_ascii_case(b"version") {
        // Redis prints the number as an unsigned int: -1 is version 4294967295.
        version = Some(Args::new(argv, 2).i64()? as u32);
        args = &argv[3..];
    }
    let text = match version {
        Some(5) => schotter_command(args)?,
        Some(6) => skyline_command(args)?,
        _ => format!("Redis ver. {REDIS_VERSION}\n"),
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(Done)
}

/// The optional integer arguments `args[i]` in order, `default` where absent; the first
/// that is not an integer is the error.
fn integers<const N: usize>(
    args: &[&[u8]],
    defaults: [i64; N],
) -> Result<[i64; N], crate::errors::CommandError> {
    let mut values = defaults;
    for (i, value) in values.iter_mut().enumerate() {
        if i < args.len() {
            *value = Args::new(args, i).i64()?;
        }
    }
    Ok(values)
}

/// `LOLWUT VERSION 5 [cols] [squares-per-row] [squares-per-col]`: 66, 8, 12 by default;
/// columns from 1 to 1000, squares from 1 to 200 each way.
fn schotter_command(args: &[&[u8]]) -> Result<String, crate::errors::CommandError> {
    let [cols, per_row, per_col] = integers(args, [66, 8, 12])?;
    let canvas = schotter(
        cols.clamp(1, 1000) as i32,
        per_row.clamp(1, 200) as i32,
        per_col.clamp(1, 200) as i32,
        &mut rand::thread_rng(),
    );
    let mut text = canvas.braille();
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(REDIS_VERSION);
    text.push('\n');
    Ok(text)
}

/// `LOLWUT VERSION 6 [cols] [rows]`: 80 by 20 by default, each from 1 to 1000.
fn skyline_command(args: &[&[u8]]) -> Result<String, crate::errors::CommandError> {
    let [cols, rows] = integers(args, [80, 20])?;
    let mut canvas = Canvas::new(cols.clamp(1, 1000) as i32, rows.clamp(1, 1000) as i32, 3);
    skyline(&mut canvas, &mut rand::thread_rng());
    let mut text = canvas.grays();
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\n");
    text.push_str("Original 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(REDIS_VERSION);
    text.push('\n');
    Ok(text)
}

/// C's `rand()` as LOLWUT uses it: a non-negative 31-bit integer.
fn c_rand(rng: &mut impl Rng) -> i32 {
    (rng.gen::<u32>() >> 1) as i32
}

/// `rand() / RAND_MAX`, in [0, 1].
fn unit(rng: &mut impl Rng) -> f32 {
    c_rand(rng) as f32 / i32::MAX as f32
}

/// A grid of pixels with a color each (0 to 3), the top-left one at 0,0. Drawing outside
/// it is allowed and does nothing. Four pixels to a byte: the largest Schotter Redis
/// allows is 2000 by 399 204 pixels.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, background: u8) -> Canvas {
        let len = width.max(0) as usize * height.max(0) as usize;
        let background = background & 3;
        let fill = background | background << 2 | background << 4 | background << 6;
        Canvas {
            width,
            height,
            pixels: vec![fill; len.div_ceil(4)],
        }
    }

    fn index(&self, x: i32, y: i32) -> Option<usize> {
        let inside = (0..self.width).contains(&x) && (0..self.height).contains(&y);
        inside.then(|| x as usize + y as usize * self.width as usize)
    }

    fn set(&mut self, x: i32, y: i32, color: u8) {
        if let Some(i) = self.index(x, y) {
            let shift = (i % 4) * 2;
            let byte = &mut self.pixels[i / 4];
            *byte = (*byte & !(3 << shift)) | (color & 3) << shift;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        self.index(x, y)
            .map_or(0, |i| self.pixels[i / 4] >> ((i % 4) * 2) & 3)
    }

    /// Bresenham's line from one end to the other, both included.
    fn line(&mut self, (mut x1, mut y1): (i32, i32), (x2, y2): (i32, i32), color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// The outline of a square of side `size` centred on x,y and turned by `angle`
    /// radians: its corners are on the circle through them, 45 degrees apart from the axes.
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        let radius = (size as f64 / std::f64::consts::SQRT_2).round();
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut corners = [(0, 0); 4];
        for corner in &mut corners {
            let k64 = k as f64;
            *corner = (
                (k64.sin() * radius + x as f64).round() as i32,
                (k64.cos() * radius + y as f64).round() as i32,
            );
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            self.line(corners[j], corners[(j + 1) % 4], color);
        }
    }

    /// One braille character per 2x4 pixels (dot 1 top left, dot 8 bottom right), a line
    /// per 4 rows of pixels; as in Redis, a newline follows every line unless the canvas
    /// has exactly one row of pixels after its last line's start.
    fn braille(&self) -> String {
        let mut text = String::new();
        for y in (0..self.height).step_by(4) {
            for x in (0..self.width).step_by(2) {
                let dots = [
                    (0, 0),
                    (0, 1),
                    (0, 2),
                    (1, 0),
                    (1, 1),
                    (1, 2),
                    (0, 3),
                    (1, 3),
                ];
                let mut bits = 0u32;
                for (bit, (dx, dy)) in dots.iter().enumerate() {
                    if self.get(x + dx, y + dy) != 0 {
                        bits |= 1 << bit;
                    }
                }
                text.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
            }
            if y != self.height - 1 {
                text.push('\n');
            }
        }
        text
    }

    /// One space per pixel with the terminal's four grays as both foreground and
    /// background, a line per row.
    fn grays(&self) -> String {
        let mut text = String::new();
        for y in 0..self.height {
            for x in 0..self.width {
                let escape = match self.get(x, y) {
                    1 => "0;90;100m",
                    2 => "0;37;47m",
                    3 => "0;97;107m",
                    _ => "0;30;40m",
                };
                text.push_str("\x1b[");
                text.push_str(escape);
                text.push_str(" \x1b[0m");
            }
            if y != self.height - 1 {
                text.push('\n');
            }
        }
        text
    }
}

/// Georg Nees's Schotter (1968): a column of squares, orderly at the top, more and more
/// turned and displaced towards the bottom. The canvas is two pixels per console column
/// wide and as tall as the squares need.
fn schotter(cols: i32, per_row: i32, per_col: i32, rng: &mut impl Rng) -> Canvas {
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0;
            if y > 1 {
                let mut r = [0f32; 3];
                for v in &mut r {
                    *v = unit(rng) / per_col as f32 * y as f32;
                }
                for v in &mut r {
                    if c_rand(rng) % 2 == 1 {
                        *v = -*v;
                    }
                }
                angle = r[0];
                sx = (sx as f32 + r[1] * side / 3.0) as i32;
                sy = (sy as f32 + r[2] * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    canvas
}

/// A building standing on the canvas's bottom row.
struct Skyscraper {
    xoff: i32,
    width: i32,
    height: i32,
    windows: bool,
    color: u8,
}

impl Skyscraper {
    /// The roof is two pixels narrower on each side; windows are two pixels wide and one
    /// tall, away from the walls, each in one of the grays the building is not.
    fn draw(&self, canvas: &mut Canvas, rng: &mut impl Rng) {
        let start_y = canvas.height - 1;
        let end_y = start_y - self.height + 1;
        let mut y = start_y;
        while y >= end_y {
            for x in self.xoff..self.xoff + self.width {
                if y == end_y && (x <= self.xoff + 1 || x >= self.xoff + self.width - 2) {
                    continue;
                }
                let mut color = self.color;
                let inner = x > self.xoff + 1
                    && x < self.xoff + self.width - 2
                    && y > end_y + 1
                    && y < start_y - 1;
                if self.windows && inner {
                    let (relx, rely) = (x - (self.xoff + 1), y - (end_y + 1));
                    if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                        loop {
                            color = 1 + (c_rand(rng) % 2) as u8;
                            if color != self.color {
                                break;
                            }
                        }
                        if relx % 2 != 0 {
                            color = canvas.get(x - 1, y);
                        }
                    }
                }
                canvas.set(x, y, color);
            }
            y -= 1;
        }
    }
}

/// A skyline in the style of 8-bit games' parallax backgrounds: two rows of plain
/// buildings (the lighter gray behind), then dark ones with lit windows in front.
fn skyline(canvas: &mut Canvas, rng: &mut impl Rng) {
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += c_rand(rng) % 8;
            let width = 10 + c_rand(rng) % 9;
            let height = if color == 2 {
                h / 2 + (c_rand(rng) % h) / 2
            } else {
                h / 2 + (c_rand(rng) % h) / 3
            };
            let building = Skyscraper {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            building.draw(canvas, rng);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < canvas.width {
        offset += c_rand(rng) % 8;
        let mut width = 5 + c_rand(rng) % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + (c_rand(rng) % h) / 2;
        let building = Skyscraper {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        building.draw(canvas, rng);
        offset += width + 5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schotter_default_is_66_columns_of_braille_over_49_lines() {
        let canvas = schotter(66, 8, 12, &mut rand::thread_rng());
        let text = canvas.braille();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.len(), 50);
        assert!(lines[..49].iter().all(|l| l.chars().count() == 66));
        assert_eq!(lines[49], "");
    }

    #[test]
    fn pixels_keep_their_own_color() {
        let mut canvas = Canvas::new(5, 3, 3);
        canvas.set(1, 1, 2);
        canvas.set(2, 1, 0);
        canvas.set(9, 9, 1);
        assert_eq!(canvas.get(0, 1), 3);
        assert_eq!(canvas.get(1, 1), 2);
        assert_eq!(canvas.get(2, 1), 0);
        assert_eq!(canvas.get(3, 1), 3);
        assert_eq!(canvas.get(9, 9), 0);
    }

    #[test]
    fn a_one_column_schotter_is_one_dot_cell_and_an_empty_line() {
        let canvas = schotter(1, 1, 1, &mut rand::thread_rng());
        assert_eq!(canvas.braille().chars().filter(|c| *c == '\n').count(), 1);
    }
}
