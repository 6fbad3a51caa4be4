//! Sender-key (group message) interop with an independent implementation:
//! wacore-libsignal, reached through the `whatsapp-rust` dev-dependency.
//! Distribution messages and `skmsg` flow both ways, in and out of order;
//! passing means our chain KDF, "WhisperGroup" keys, cipher, signatures
//! and wire formats are libsignal's.

use std::collections::HashMap;

use wasp::signal::{
    create_distribution, group_decrypt, group_encrypt, process_distribution, SenderKeyRecord,
};
use whatsapp_rust::async_trait;
use whatsapp_rust::wacore::libsignal::protocol::{
    create_sender_key_distribution_message, group_decrypt as their_group_decrypt,
    group_encrypt as their_group_encrypt, process_sender_key_distribution_message,
    SenderKeyDistributionMessage, SenderKeyName, SenderKeyRecord as TheirRecord, SenderKeyStore,
    SignalProtocolError,
};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds")
        .block_on(future)
}

#[derive(Default)]
struct Store(HashMap<String, TheirRecord>);

#[async_trait]
impl SenderKeyStore for Store {
    async fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: TheirRecord,
    ) -> Result<(), SignalProtocolError> {
        self.0.insert(format!("{name:?}"), record);
        Ok(())
    }
    async fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> Result<Option<TheirRecord>, SignalProtocolError> {
        Ok(self.0.get(&format!("{name:?}")).cloned())
    }
}

fn name(sender: &str) -> SenderKeyName {
    SenderKeyName::new("120363000000000000@g.us".into(), sender.into())
}

fn new_rng() -> rand_libsignal::rngs::StdRng {
    rand_libsignal::make_rng::<rand_libsignal::rngs::StdRng>()
}

fn text(who: &str, i: usize) -> Vec<u8> {
    format!("{who} to the group #{i} {}", "y".repeat(i * 5)).into_bytes()
}

#[test]
fn libsignal_reads_our_group_messages() {
    let mut ours = SenderKeyRecord::new();
    let skdm = create_distribution(&mut ours).serialize();
    let mut theirs = Store::default();
    let parsed =
        SenderKeyDistributionMessage::try_from(skdm.as_slice()).expect("libsignal parses our SKDM");
    block_on(process_sender_key_distribution_message(
        &name("wasp"),
        &parsed,
        &mut theirs,
    ))
    .expect("libsignal accepts our SKDM");

    let messages: Vec<_> = (0..8)
        .map(|i| group_encrypt(&mut ours, &text("wasp", i)).expect("we encrypt"))
        .collect();
    for i in [0usize, 5, 1, 7, 2, 3, 6, 4] {
        let plaintext = block_on(their_group_decrypt(
            &messages[i],
            &mut theirs,
            &name("wasp"),
        ))
        .expect("libsignal decrypts our skmsg");
        assert_eq!(plaintext, text("wasp", i));
    }
    // libsignal refuses a replay and a tampered message, as we do.
    assert!(block_on(their_group_decrypt(
        &messages[3],
        &mut theirs,
        &name("wasp")
    ))
    .is_err());
    let mut tampered = group_encrypt(&mut ours, b"late").expect("we encrypt");
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x01;
    assert!(block_on(their_group_decrypt(&tampered, &mut theirs, &name("wasp"))).is_err());
}

#[test]
fn we_read_libsignal_group_messages() {
    let mut theirs = Store::default();
    let skdm = block_on(create_sender_key_distribution_message(
        &name("libsignal"),
        &mut theirs,
        &mut new_rng(),
    ))
    .expect("libsignal creates an SKDM");
    // A member that joins after two messages gets a later distribution.
    let mut early = SenderKeyRecord::new();
    process_distribution(&mut early, skdm.serialized()).expect("we accept libsignal's SKDM");

    let mut rng = new_rng();
    let mut send = |i: usize| {
        block_on(their_group_encrypt(
            &mut theirs,
            &name("libsignal"),
            &text("libsignal", i),
            &mut rng,
        ))
        .expect("libsignal encrypts")
        .serialized()
        .to_vec()
    };
    let first: Vec<_> = (0..2).map(&mut send).collect();
    let rest: Vec<_> = (2..10).map(&mut send).collect();
    for i in [1usize, 0] {
        assert_eq!(
            group_decrypt(&mut early, &first[i]).expect("we decrypt"),
            text("libsignal", i)
        );
    }
    for i in [7usize, 2, 4, 3, 6, 5, 0, 1] {
        assert_eq!(
            group_decrypt(&mut early, &rest[i]).expect("we decrypt out of order"),
            text("libsignal", i + 2)
        );
    }
    assert!(
        group_decrypt(&mut early, &rest[4]).is_err(),
        "replay refused"
    );

    let later = block_on(create_sender_key_distribution_message(
        &name("libsignal"),
        &mut theirs,
        &mut new_rng(),
    ))
    .expect("libsignal re-creates its SKDM");
    let mut late = SenderKeyRecord::new();
    process_distribution(&mut late, later.serialized()).expect("we accept the later SKDM");
    let next = block_on(their_group_encrypt(
        &mut theirs,
        &name("libsignal"),
        b"welcome",
        &mut new_rng(),
    ))
    .expect("libsignal encrypts");
    assert_eq!(
        group_decrypt(&mut late, next.serialized()).expect("late joiner decrypts"),
        b"welcome"
    );
    assert!(
        group_decrypt(&mut late, &first[0]).is_err(),
        "before its distribution"
    );
}
