//! QR images of ticket codes: SVG through the `qrcode` crate's renderer, PNG through a tiny
//! encoder here (grayscale, stored deflate blocks), so no image library is needed, and the
//! module matrix the PDF tickets draw as vector squares.

use qrcode::{EcLevel, QrCode};

/// Pixels per module in PNG output.
const SCALE: usize = 8;
/// Quiet zone, in modules (the four the QR specification asks for).
pub const QUIET: usize = 4;

/// The error-correction level of every ticket's QR code, whatever its rendering.
const EC_LEVEL: EcLevel = EcLevel::M;

/// The modules of a QR code, without its quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    /// Modules per side.
    pub width: usize,
    /// Row by row, `true` for a dark module.
    dark: Vec<bool>,
}

impl Modules {
    /// Whether the module in column `x`, row `y` is dark (outside the code: light).
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }
}

/// The dark-module matrix of `content`'s QR code, encoded as the PNG and SVG images are.
pub fn modules(content: &str) -> Option<Modules> {
    let code = QrCode::with_error_correction_level(content.as_bytes(), EC_LEVEL).ok()?;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Some(Modules {
        width: code.width(),
        dark,
    })
}

/// An SVG QR code of `content`.
pub fn svg(content: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(content.as_bytes(), EC_LEVEL).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    )
}

/// A PNG QR code of `content`: one bit per pixel (black or white), so a ticket's image is about
/// 11 KB rather than the 88 KB of one byte per pixel.
pub fn png(content: &str) -> Option<Vec<u8>> {
    let code = modules(content)?;
    let width = code.width;
    let side = (width + 2 * QUIET) * SCALE;
    let row_bytes = side.div_ceil(8);
    // Raw scanlines: a filter byte then the row's pixels, eight to a byte, most significant
    // first, 1 = white. Each row of modules is drawn once; its other SCALE - 1 pixel rows repeat
    // it, filtered "Up" (all zero bytes, as is every row of the quiet zone after the first).
    let mut raw = Vec::with_capacity(side * (row_bytes + 1));
    let mut row = vec![0u8; row_bytes];
    let mut above: Option<Vec<u8>> = None;
    for module_row in 0..width + 2 * QUIET {
        let my = module_row.checked_sub(QUIET).filter(|&m| m < width);
        row.fill(0);
        for x in 0..side {
            let mx = (x / SCALE).checked_sub(QUIET).filter(|&m| m < width);
            let is_dark = matches!((mx, my), (Some(mx), Some(my)) if code.is_dark(mx, my));
            if !is_dark {
                row[x / 8] |= 0x80 >> (x % 8);
            }
        }
        let repeats = if above.as_ref() == Some(&row) {
            SCALE
        } else {
            raw.push(0);
            raw.extend_from_slice(&row);
            above = Some(row.clone());
            SCALE - 1
        };
        for _ in 0..repeats {
            raw.push(2);
            raw.extend(std::iter::repeat_n(0u8, row_bytes));
        }
    }
    Some(encode_png(side as u32, side as u32, 1, &raw))
}

/// A grayscale PNG of `depth` bits per pixel from its raw (filtered) scanlines.
fn encode_png(width: u32, height: u32, depth: u8, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 1024);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, 0, 0, 0, 0]); // grayscale, deflate, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of uncompressed (stored) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65535 * 5 + 16);
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = data.chunks(65535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

/// CRC-32 (IEEE) remainders of every byte, computed at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

fn crc32(data: &[u8]) -> u32 {
    let crc = data.iter().fold(0xffff_ffffu32, |crc, &byte| {
        CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    });
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn png_and_svg_are_produced() {
        let png = png("ABCDEFGH23456789").unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82]));
        let svg = svg("ABCDEFGH23456789").unwrap();
        assert!(svg.contains("<svg"));
    }

    #[test]
    fn the_module_matrix_is_the_codes_own() {
        let content = "ABCDEFGH23456789";
        let code = QrCode::with_error_correction_level(content.as_bytes(), EcLevel::M).unwrap();
        let m = modules(content).unwrap();
        assert_eq!(m.width, code.width());
        let colors = code.to_colors();
        for y in 0..m.width {
            for x in 0..m.width {
                assert_eq!(
                    m.is_dark(x, y),
                    colors[y * m.width + x] == qrcode::Color::Dark
                );
            }
        }
        assert!(!m.is_dark(m.width, 0), "outside the code is light");
    }

    #[test]
    fn the_png_decodes_to_the_codes_modules_with_a_quiet_zone() {
        let content = "ABCDEFGH23456789";
        let png = png(content).unwrap();
        let image = image::load_from_memory(&png).unwrap().to_luma8();
        let code = QrCode::with_error_correction_level(content.as_bytes(), EcLevel::M).unwrap();
        let width = code.width();
        let side = (width + 2 * QUIET) * SCALE;
        assert_eq!(
            (image.width() as usize, image.height() as usize),
            (side, side)
        );
        let colors = code.to_colors();
        for y in 0..side {
            for x in 0..side {
                let module = match (
                    (x / SCALE).checked_sub(QUIET),
                    (y / SCALE).checked_sub(QUIET),
                ) {
                    (Some(mx), Some(my)) if mx < width && my < width => colors[my * width + mx],
                    _ => qrcode::Color::Light,
                };
                let expected = if module == qrcode::Color::Dark {
                    0
                } else {
                    255
                };
                assert_eq!(
                    image.get_pixel(x as u32, y as u32).0[0],
                    expected,
                    "pixel {x},{y}"
                );
            }
        }
        assert!(png.len() < 16 * 1024, "{} bytes", png.len());
    }
}
