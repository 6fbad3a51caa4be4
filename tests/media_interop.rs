//! Our media encryption checked against an independent implementation,
//! whatsapp-rust 0.7's `wacore` (`upload.rs`, `download.rs`): under the
//! same media key both produce the same upload byte for byte, with the
//! same hashes, for every kind, and each decrypts what the other made.
//! This is what tells us a file we upload is one WhatsApp clients open.

use wasp::media::{self, Encryptor, MediaKind};
use whatsapp_rust::wacore::download::{DownloadUtils, MediaType};
use whatsapp_rust::wacore::upload::encrypt_media_with_key;

fn theirs(kind: MediaKind) -> MediaType {
    match kind {
        MediaKind::Image => MediaType::Image,
        MediaKind::Video => MediaType::Video,
        MediaKind::Audio => MediaType::Audio,
        MediaKind::Document => MediaType::Document,
        MediaKind::Sticker => MediaType::Sticker,
        MediaKind::History => MediaType::History,
    }
}

#[test]
fn our_uploads_are_wacores_byte_for_byte_and_open_both_ways() {
    for kind in MediaKind::ALL {
        for len in [0usize, 5, 16, 100_003] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let key = media::MediaKeys::generate_key();

            // In pieces, as a stream would give it.
            let mut encryptor = Encryptor::with_key(key, kind);
            let mut ours = Vec::new();
            for chunk in plain.chunks(7_001) {
                encryptor.update(chunk, &mut ours);
            }
            let info = encryptor.finish(&mut ours);

            let them = encrypt_media_with_key(&plain, theirs(kind), Some(&key)).expect("encrypts");
            assert_eq!(ours, them.data_to_upload, "{kind} of {len} bytes");
            assert_eq!(info.file_sha256, them.file_sha256);
            assert_eq!(info.file_enc_sha256, them.file_enc_sha256);

            // Each opens the other's.
            let opened = DownloadUtils::verify_and_decrypt(&ours, &key, theirs(kind))
                .expect("wacore opens ours");
            assert_eq!(opened, plain);
            let opened = media::decrypt(
                &them.data_to_upload,
                &key,
                kind,
                Some(&them.file_enc_sha256),
                Some(&them.file_sha256),
            )
            .expect("we open wacore's");
            assert_eq!(opened, plain);
        }
    }
}

#[test]
fn a_file_damaged_in_transit_is_refused_by_both() {
    let key = media::MediaKeys::generate_key();
    let (mut upload, info) = {
        let mut e = Encryptor::with_key(key, MediaKind::Document);
        let mut out = Vec::new();
        e.update(b"%PDF-1.7 a small invoice", &mut out);
        let info = e.finish(&mut out);
        (out, info)
    };
    upload[3] ^= 0x80;
    assert!(DownloadUtils::verify_and_decrypt(&upload, &key, MediaType::Document).is_err());
    assert_eq!(
        media::decrypt(
            &upload,
            &key,
            MediaKind::Document,
            Some(&info.file_enc_sha256),
            None
        ),
        Err(media::MediaError::BadMac)
    );
}
