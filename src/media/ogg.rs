//! How long an OGG/Opus file plays, read from its pages as they stream
//! past: the last granule position (48 kHz samples, RFC 7845 §4) less the
//! stream's pre-skip (its `OpusHead`, RFC 7845 §5.1). Nothing is decoded;
//! memory is one page header. Voice notes carry this as `seconds`.

/// An OGG page header's fixed part (RFC 3533 §6), before its lacing
/// values.
const PAGE_HEAD: usize = 27;

/// Opus granule positions count samples at 48 kHz, whatever the input's
/// rate (RFC 7845 §4).
const OPUS_RATE: u64 = 48_000;

/// The first bytes of an `OpusHead` packet kept to read its pre-skip:
/// magic (8), version, channels, pre-skip (u16 LE).
const OPUS_HEAD_LEN: usize = 12;

/// Fed a file in pieces of any size; tells its duration once fed all.
#[derive(Debug, Default)]
pub struct OpusDuration {
    /// The page header being read (fixed part and lacing values).
    head: Vec<u8>,
    /// Body bytes of the current page still to pass.
    body_left: usize,
    /// The start of the first page's body (the `OpusHead` packet).
    first_body: Vec<u8>,
    pages: u64,
    /// The logical stream measured: the first page's.
    serial: Option<u32>,
    last_granule: Option<u64>,
    /// Not an OGG stream (a page without its capture pattern).
    broken: bool,
}

impl OpusDuration {
    pub fn new() -> OpusDuration {
        OpusDuration::default()
    }

    /// Reads the next piece of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.broken {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                if self.pages == 1 && self.first_body.len() < OPUS_HEAD_LEN {
                    let keep = (OPUS_HEAD_LEN - self.first_body.len()).min(n);
                    self.first_body.extend_from_slice(&data[..keep]);
                }
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let need = match self.head.get(PAGE_HEAD - 1) {
                Some(&lacing) => PAGE_HEAD + usize::from(lacing),
                None => PAGE_HEAD,
            };
            let n = (need - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.head.len() == PAGE_HEAD && !self.head.starts_with(b"OggS") {
                self.broken = true;
            } else if self.head.len() >= PAGE_HEAD
                && self.head.len() == PAGE_HEAD + usize::from(self.head[PAGE_HEAD - 1])
            {
                self.page_read();
            }
        }
    }

    /// The current page's header is complete: note its granule position
    /// and skip its body.
    fn page_read(&mut self) {
        let head = std::mem::take(&mut self.head);
        self.pages += 1;
        let granule = u64::from_le_bytes(head[6..14].try_into().unwrap_or([0xFF; 8]));
        let serial = u32::from_le_bytes(head[14..18].try_into().unwrap_or([0; 4]));
        let ours = *self.serial.get_or_insert(serial) == serial;
        // All ones: no packet ends on this page (RFC 3533 §6).
        if ours && granule != u64::MAX {
            self.last_granule = Some(granule);
        }
        self.body_left = head[PAGE_HEAD..].iter().map(|&l| usize::from(l)).sum();
        // The buffer is reused for the next page's header.
        self.head = head;
        self.head.clear();
    }

    /// Whole seconds the stream plays (rounded, at least 1 for any sound);
    /// `None` when it is not OGG/Opus or has no timed page.
    pub fn seconds(&self) -> Option<u32> {
        if self.broken || !self.first_body.starts_with(b"OpusHead") {
            return None;
        }
        let pre_skip = u64::from(u16::from_le_bytes([
            *self.first_body.get(10)?,
            *self.first_body.get(11)?,
        ]));
        let samples = self.last_granule?.checked_sub(pre_skip)?;
        let seconds = (samples + OPUS_RATE / 2) / OPUS_RATE;
        Some(u32::try_from(seconds.max(1)).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One OGG page (CRC left zero: it is not checked here) whose body is
    /// one packet.
    fn page(serial: u32, granule: u64, body: &[u8]) -> Vec<u8> {
        let mut page = b"OggS\0\0".to_vec();
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&serial.to_le_bytes());
        page.extend_from_slice(&[0; 8]); // sequence, CRC
        let mut lacing = vec![255u8; body.len() / 255];
        lacing.push((body.len() % 255) as u8);
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        page.extend_from_slice(body);
        page
    }

    fn opus_file(pre_skip: u16, last_granule: u64) -> Vec<u8> {
        let mut head = b"OpusHead\x01\x01".to_vec();
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]);
        let mut file = page(7, 0, &head);
        file.extend(page(7, 0, b"OpusTags\0\0\0\0\0\0\0\0"));
        file.extend(page(7, last_granule / 2, &[0x55; 300]));
        // Another logical stream's page does not count.
        file.extend(page(9, 99 * OPUS_RATE, &[1; 10]));
        file.extend(page(7, last_granule, &[0x66; 600]));
        file
    }

    #[test]
    fn the_duration_is_read_whatever_the_pieces() {
        // 7.6 s of sound after a 312-sample pre-skip.
        let file = opus_file(312, 312 + 7 * OPUS_RATE + 28_800);
        for piece in [1, 2, 5, 27, 28, 300, file.len()] {
            let mut d = OpusDuration::new();
            for chunk in file.chunks(piece) {
                d.update(chunk);
            }
            assert_eq!(d.seconds(), Some(8), "pieces of {piece}");
        }
    }

    #[test]
    fn a_short_note_is_one_second_and_other_files_have_none() {
        let mut d = OpusDuration::new();
        d.update(&opus_file(312, 312 + 100));
        assert_eq!(d.seconds(), Some(1));

        let mut mp3 = OpusDuration::new();
        mp3.update(b"ID3\x04\0\0\0\0\0\0 lots of mp3 frames and more bytes than a page");
        assert_eq!(mp3.seconds(), None);

        let mut vorbis = OpusDuration::new();
        vorbis.update(&page(1, 0, b"\x01vorbis\0\0\0\0\x01"));
        vorbis.update(&page(1, 96_000, &[0; 40]));
        assert_eq!(vorbis.seconds(), None);

        let mut cut = OpusDuration::new();
        cut.update(&opus_file(312, 10 * OPUS_RATE)[..40]);
        assert_eq!(cut.seconds(), None, "no timed page yet");
    }
}
