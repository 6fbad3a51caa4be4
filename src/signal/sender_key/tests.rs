//! Unit tests of sender keys between our own group members.

use super::*;

fn json(record: &SenderKeyRecord) -> String {
    serde_json::to_string(record).unwrap()
}

/// Alice's own record and Bob's record of Alice's chain.
fn pair() -> (SenderKeyRecord, SenderKeyRecord) {
    let mut alice = SenderKeyRecord::new();
    let skdm = create_distribution(&mut alice).serialize();
    let mut bob = SenderKeyRecord::new();
    process_distribution(&mut bob, &skdm).unwrap();
    (alice, bob)
}

#[test]
fn members_decrypt_in_and_out_of_order() {
    let (mut alice, mut bob) = pair();
    let messages: Vec<_> = (0..6)
        .map(|i| group_encrypt(&mut alice, format!("g{i}").as_bytes()).unwrap())
        .collect();
    for i in [0usize, 3, 1, 5, 2, 4] {
        assert_eq!(
            group_decrypt(&mut bob, &messages[i]).unwrap(),
            format!("g{i}").as_bytes()
        );
    }
    // Bob cannot send on Alice's chain.
    assert_eq!(
        group_encrypt(&mut bob, b"x"),
        Err(SignalError::NoOwnSenderKey)
    );
}

#[test]
fn distribution_is_stable_and_late_joiners_start_mid_chain() {
    let mut alice = SenderKeyRecord::new();
    let first = create_distribution(&mut alice);
    group_encrypt(&mut alice, b"before carol").unwrap();
    let second = create_distribution(&mut alice);
    assert_eq!(first.chain_id, second.chain_id);
    assert_eq!(second.iteration, 1);
    let mut carol = SenderKeyRecord::new();
    process_distribution(&mut carol, &second.serialize()).unwrap();
    let m = group_encrypt(&mut alice, b"hi carol").unwrap();
    assert_eq!(group_decrypt(&mut carol, &m).unwrap(), b"hi carol");
}

#[test]
fn replay_tamper_and_unknown_chain_are_errors_with_state_unchanged() {
    let (mut alice, mut bob) = pair();
    let m = group_encrypt(&mut alice, b"once").unwrap();
    assert_eq!(group_decrypt(&mut bob, &m).unwrap(), b"once");
    let before = json(&bob);
    assert_eq!(
        group_decrypt(&mut bob, &m),
        Err(SignalError::DuplicateMessage { counter: 0 })
    );
    let next = group_encrypt(&mut alice, b"next").unwrap();
    for i in 0..next.len() {
        let mut bad = next.clone();
        bad[i] ^= 0x02;
        assert!(group_decrypt(&mut bob, &bad).is_err(), "byte {i}");
        assert_eq!(json(&bob), before, "state moved after byte {i}");
    }
    let (mut stranger, _) = pair();
    let foreign = group_encrypt(&mut stranger, b"?").unwrap();
    assert!(matches!(
        group_decrypt(&mut bob, &foreign),
        Err(SignalError::NoSenderKey { .. })
    ));
    assert_eq!(group_decrypt(&mut bob, &next).unwrap(), b"next");
}

#[test]
fn forward_jump_is_bounded() {
    let (mut alice, mut bob) = pair();
    let messages: Vec<_> = (0..=MAX_SKIPPED_KEYS + 1)
        .map(|_| group_encrypt(&mut alice, b"m").unwrap())
        .collect();
    assert!(matches!(
        group_decrypt(&mut bob, messages.last().unwrap()),
        Err(SignalError::TooFarInFuture { .. })
    ));
    assert_eq!(
        group_decrypt(&mut bob, &messages[MAX_SKIPPED_KEYS]).unwrap(),
        b"m"
    );
    assert_eq!(group_decrypt(&mut bob, &messages[0]).unwrap(), b"m");
}

#[test]
fn record_keeps_at_most_five_chains_and_survives_json() {
    let mut bob = SenderKeyRecord::new();
    let mut senders = Vec::new();
    for _ in 0..MAX_SENDER_KEY_STATES + 2 {
        let mut alice = SenderKeyRecord::new();
        process_distribution(&mut bob, &create_distribution(&mut alice).serialize()).unwrap();
        senders.push(alice);
    }
    assert_eq!(bob.states.len(), MAX_SENDER_KEY_STATES);
    let mut bob: SenderKeyRecord = serde_json::from_str(&json(&bob)).unwrap();
    let oldest = group_encrypt(&mut senders[0], b"gone").unwrap();
    assert!(group_decrypt(&mut bob, &oldest).is_err());
    let newest = senders.last_mut().unwrap();
    let m = group_encrypt(newest, b"still here").unwrap();
    assert_eq!(group_decrypt(&mut bob, &m).unwrap(), b"still here");
    // Re-processing a known distribution (the original, iteration 0)
    // keeps progress: it must not reopen a replay window.
    let mut carol = SenderKeyRecord::new();
    let original = create_distribution(&mut senders[1]).serialize();
    process_distribution(&mut carol, &original).unwrap();
    let m0 = group_encrypt(&mut senders[1], b"m0").unwrap();
    assert_eq!(group_decrypt(&mut carol, &m0).unwrap(), b"m0");
    process_distribution(&mut carol, &original).unwrap();
    assert!(matches!(
        group_decrypt(&mut carol, &m0),
        Err(SignalError::DuplicateMessage { counter: 0 })
    ));
}

#[test]
fn distribution_messages_round_trip_and_refuse_garbage() {
    let mut alice = SenderKeyRecord::new();
    let skdm = create_distribution(&mut alice);
    let bytes = skdm.serialize();
    assert_eq!(bytes[0], 0x33);
    assert_eq!(SenderKeyDistributionMessage::parse(&bytes).unwrap(), skdm);
    for len in 0..bytes.len() {
        let _ = SenderKeyDistributionMessage::parse(&bytes[..len]);
        let _ = process_distribution(&mut SenderKeyRecord::new(), &bytes[..len]);
    }
    assert!(group_decrypt(&mut alice, &[]).is_err());
    assert!(group_decrypt(&mut alice, &[0x33; 70]).is_err());
}
