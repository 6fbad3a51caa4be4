//! Prekeys through the protocol: the count at login, uploads.

use crate::client::core::Action;
use crate::client::testing::*;
use crate::client::{Event, Status};
use crate::wire::Node;

#[test]
fn login_success_goes_active_and_uploads_prekeys_when_the_server_is_low() {
    let (mut p, now, out) = connected();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Status(Status::Connected))));
    assert_eq!(events(&out), vec![&Event::Connected]);
    // passive/active, the prekey count and the A/B props, in that order.
    let iqs = sent(&out);
    let xmlns: Vec<_> = iqs.iter().map(|iq| iq.get_attr("xmlns")).collect();
    assert_eq!(xmlns, [Some("passive"), Some("encrypt"), Some("abt")]);
    assert!(iqs[0].child("active").is_some());
    assert!(iqs[1].child("count").is_some());

    let count_id = iqs[1].get_attr("id").unwrap().to_string();
    let answer = Node::new("iq")
        .attr("from", server())
        .attr("type", "result")
        .attr("id", count_id)
        .children(vec![Node::new("count").attr("value", "2")]);
    let out = p.on_node(&answer, now);
    // Keys and the advanced id are persisted before the upload goes out.
    assert!(matches!(out[0], Action::StorePreKeys(ref k) if k.len() == 50 && k[0].id == 1));
    assert!(matches!(out[1], Action::SaveCreds));
    let Action::Send(upload) = &out[2] else {
        panic!("upload expected third")
    };
    assert_eq!(upload.child("list").unwrap().child_nodes().len(), 50);
    assert_eq!(p.creds().next_prekey_id, 51);
    assert_eq!(p.creds().first_unuploaded_prekey_id, 1);

    let out = p.on_node(&result_for(upload), now);
    assert!(matches!(out[..], [Action::SaveCreds]));
    assert_eq!(p.creds().first_unuploaded_prekey_id, 51);
}

#[test]
fn enough_prekeys_on_the_server_means_no_upload() {
    let (mut p, now, out) = connected();
    let count_id = sent(&out)[1].get_attr("id").unwrap().to_string();
    let answer = Node::new("iq")
        .attr("type", "result")
        .attr("id", count_id)
        .children(vec![Node::new("count").attr("value", "5")]);
    assert!(p.on_node(&answer, now).is_empty());
    assert_eq!(p.creds().next_prekey_id, 1);
}
