//! The group commands of the host: each passes to the session's client
//! once it is connected, so a session that is not logged in answers a
//! clear `not_connected` rather than waiting.
//!
//! Owns: these pass-through methods. Must not touch: what the commands
//! send (that is `client::groups`), HTTP.

use super::error::HostError;
use super::pool::Host;
use crate::client::groups::{GroupInfo, JoinedGroup, ParticipantAction, ParticipantResult};

impl Host {
    /// Creates a group on session `id` (see `Client::create_group`).
    pub async fn create_group(
        &self,
        id: &str,
        subject: &str,
        participants: &[String],
    ) -> Result<GroupInfo, HostError> {
        let client = self.connected_client(id)?;
        Ok(client.create_group(subject, participants).await?)
    }

    /// The groups session `id` is a member of.
    pub async fn groups(&self, id: &str) -> Result<Vec<GroupInfo>, HostError> {
        Ok(self.connected_client(id)?.groups().await?)
    }

    /// One group's metadata and members.
    pub async fn group_info(&self, id: &str, group: &str) -> Result<GroupInfo, HostError> {
        Ok(self.connected_client(id)?.group_info(group).await?)
    }

    /// Adds, removes, promotes or demotes members.
    pub async fn update_group_participants(
        &self,
        id: &str,
        group: &str,
        action: ParticipantAction,
        participants: &[String],
    ) -> Result<Vec<ParticipantResult>, HostError> {
        let client = self.connected_client(id)?;
        Ok(client
            .update_group_participants(group, action, participants)
            .await?)
    }

    pub async fn set_group_subject(
        &self,
        id: &str,
        group: &str,
        subject: &str,
    ) -> Result<(), HostError> {
        let client = self.connected_client(id)?;
        Ok(client.set_group_subject(group, subject).await?)
    }

    /// Sets (or, with `None`, removes) a group's description.
    pub async fn set_group_description(
        &self,
        id: &str,
        group: &str,
        description: Option<&str>,
    ) -> Result<(), HostError> {
        let client = self.connected_client(id)?;
        Ok(client.set_group_description(group, description).await?)
    }

    pub async fn leave_group(&self, id: &str, group: &str) -> Result<(), HostError> {
        Ok(self.connected_client(id)?.leave_group(group).await?)
    }

    /// The group's invite code; with `reset`, a new one replacing it.
    pub async fn group_invite_code(
        &self,
        id: &str,
        group: &str,
        reset: bool,
    ) -> Result<String, HostError> {
        let client = self.connected_client(id)?;
        Ok(client.group_invite_code(group, reset).await?)
    }

    /// Joins a group by invite code or link.
    pub async fn join_group(&self, id: &str, code: &str) -> Result<JoinedGroup, HostError> {
        Ok(self.connected_client(id)?.join_group(code).await?)
    }
}
