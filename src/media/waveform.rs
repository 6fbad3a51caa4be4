//! A voice note's waveform: the 64 bars WhatsApp's apps draw for it, each
//! 0–100, the loudness of one sixty-fourth of the note relative to its
//! loudest part (what Baileys `getAudioWaveform` sends in
//! `AudioMessage.waveform`).
//!
//! Built from decoded sound (16-bit little-endian mono PCM, as ffmpeg
//! writes it) fed in pieces of any size. Memory is bounded whatever the
//! length: loudness is kept per block, and when the blocks reach
//! [`MAX_BLOCKS`] pairs are merged and blocks grow twice as long.

/// Bars in a waveform.
pub const BARS: usize = 64;

/// Samples per block at the start.
const FIRST_BLOCK: u64 = 64;

/// The most blocks kept (a multiple of [`BARS`]).
const MAX_BLOCKS: usize = 64 * BARS;

/// Fed PCM; gives the bars.
#[derive(Debug)]
pub struct Waveform {
    /// Mean absolute amplitude of each finished block.
    blocks: Vec<u32>,
    block_len: u64,
    /// The block being filled.
    sum: u64,
    count: u64,
    /// A sample's first byte when a piece ended between its two.
    odd: Option<u8>,
}

impl Default for Waveform {
    fn default() -> Self {
        Waveform::new()
    }
}

impl Waveform {
    pub fn new() -> Waveform {
        Waveform {
            blocks: Vec::new(),
            block_len: FIRST_BLOCK,
            sum: 0,
            count: 0,
            odd: None,
        }
    }

    /// Reads the next piece of PCM (s16le, one channel).
    pub fn update(&mut self, mut pcm: &[u8]) {
        if let Some(low) = self.odd.take() {
            let Some((&high, rest)) = pcm.split_first() else {
                self.odd = Some(low);
                return;
            };
            self.sample(i16::from_le_bytes([low, high]));
            pcm = rest;
        }
        let mut pairs = pcm.chunks_exact(2);
        for pair in &mut pairs {
            self.sample(i16::from_le_bytes([pair[0], pair[1]]));
        }
        self.odd = pairs.remainder().first().copied();
    }

    fn sample(&mut self, s: i16) {
        self.sum += u64::from(s.unsigned_abs());
        self.count += 1;
        if self.count == self.block_len {
            self.end_block();
        }
    }

    fn end_block(&mut self) {
        let mean = self.sum / self.count.max(1);
        self.blocks.push(u32::try_from(mean).unwrap_or(u32::MAX));
        self.sum = 0;
        self.count = 0;
        if self.blocks.len() == MAX_BLOCKS {
            self.blocks = self
                .blocks
                .chunks(2)
                .map(|p| (p[0] + p.get(1).copied().unwrap_or(p[0])) / 2)
                .collect();
            self.block_len *= 2;
        }
    }

    /// The 64 bars; `None` for no sound at all (fewer samples than bars).
    pub fn bars(mut self) -> Option<[u8; BARS]> {
        if self.count > 0 {
            self.end_block();
        }
        if self.blocks.len() < BARS {
            return None;
        }
        let n = self.blocks.len();
        let mut levels = [0u64; BARS];
        for (bar, level) in levels.iter_mut().enumerate() {
            let part = &self.blocks[bar * n / BARS..(bar + 1) * n / BARS];
            *level = part.iter().map(|&b| u64::from(b)).sum::<u64>() / part.len().max(1) as u64;
        }
        let loudest = levels.iter().copied().max().unwrap_or(0).max(1);
        let mut bars = [0u8; BARS];
        for (bar, level) in bars.iter_mut().zip(levels) {
            *bar = u8::try_from(level * 100 / loudest).unwrap_or(100);
        }
        Some(bars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seconds` of 8 kHz PCM growing louder from silence to full scale.
    fn ramp(seconds: u64) -> Vec<u8> {
        let total = seconds * 8_000;
        (0..total)
            .flat_map(|i| {
                let amplitude = (i * i16::MAX as u64 / total) as i16;
                let s = if i % 2 == 0 { amplitude } else { -amplitude };
                s.to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn bars_follow_the_loudness_whatever_the_pieces() {
        let pcm = ramp(3);
        let whole = {
            let mut w = Waveform::new();
            w.update(&pcm);
            w.bars().expect("bars")
        };
        assert_eq!(whole[0], 0, "silence first");
        assert_eq!(whole[BARS - 1], 100, "loudest last");
        assert!(whole.windows(2).all(|w| w[0] <= w[1]), "{whole:?}");
        for piece in [1, 3, 1001] {
            let mut w = Waveform::new();
            for chunk in pcm.chunks(piece) {
                w.update(chunk);
            }
            assert_eq!(w.bars(), Some(whole), "pieces of {piece}");
        }
    }

    #[test]
    fn a_long_note_keeps_bounded_memory_and_the_same_shape() {
        // 16 minutes at 8 kHz: 7.7 M samples, far past MAX_BLOCKS blocks;
        // sixteen ramps, four bars each.
        let mut w = Waveform::new();
        let pcm = ramp(60);
        for _ in 0..16 {
            w.update(&pcm);
        }
        assert!(w.blocks.len() < MAX_BLOCKS);
        let bars = w.bars().expect("bars");
        for ramp in bars.chunks(4) {
            assert!(ramp[0] < 30 && ramp[3] > 85, "{bars:?}");
            assert!(ramp.windows(2).all(|w| w[0] < w[1]), "{bars:?}");
        }
    }

    #[test]
    fn silence_is_flat_and_nothing_is_none() {
        let mut w = Waveform::new();
        w.update(&[0; 16_000]);
        assert_eq!(w.bars(), Some([0; BARS]));
        assert_eq!(Waveform::new().bars(), None);
    }
}
