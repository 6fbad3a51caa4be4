//! QR codes as PNG images: a 1-bit grayscale PNG written directly (the
//! format is small: signature, IHDR, one zlib IDAT, IEND), so the API needs
//! no image crate. PNG layout from the PNG specification (RFC 2083).

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};

/// Pixels per QR module, and the quiet zone in modules around the code.
const SCALE: usize = 8;
const QUIET: usize = 4;

/// Renders `data` as a QR code PNG.
pub fn render(data: &[u8]) -> Result<Vec<u8>, String> {
    let code = qrcode::QrCode::new(data).map_err(|e| e.to_string())?;
    let width = code.width();
    let dark = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let row_bytes = side.div_ceil(8);

    // Scanlines: filter byte 0, then 1 bit per pixel, 1 = white.
    let mut raw = Vec::with_capacity(side * (row_bytes + 1));
    for y in 0..side {
        raw.push(0);
        let mut row = vec![0u8; row_bytes];
        let my = (y / SCALE).checked_sub(QUIET);
        for x in 0..side {
            let mx = (x / SCALE).checked_sub(QUIET);
            let is_dark = match (mx, my) {
                (Some(mx), Some(my)) if mx < width && my < width => {
                    dark[my * width + mx] == qrcode::Color::Dark
                }
                _ => false,
            };
            if !is_dark {
                row[x / 8] |= 0x80 >> (x % 8);
            }
        }
        raw.extend_from_slice(&row);
    }
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(&raw).map_err(|e| e.to_string())?;
    let idat = zlib.finish().map_err(|e| e.to_string())?;

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    // Bit depth 1, colour type 0 (grayscale), deflate, filter 0, no interlace.
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_png_decodes_to_the_qr_modules() {
        let png = render(b"2@abc,def,ghi,jkl,1").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let side = u32::from_be_bytes(png[16..20].try_into().unwrap()) as usize;
        // IDAT follows IHDR (8 + 25 bytes in).
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&png[41..41 + idat_len])
            .read_to_end(&mut raw)
            .unwrap();
        let row_bytes = side.div_ceil(8);
        assert_eq!(raw.len(), side * (row_bytes + 1));
        // The quiet zone is white; the finder pattern's corner is dark.
        let pixel =
            |x: usize, y: usize| raw[y * (row_bytes + 1) + 1 + x / 8] & (0x80 >> (x % 8)) != 0;
        assert!(pixel(0, 0), "quiet zone must be white");
        let corner = QUIET * SCALE;
        assert!(!pixel(corner, corner), "finder pattern must be dark");
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }
}
