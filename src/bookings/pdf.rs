//! Print-at-home tickets: one A4 page per ticket, written by a small PDF 1.4 writer.
//!
//! The writer knows just what a ticket needs: text in the standard Helvetica and Helvetica-Bold
//! fonts (every PDF reader has them, so nothing is embedded) with WinAnsiEncoding, filled
//! rectangles and rules. Content streams are left uncompressed: a page is a few kilobytes and
//! the HTTP layer compresses the response for clients that accept it. Each ticket's QR code is
//! drawn as vector squares from [`qr::modules`], so it prints sharp at any size.

use std::fmt::Write as _;

use super::qr;

/// Points per millimetre.
const MM: f32 = 72.0 / 25.4;
/// A4 portrait, in points.
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
/// Page margin: 20 mm.
const MARGIN: f32 = 20.0 * MM;
/// Side of a QR code with its quiet zone: 60 mm, comfortably above the 50 mm a door scanner
/// reads from paper at arm's length.
pub const QR_SIDE: f32 = 60.0 * MM;
const _: () = assert!(
    QR_SIDE >= 50.0 * MM,
    "a ticket's QR code is at least 50 mm wide"
);

/// The two standard fonts a page uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    /// Helvetica (`/F1`).
    Regular,
    /// Helvetica-Bold (`/F2`).
    Bold,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }
}

/// One page's drawing operations (its content stream), in PDF points from the bottom left.
#[derive(Debug, Default, Clone)]
pub struct Canvas {
    ops: Vec<u8>,
}

impl Canvas {
    /// Writes one line of `text` with its baseline starting at (`x`, `y`).
    pub fn text(&mut self, font: Font, size: f32, x: f32, y: f32, text: &str) {
        let mut op = format!(
            "BT /{} {} Tf {} {} Td (",
            font.resource(),
            num(size),
            num(x),
            num(y)
        );
        op.push_str(&literal(&win_ansi(text)));
        op.push_str(") Tj ET\n");
        self.ops.extend_from_slice(op.as_bytes());
    }

    /// Fills a rectangle whose bottom left corner is (`x`, `y`).
    pub fn fill_rect(&mut self, x: f32, y: f32, width: f32, height: f32) {
        let op = format!(
            "{} {} {} {} re f\n",
            num(x),
            num(y),
            num(width),
            num(height)
        );
        self.ops.extend_from_slice(op.as_bytes());
    }

    /// Draws a horizontal rule `thickness` points thick from `x1` to `x2` at height `y`.
    pub fn rule(&mut self, x1: f32, x2: f32, y: f32, thickness: f32) {
        self.fill_rect(x1, y - thickness / 2.0, x2 - x1, thickness);
    }

    /// The fill colour of what follows, a gray level from 0 (black) to 1 (white).
    pub fn gray(&mut self, level: f32) {
        self.ops
            .extend_from_slice(format!("{} g\n", num(level)).as_bytes());
    }
}

/// A number as a PDF operand: at most two decimals, no trailing zeros.
fn num(v: f32) -> String {
    let s = format!("{:.2}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Rounds a coordinate the way [`num`] writes it, so that shapes computed from rounded edges
/// meet without hairline gaps.
fn round2(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

/// WinAnsiEncoding's characters between 0x80 and 0x9F (where Latin-1 has control codes).
const WIN_ANSI_EXTRA: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

/// The WinAnsiEncoding byte of a character: Latin-1 and the typographic extras above; spaces
/// for line breaks and tabs; `?` for anything the standard fonts cannot show.
fn win_ansi_byte(c: char) -> u8 {
    match c {
        '\t' | '\n' | '\r' => b' ',
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
        _ => WIN_ANSI_EXTRA
            .iter()
            .find(|(extra, _)| *extra == c)
            .map_or(b'?', |&(_, byte)| byte),
    }
}

/// `text` in WinAnsiEncoding, one byte per character.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi_byte).collect()
}

/// The inside of a PDF literal string: `(`, `)` and `\` escaped, bytes outside printable ASCII
/// as octal escapes (the file stays ASCII, whatever the text).
fn literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            b' '..=b'~' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out
}

/// Advance widths of ASCII 32–126 in thousandths of the font size (Adobe's Helvetica metrics).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// The same for Helvetica-Bold.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// The advance width of one WinAnsi byte. Beyond ASCII the figures are the widest glyph of
/// their group (accented capitals, accented small letters, symbols), so a line measured here
/// is never shorter than it prints.
fn glyph_width(font: Font, byte: u8) -> u16 {
    let table = match font {
        Font::Regular => &HELVETICA,
        Font::Bold => &HELVETICA_BOLD,
    };
    match byte {
        b' '..=b'~' => table[usize::from(byte - b' ')],
        0xC6 => 1000,       // Æ
        0xD7 | 0xF7 => 584, // × ÷
        0xE6 => 889,        // æ
        0xC0..=0xDF => 778, // accented capitals
        0xE0..=0xFF => 611, // accented small letters
        _ => 1000,          // symbols and the typographic extras
    }
}

/// How wide `text` prints in `font` at `size` points.
pub fn text_width(font: Font, size: f32, text: &str) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| u32::from(glyph_width(font, win_ansi_byte(c))))
        .sum();
    units as f32 * size / 1000.0
}

/// `text` cut to fit `width`, ending with `…` when it was cut.
pub fn fit(font: Font, size: f32, text: &str, width: f32) -> String {
    if text_width(font, size, text) <= width {
        text.to_string()
    } else {
        cut(font, size, text, width)
    }
}

/// The longest start of `text` that fits `width` with `…` after it, and the `…`.
fn cut(font: Font, size: f32, text: &str, width: f32) -> String {
    let room = width - text_width(font, size, "\u{2026}");
    let mut out = String::new();
    let mut used = 0.0;
    for c in text.chars() {
        used += text_width(font, size, c.encode_utf8(&mut [0; 4]));
        if used > room {
            break;
        }
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    out.push('\u{2026}');
    out
}

/// `text` broken into at most `max_lines` lines no wider than `width`: between words where it
/// can, inside a word too long for a line, and with `…` on the last line when text is left.
pub fn wrap(font: Font, size: f32, text: &str, width: f32, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if text_width(font, size, &candidate) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // A word wider than a line is broken wherever the line is full.
        for c in word.chars() {
            line.push(c);
            if text_width(font, size, &line) > width {
                line.pop();
                lines.push(std::mem::take(&mut line));
                line.push(c);
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    let max_lines = max_lines.max(1);
    if lines.len() > max_lines {
        let rest = lines.split_off(max_lines - 1).join(" ");
        lines.push(cut(font, size, &rest, width));
    }
    lines
}

/// Writes a PDF document of the given pages (A4 portrait) with `title` in its information
/// dictionary.
///
/// Objects: 1 catalog, 2 page tree, 3 and 4 the fonts, 5 information, then each page and its
/// content stream (6 and 7, 8 and 9, …). The cross-reference table gives each object's byte
/// offset.
pub fn document(title: &str, pages: &[Canvas]) -> Vec<u8> {
    let mut out: Vec<u8> =
        Vec::with_capacity(2048 + pages.iter().map(|p| p.ops.len() + 300).sum::<usize>());
    // The comment of high bytes tells transfer tools the file is binary (PDF 1.4, 7.5.2).
    out.extend_from_slice(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
    let mut offsets: Vec<usize> = Vec::with_capacity(5 + 2 * pages.len());
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    let page_number = |i: usize| 6 + 2 * i;
    let kids = (0..pages.len())
        .map(|i| format!("{} 0 R", page_number(i)))
        .collect::<Vec<_>>()
        .join(" ");
    object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(
        &mut out,
        format!("<< /Type /Pages /Kids [{kids}] /Count {} >>", pages.len()).as_bytes(),
    );
    for base in ["Helvetica", "Helvetica-Bold"] {
        object(
            &mut out,
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>"
            )
            .as_bytes(),
        );
    }
    object(
        &mut out,
        format!(
            "<< /Title ({}) /Producer ({}) >>",
            literal(&win_ansi(title)),
            crate::notify::templates::PRODUCT
        )
        .as_bytes(),
    );
    for (i, page) in pages.iter().enumerate() {
        object(
            &mut out,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                num(PAGE_WIDTH),
                num(PAGE_HEIGHT),
                page_number(i) + 1
            )
            .as_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", page.ops.len()).into_bytes();
        stream.extend_from_slice(&page.ops);
        stream.extend_from_slice(b"\nendstream");
        object(&mut out, &stream);
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f\r\n", offsets.len() + 1);
    for offset in &offsets {
        // Each entry is exactly 20 bytes, its end of line included.
        let _ = write!(table, "{offset:010} 00000 n\r\n");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        offsets.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

/// What the tickets of one booking say; every page shows all of it, with its own ticket's code.
#[derive(Debug, Clone)]
pub struct TicketSheet {
    pub event_title: String,
    /// Date and time in the event's time zone, with the zone's name.
    pub when: String,
    pub venue: Option<String>,
    pub location: String,
    pub ticket_type: String,
    /// The buyer's name.
    pub buyer: String,
    /// The booking reference.
    pub reference: String,
    /// The tickets' codes, in seat order.
    pub codes: Vec<String>,
}

/// The tickets of `sheet` as a PDF, one A4 page per ticket; `None` if a code cannot be put in a
/// QR code (codes are far shorter than a QR code's capacity).
pub fn tickets(sheet: &TicketSheet) -> Option<Vec<u8>> {
    let total = sheet.codes.len();
    let pages = sheet
        .codes
        .iter()
        .enumerate()
        .map(|(i, code)| ticket_page(sheet, code, i + 1, total))
        .collect::<Option<Vec<_>>>()?;
    Some(document(&format!("Tickets {}", sheet.reference), &pages))
}

/// Gray of secondary text and rules.
const MUTED: f32 = 0.4;

fn ticket_page(sheet: &TicketSheet, code: &str, n: usize, total: usize) -> Option<Canvas> {
    let modules = qr::modules(code)?;
    let mut c = Canvas::default();
    let (left, right) = (MARGIN, PAGE_WIDTH - MARGIN);
    let width = right - left;
    let mut y = PAGE_HEIGHT - MARGIN;

    // Header: the product, and which ticket this is.
    let count = format!("Ticket {n} of {total}");
    c.text(
        Font::Bold,
        16.0,
        left,
        y - 16.0,
        crate::notify::templates::PRODUCT,
    );
    c.text(
        Font::Bold,
        12.0,
        right - text_width(Font::Bold, 12.0, &count),
        y - 14.0,
        &count,
    );
    y -= 26.0;
    c.gray(MUTED);
    c.rule(left, right, y, 0.75);
    c.gray(0.0);
    y -= 12.0;

    // The occasion: what, when, where.
    for line in wrap(Font::Bold, 22.0, &sheet.event_title, width, 3) {
        y -= 24.0;
        c.text(Font::Bold, 22.0, left, y, &line);
    }
    y -= 8.0;
    for line in wrap(Font::Regular, 13.0, &sheet.when, width, 2) {
        y -= 17.0;
        c.text(Font::Regular, 13.0, left, y, &line);
    }
    let place = match sheet.venue.as_deref().map(str::trim) {
        Some(venue) if !venue.is_empty() && !sheet.location.trim().is_empty() => {
            format!("{venue}, {}", sheet.location.trim())
        }
        Some(venue) if !venue.is_empty() => venue.to_string(),
        _ => sheet.location.trim().to_string(),
    };
    for line in wrap(Font::Regular, 13.0, &place, width, 2) {
        y -= 17.0;
        c.text(Font::Regular, 13.0, left, y, &line);
    }
    y -= 18.0;

    // The QR code, centred, with its quiet zone (left white).
    let top = round2(y);
    let x0 = round2((PAGE_WIDTH - QR_SIDE) / 2.0);
    draw_qr(&mut c, &modules, x0, top, QR_SIDE);
    y = top - QR_SIDE - 4.0;

    // The code in text, for a door without a camera.
    let label = "Ticket code";
    c.gray(MUTED);
    c.text(
        Font::Regular,
        9.0,
        (PAGE_WIDTH - text_width(Font::Regular, 9.0, label)) / 2.0,
        y - 9.0,
        label,
    );
    c.gray(0.0);
    y -= 12.0;
    for line in wrap(Font::Bold, 12.0, code, width, 3) {
        y -= 15.0;
        let w = text_width(Font::Bold, 12.0, &line);
        c.text(Font::Bold, 12.0, (PAGE_WIDTH - w) / 2.0, y, &line);
    }
    y -= 22.0;
    c.gray(MUTED);
    c.rule(left, right, y, 0.5);
    c.gray(0.0);
    y -= 8.0;

    // The details, as label and value rows.
    let value_x = left + 130.0;
    let count_value = format!("{n} of {total}");
    let rows = [
        ("Ticket type", sheet.ticket_type.as_str()),
        ("Name", sheet.buyer.as_str()),
        ("Booking reference", sheet.reference.as_str()),
        ("Ticket", count_value.as_str()),
    ];
    for (label, value) in rows {
        y -= 20.0;
        c.gray(MUTED);
        c.text(Font::Regular, 10.0, left, y, label);
        c.gray(0.0);
        let value = fit(Font::Bold, 12.0, value, right - value_x);
        c.text(Font::Bold, 12.0, value_x, y, &value);
    }

    // What to do with it, at the foot of the page.
    let note = "Show this page, printed or on your phone, at the entrance. Each ticket admits one \
                person once: keep its code to yourself.";
    let lines = wrap(Font::Regular, 9.0, note, width, 3);
    let mut foot = MARGIN + 12.0 * lines.len() as f32;
    c.gray(MUTED);
    for line in &lines {
        c.text(Font::Regular, 9.0, left, foot, line);
        foot -= 12.0;
    }
    c.gray(0.0);
    Some(c)
}

/// Draws `modules` as a QR code of `side` points, quiet zone included, whose top left corner is
/// (`x0`, `top`): each row's runs of dark modules as one rectangle, edges rounded once so that
/// neighbouring rows meet exactly.
fn draw_qr(c: &mut Canvas, modules: &qr::Modules, x0: f32, top: f32, side: f32) {
    let module = side / (modules.width + 2 * qr::QUIET) as f32;
    let edge = |i: usize| (i + qr::QUIET) as f32 * module;
    for row in 0..modules.width {
        let upper = round2(top - edge(row));
        let lower = round2(top - edge(row + 1));
        let mut col = 0;
        while col < modules.width {
            if !modules.is_dark(col, row) {
                col += 1;
                continue;
            }
            let start = col;
            while col < modules.width && modules.is_dark(col, row) {
                col += 1;
            }
            let x1 = round2(x0 + edge(start));
            let x2 = round2(x0 + edge(col));
            c.fill_rect(x1, lower, round2(x2 - x1), round2(upper - lower));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(codes: &[&str]) -> TicketSheet {
        TicketSheet {
            event_title: "Lagos Jazz Night".into(),
            when: "Thu, 31 Dec 2026 20:30 WAT (Africa/Lagos)".into(),
            venue: Some("Muri Okunola Park".into()),
            location: "Ikoyi, Lagos".into(),
            ticket_type: "VIP".into(),
            buyer: "Ada Obi".into(),
            reference: "TM-7KQ2X9PA".into(),
            codes: codes.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    /// The file as text, byte for byte (the bytes of the binary comment line become `?`).
    fn ascii(pdf: &[u8]) -> String {
        pdf.iter()
            .map(|&b| if b.is_ascii() { b as char } else { '?' })
            .collect()
    }

    /// The offsets of the cross-reference table, checked against its header and the trailer.
    fn xref_offsets(pdf: &[u8]) -> Vec<usize> {
        let text = ascii(pdf);
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|rest| rest.lines().next())
            .and_then(|n| n.trim().parse().ok())
            .expect("startxref");
        assert!(
            text[start..].starts_with("xref\n0 "),
            "startxref points at the table"
        );
        let table = &pdf[start..];
        let header_end = table.iter().position(|&b| b == b'\n').unwrap() + 1;
        let count_line = &table[header_end..];
        let count_end = count_line.iter().position(|&b| b == b'\n').unwrap();
        let size: usize = std::str::from_utf8(&count_line[..count_end])
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let entries = &count_line[count_end + 1..];
        assert_eq!(&entries[..20], b"0000000000 65535 f\r\n");
        let offsets: Vec<usize> = (1..size)
            .map(|i| {
                let entry = &entries[i * 20..(i + 1) * 20];
                assert_eq!(&entry[10..], b" 00000 n\r\n", "entry {i}");
                std::str::from_utf8(&entry[..10]).unwrap().parse().unwrap()
            })
            .collect();
        assert!(
            text.contains(&format!("trailer\n<< /Size {size} /Root 1 0 R")),
            "the trailer gives the table's size"
        );
        offsets
    }

    #[test]
    fn a_document_starts_with_its_header_and_ends_with_eof() {
        let pdf = tickets(&sheet(&["ABCDEFGH23456789"])).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn every_xref_offset_points_at_its_object() {
        let pdf = tickets(&sheet(&["CODE2345", "CODE6789", "CODEABCD"])).unwrap();
        let offsets = xref_offsets(&pdf);
        assert_eq!(offsets.len(), 5 + 2 * 3);
        for (i, offset) in offsets.iter().enumerate() {
            let header = format!("{} 0 obj\n", i + 1);
            assert!(
                pdf[*offset..].starts_with(header.as_bytes()),
                "object {} at {offset}",
                i + 1
            );
        }
    }

    #[test]
    fn stream_lengths_are_exact() {
        let pdf = tickets(&sheet(&["CODE2345"])).unwrap();
        assert_eq!(
            pdf.iter().filter(|b| !b.is_ascii()).count(),
            4,
            "the file is ASCII but for its binary comment line"
        );
        let text = ascii(&pdf);
        for part in text.split("<< /Length ").skip(1) {
            let (length, rest) = part.split_once(" >>\nstream\n").unwrap();
            let length: usize = length.parse().unwrap();
            assert!(rest[length..].starts_with("\nendstream"), "{length}");
        }
    }

    #[test]
    fn one_page_per_ticket_each_with_its_code_and_count() {
        let codes = ["AAAA2222", "BBBB3333", "CCCC4444", "DDDD5555"];
        let pdf = tickets(&sheet(&codes)).unwrap();
        assert_eq!(count(&pdf, b"/Type /Page "), codes.len());
        assert!(contains(
            &pdf,
            b"/Type /Pages /Kids [6 0 R 8 0 R 10 0 R 12 0 R] /Count 4"
        ));
        for (i, code) in codes.iter().enumerate() {
            assert!(contains(&pdf, format!("({code}) Tj").as_bytes()), "{code}");
            assert!(contains(
                &pdf,
                format!("(Ticket {} of 4) Tj", i + 1).as_bytes()
            ));
        }
        for text in [
            "Lagos Jazz Night",
            "TM-7KQ2X9PA",
            "Ada Obi",
            "VIP",
            "Muri Okunola Park, Ikoyi, Lagos",
        ] {
            assert!(contains(&pdf, format!("({text}) Tj").as_bytes()), "{text}");
        }
        assert!(contains(
            &pdf,
            b"(Thu, 31 Dec 2026 20:30 WAT \\(Africa/Lagos\\)) Tj"
        ));
    }

    #[test]
    fn both_fonts_are_standard_helvetica_with_win_ansi_encoding() {
        let pdf = tickets(&sheet(&["CODE2345"])).unwrap();
        for base in ["Helvetica", "Helvetica-Bold"] {
            let font = format!("/BaseFont /{base} /Encoding /WinAnsiEncoding");
            assert!(contains(&pdf, font.as_bytes()), "{base}");
        }
    }

    #[test]
    fn parentheses_and_backslashes_are_escaped() {
        let mut c = Canvas::default();
        c.text(Font::Regular, 10.0, 0.0, 0.0, r"a (b) \c");
        assert_eq!(
            String::from_utf8(c.ops).unwrap(),
            "BT /F1 10 Tf 0 0 Td (a \\(b\\) \\\\c) Tj ET\n"
        );
    }

    #[test]
    fn latin1_and_win_ansi_extras_are_kept_and_everything_else_is_a_question_mark() {
        assert_eq!(win_ansi("Café ×2"), b"Caf\xe9 \xd72".to_vec());
        assert_eq!(win_ansi("€5 – “Live”"), b"\x805 \x96 \x93Live\x94".to_vec());
        assert_eq!(win_ansi("東京 🎷 Ωmega"), b"?? ? ?mega".to_vec());
        assert_eq!(literal(&win_ansi("Café")), "Caf\\351");
        let mut c = Canvas::default();
        c.text(Font::Bold, 12.0, 1.5, 2.25, "Show 東京");
        assert!(String::from_utf8(c.ops).unwrap().contains("(Show ??) Tj"));
    }

    #[test]
    fn numbers_are_short_operands() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(595.28), "595.28");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(-0.001), "0");
    }

    #[test]
    fn long_titles_wrap_within_the_page_and_are_cut_after_three_lines() {
        let width = PAGE_WIDTH - 2.0 * MARGIN;
        let title = "The Extraordinarily Long Annual Celebration of Everything Jazz, Highlife, \
                     Afrobeat and Fuji Music Featuring Many Special Guests From Every Corner";
        let lines = wrap(Font::Bold, 22.0, title, width, 3);
        assert_eq!(lines.len(), 3, "{lines:?}");
        for line in &lines {
            assert!(text_width(Font::Bold, 22.0, line) <= width, "{line}");
        }
        assert!(lines[2].ends_with('…'), "{lines:?}");
        let word = "W".repeat(200);
        let lines = wrap(Font::Bold, 22.0, &word, width, 3);
        assert!(
            lines
                .iter()
                .all(|l| text_width(Font::Bold, 22.0, l) <= width)
        );
        assert_eq!(wrap(Font::Bold, 22.0, "Short", width, 3), vec!["Short"]);
        let cut = fit(Font::Bold, 12.0, &"Name ".repeat(40), 200.0);
        assert!(cut.ends_with('…') && text_width(Font::Bold, 12.0, &cut) <= 200.0);
    }

    #[test]
    fn a_three_line_title_that_fits_exactly_gets_no_ellipsis() {
        let width = 100.0;
        let lines = wrap(Font::Regular, 10.0, "one two three", width, 3);
        assert_eq!(lines, vec!["one two three"]);
    }

    #[test]
    fn the_qr_code_is_drawn_at_least_50_mm_wide_with_its_quiet_zone_from_the_shared_matrix() {
        let code = "ABCDEFGH23456789ABCDEFGH23456789ABCDEFGH23";
        let modules = qr::modules(code).unwrap();
        let mut c = Canvas::default();
        draw_qr(&mut c, &modules, 100.0, 700.0, QR_SIDE);
        let ops = String::from_utf8(c.ops).unwrap();
        // Repaint the rectangles on a module grid and compare with the matrix.
        let module = QR_SIDE / (modules.width + 2 * qr::QUIET) as f32;
        let mut dark = vec![false; modules.width * modules.width];
        for op in ops.lines() {
            let v: Vec<f32> = op
                .trim_end_matches(" re f")
                .split(' ')
                .map(|n| n.parse().unwrap())
                .collect();
            let col = ((v[0] - 100.0) / module).round() as usize - qr::QUIET;
            let cols = (v[2] / module).round() as usize;
            let row = ((700.0 - v[1] - v[3]) / module).round() as usize - qr::QUIET;
            assert_eq!((v[3] / module).round(), 1.0);
            for x in col..col + cols {
                dark[row * modules.width + x] = true;
            }
        }
        for y in 0..modules.width {
            for x in 0..modules.width {
                assert_eq!(
                    dark[y * modules.width + x],
                    modules.is_dark(x, y),
                    "{x},{y}"
                );
            }
        }
        // Measured on the page: the modules' span, plus the quiet zone's four modules each side.
        let (mut left, mut right) = (f32::MAX, f32::MIN);
        for op in ops.lines() {
            let v: Vec<f32> = op.split(' ').take(3).map(|n| n.parse().unwrap()).collect();
            left = left.min(v[0]);
            right = right.max(v[0] + v[2]);
        }
        let with_quiet_zone =
            (right - left) / modules.width as f32 * (modules.width + 2 * qr::QUIET) as f32;
        assert!(with_quiet_zone >= 50.0 * MM, "{} mm", with_quiet_zone / MM);
    }
}
