//! History-sync chunks: the zlib-compressed `HistorySync` protobuf the
//! phone hands a new companion (whatsmeow `DecodeHistorySync`,
//! whatsapp-rust `history_sync.rs`: inflate, then decode).
//!
//! wasp reads one thing of a chunk: the contacts' phone number ↔ LID
//! pairs (`phoneNumberToLidMappings`, field 15). A first chunk holds the
//! account's recent conversations too, megabytes of them, so the chunk is
//! never held whole: [`LidPairReader`] is a `Write` sink that inflates
//! what it is given and walks the top-level fields as they stream past,
//! keeping only the pairs. Memory stays at the inflater's window plus one
//! small entry, whatever the chunk's size.
//!
//! Pure: no I/O of its own, nothing of ours but the generated messages.

use std::io::{self, Write};

use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use prost::Message as _;

use super::{HistorySync, PhoneNumberToLidMapping};

/// `HistorySync.phoneNumberToLidMappings` (waproto whatsapp.proto).
const LID_MAPPINGS_FIELD: u64 = 15;
/// A pair is two JIDs: an entry longer than this is not one (skipped).
const MAX_ENTRY: u64 = 512;
/// Pairs past this many are ignored: a bound on what one chunk can make
/// the session store.
pub const MAX_PAIRS: usize = 50_000;
/// A chunk that inflates past this is refused (a compression bomb would
/// otherwise cost CPU without end).
pub const MAX_INFLATED: u64 = 1 << 30;

/// Why a chunk could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history chunk is not valid zlib: {0}")]
    Inflate(String),
    #[error("history chunk is not a HistorySync protobuf: {0}")]
    Protobuf(&'static str),
    #[error("history chunk inflates past {MAX_INFLATED} bytes")]
    TooLarge,
}

impl From<HistoryError> for io::Error {
    fn from(e: HistoryError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Compresses `history` as the phone does (zlib).
pub fn compress(history: &HistorySync) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(&history.encode_to_vec());
    encoder.finish().unwrap_or_default()
}

/// The pairs of a whole compressed chunk held in memory (the small
/// first chunk the phone puts in the notification itself).
pub fn lid_pairs(compressed: &[u8]) -> Result<Vec<PhoneNumberToLidMapping>, HistoryError> {
    let mut reader = LidPairReader::new();
    reader.inflate(compressed)?;
    reader.finish()
}

/// How much inflated output is handed to the scanner at a time.
const OUT_CHUNK: usize = 32 * 1024;

/// Inflates a compressed chunk written to it and keeps its LID pairs.
pub struct LidPairReader {
    inflater: Decompress,
    out: Vec<u8>,
    scanner: FieldScanner,
    /// The zlib stream said it ended (what follows is ignored).
    ended: bool,
}

impl Default for LidPairReader {
    fn default() -> Self {
        LidPairReader::new()
    }
}

impl LidPairReader {
    pub fn new() -> LidPairReader {
        LidPairReader {
            inflater: Decompress::new(true),
            out: vec![0; OUT_CHUNK],
            scanner: FieldScanner::default(),
            ended: false,
        }
    }

    /// Inflates `input` (all of it, unless the stream ends first),
    /// scanning what comes out.
    fn inflate(&mut self, mut input: &[u8]) -> Result<(), HistoryError> {
        while !self.ended {
            let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress(input, &mut self.out, FlushDecompress::None)
                .map_err(|e| HistoryError::Inflate(e.to_string()))?;
            let consumed = usize::try_from(self.inflater.total_in() - in_before).unwrap_or(0);
            let produced = usize::try_from(self.inflater.total_out() - out_before).unwrap_or(0);
            input = input.get(consumed..).unwrap_or_default();
            self.scanner.scan_counted(&self.out[..produced])?;
            self.ended = status == Status::StreamEnd;
            if produced == self.out.len() {
                continue; // more output may be pending
            }
            if input.is_empty() {
                break;
            }
            if consumed == 0 && produced == 0 {
                return Err(HistoryError::Inflate("the stream makes no progress".into()));
            }
        }
        Ok(())
    }

    /// The pairs, once the whole chunk was written. A chunk cut short
    /// (in the zlib stream or in a protobuf field) is an error.
    pub fn finish(mut self) -> Result<Vec<PhoneNumberToLidMapping>, HistoryError> {
        self.inflate(&[])?;
        if !self.ended {
            return Err(HistoryError::Inflate("the stream is cut short".into()));
        }
        if !self.scanner.at_field_boundary() {
            return Err(HistoryError::Protobuf("cut short inside a field"));
        }
        Ok(self.scanner.pairs)
    }
}

impl Write for LidPairReader {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inflate(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where the walk over the top-level fields stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Reading a field's key.
    #[default]
    Key,
    /// Reading the length of a length-delimited field.
    Length { field: u64 },
    /// Reading a varint value (skipped).
    Varint,
    /// Passing over this many bytes of a field we do not read.
    Skip(u64),
    /// Collecting this many more bytes of a pair entry.
    Take(u64),
}

/// Walks the top-level fields of an inflated `HistorySync` as its bytes
/// arrive, in any split.
#[derive(Default)]
struct FieldScanner {
    step: Step,
    /// The varint being read, and how many of its bytes came so far.
    varint: u64,
    varint_bytes: u32,
    entry: Vec<u8>,
    pairs: Vec<PhoneNumberToLidMapping>,
    inflated: u64,
}

impl FieldScanner {
    fn at_field_boundary(&self) -> bool {
        self.step == Step::Key && self.varint_bytes == 0
    }

    /// Feeds one byte of a varint; its value once complete.
    fn varint_byte(&mut self, byte: u8) -> Result<Option<u64>, HistoryError> {
        if self.varint_bytes >= 10 {
            return Err(HistoryError::Protobuf("varint longer than 10 bytes"));
        }
        self.varint |= u64::from(byte & 0x7f) << (7 * self.varint_bytes);
        self.varint_bytes += 1;
        if byte & 0x80 != 0 {
            return Ok(None);
        }
        let value = self.varint;
        self.varint = 0;
        self.varint_bytes = 0;
        Ok(Some(value))
    }

    /// What comes after a field's key.
    fn after_key(key: u64) -> Result<Step, HistoryError> {
        let field = key >> 3;
        if field == 0 {
            return Err(HistoryError::Protobuf("field number 0"));
        }
        match key & 7 {
            0 => Ok(Step::Varint),
            1 => Ok(Step::Skip(8)),
            2 => Ok(Step::Length { field }),
            5 => Ok(Step::Skip(4)),
            _ => Err(HistoryError::Protobuf("unsupported wire type")),
        }
    }

    /// Scans the next inflated bytes, counting them against the bound.
    fn scan_counted(&mut self, buf: &[u8]) -> Result<(), HistoryError> {
        self.inflated += buf.len() as u64;
        if self.inflated > MAX_INFLATED {
            return Err(HistoryError::TooLarge);
        }
        self.scan(buf)
    }

    fn entry_done(&mut self) {
        if self.pairs.len() < MAX_PAIRS {
            if let Ok(pair) = PhoneNumberToLidMapping::decode(self.entry.as_slice()) {
                self.pairs.push(pair);
            }
        }
        self.entry.clear();
    }

    fn scan(&mut self, mut buf: &[u8]) -> Result<(), HistoryError> {
        while let Some((&byte, rest)) = buf.split_first() {
            match self.step {
                Step::Skip(left) | Step::Take(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    if let Step::Take(_) = self.step {
                        self.entry.extend_from_slice(&buf[..n]);
                    }
                    let left = left - n as u64;
                    buf = &buf[n..];
                    self.step = match self.step {
                        Step::Take(_) if left == 0 => {
                            self.entry_done();
                            Step::Key
                        }
                        Step::Take(_) => Step::Take(left),
                        _ if left == 0 => Step::Key,
                        _ => Step::Skip(left),
                    };
                }
                Step::Key => {
                    buf = rest;
                    if let Some(key) = self.varint_byte(byte)? {
                        self.step = Self::after_key(key)?;
                    }
                }
                Step::Varint => {
                    buf = rest;
                    if self.varint_byte(byte)?.is_some() {
                        self.step = Step::Key;
                    }
                }
                Step::Length { field } => {
                    buf = rest;
                    if let Some(len) = self.varint_byte(byte)? {
                        self.step = match len {
                            0 => Step::Key,
                            _ if field == LID_MAPPINGS_FIELD && len <= MAX_ENTRY => Step::Take(len),
                            _ => Step::Skip(len),
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::proto::HistorySyncType;

    fn pair(pn: &str, lid: &str) -> PhoneNumberToLidMapping {
        PhoneNumberToLidMapping {
            pn_jid: Some(format!("{pn}@s.whatsapp.net")),
            lid_jid: Some(format!("{lid}@lid")),
        }
    }

    fn chunk(pairs: Vec<PhoneNumberToLidMapping>) -> HistorySync {
        HistorySync {
            sync_type: Some(HistorySyncType::InitialBootstrap.into()),
            chunk_order: Some(1),
            progress: Some(100),
            phone_number_to_lid_mappings: pairs,
        }
    }

    /// A chunk with the fields wasp skips around the pairs: a large
    /// conversations field (2), a fixed64 and a fixed32 of unknown fields.
    fn noisy_chunk(pairs: &[PhoneNumberToLidMapping]) -> Vec<u8> {
        let mut raw = Vec::new();
        prost::encoding::bytes::encode(2, &vec![7u8; 70_000], &mut raw);
        prost::encoding::fixed64::encode(30, &u64::MAX, &mut raw);
        for p in pairs {
            prost::encoding::message::encode(15, p, &mut raw);
        }
        prost::encoding::fixed32::encode(31, &7, &mut raw);
        prost::encoding::uint32::encode(5, &3, &mut raw);
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&raw).expect("vec");
        encoder.finish().expect("vec")
    }

    #[test]
    fn the_pairs_of_a_chunk_are_read() {
        let pairs = vec![pair("15550001111", "700001"), pair("15550002222", "700002")];
        assert_eq!(
            lid_pairs(&compress(&chunk(pairs.clone()))).expect("read"),
            pairs
        );
        assert_eq!(lid_pairs(&compress(&chunk(Vec::new()))).expect("read"), []);
    }

    #[test]
    fn fields_around_the_pairs_are_skipped() {
        let pairs = vec![pair("15550001111", "700001"), pair("15550003333", "700003")];
        assert_eq!(lid_pairs(&noisy_chunk(&pairs)).expect("read"), pairs);
    }

    #[test]
    fn damaged_chunks_are_errors_not_pairs() {
        let whole = compress(&chunk(vec![pair("15550001111", "700001")]));
        assert!(lid_pairs(&whole[..whole.len() - 6]).is_err(), "cut zlib");
        assert!(lid_pairs(b"not zlib at all").is_err());
        assert!(lid_pairs(&[]).is_err());
        // Valid zlib around a protobuf cut inside a field.
        let mut raw = chunk(vec![pair("15550001111", "700001")]).encode_to_vec();
        raw.truncate(raw.len() - 3);
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&raw).expect("vec");
        let cut = encoder.finish().expect("vec");
        assert!(matches!(lid_pairs(&cut), Err(HistoryError::Protobuf(_))));
        // A group wire type (3) is not in HistorySync.
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&[0x0b, 0x0c]).expect("vec");
        let groups = encoder.finish().expect("vec");
        assert!(matches!(lid_pairs(&groups), Err(HistoryError::Protobuf(_))));
    }

    #[test]
    fn an_oversized_entry_is_skipped_and_the_walk_goes_on() {
        let huge = PhoneNumberToLidMapping {
            pn_jid: Some("1".repeat(600)),
            lid_jid: Some("2@lid".into()),
        };
        let fine = pair("15550001111", "700001");
        let got = lid_pairs(&compress(&chunk(vec![huge, fine.clone()]))).expect("read");
        assert_eq!(got, [fine]);
    }

    proptest! {
        #[test]
        fn any_split_of_the_stream_reads_the_same_pairs(
            cuts in proptest::collection::vec(1usize..5_000, 0..20),
            count in 0usize..40,
        ) {
            let pairs: Vec<_> = (0..count)
                .map(|i| pair(&format!("1555000{i:04}"), &format!("70{i:04}")))
                .collect();
            let compressed = noisy_chunk(&pairs);
            let mut reader = LidPairReader::new();
            let mut rest = compressed.as_slice();
            for cut in cuts {
                let n = cut.min(rest.len());
                reader.write_all(&rest[..n]).expect("write");
                rest = &rest[n..];
            }
            reader.write_all(rest).expect("write");
            prop_assert_eq!(reader.finish().expect("read"), pairs);
        }
    }
}
