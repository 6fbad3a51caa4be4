//! Group routes: create, list, get, participants (add, remove, promote,
//! demote), subject, description, leave, invite code (get, revoke), join
//! by code. Thin handlers over `Host`; each `#[utoipa::path]` is its
//! entry in the OpenAPI document. Texts to a group go through
//! `POST /v1/sessions/{id}/messages` with the group's JID in `to`.
//! Must not touch: what the commands send (the client's), session
//! lifecycle.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{GroupRoute, SessionId};
use super::json::JsonBody;
use super::schemas::{CommandErrors, GroupPath, SessionPath};
use super::state::AppState;
use crate::host::{GroupInfo, JoinedGroup, ParticipantAction, ParticipantResult};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// The group's name; not empty.
    subject: String,
    /// Members besides us: `+<phone>`, `<n>@s.whatsapp.net` or `<n>@lid`;
    /// at least one.
    participants: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/groups",
    summary = "Create a group with us as its creator",
    params(SessionPath),
    request_body = CreateGroup,
    responses(
        (status = 201, description = "Created", body = GroupInfo),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, empty_subject, subject_too_long, invalid_recipient", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<CreateGroup>,
) -> Result<(StatusCode, Json<GroupInfo>), ApiError> {
    check_subject(&body.subject)?;
    let info = state
        .host
        .create_group(&id, &body.subject, &body.participants)
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/groups",
    summary = "The groups the session is a member of",
    params(SessionPath),
    responses(
        (status = 200, description = "Every group, with its members", body = Vec<GroupInfo>),
        (status = 400, description = "invalid_path", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<Vec<GroupInfo>>, ApiError> {
    Ok(Json(state.host.groups(&id).await?))
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/groups/{group}",
    summary = "A group's metadata and members",
    params(GroupPath),
    responses(
        (status = 200, description = "The group", body = GroupInfo),
        (status = 400, description = "invalid_path, invalid_group", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    route: GroupRoute,
) -> Result<Json<GroupInfo>, ApiError> {
    Ok(Json(state.host.group_info(&route.id, &route.group).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeParticipants {
    action: ParticipantAction,
    /// `+<phone>`, `<n>@s.whatsapp.net` or `<n>@lid`; at least one.
    participants: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/groups/{group}/participants",
    summary = "Add, remove, promote or demote members (admins only)",
    params(GroupPath),
    request_body = ChangeParticipants,
    responses(
        (status = 200, description = "How it went for each member (`error`: the server's code where it failed)", body = Vec<ParticipantResult>),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, invalid_group, invalid_recipient", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn participants(
    State(state): State<AppState>,
    route: GroupRoute,
    JsonBody(body): JsonBody<ChangeParticipants>,
) -> Result<Json<Vec<ParticipantResult>>, ApiError> {
    let results = state
        .host
        .update_group_participants(&route.id, &route.group, body.action, &body.participants)
        .await?;
    Ok(Json(results))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSubject {
    /// Not empty.
    subject: String,
}

#[utoipa::path(
    put,
    path = "/v1/sessions/{id}/groups/{group}/subject",
    summary = "Rename a group",
    params(GroupPath),
    request_body = SetSubject,
    responses(
        (status = 204, description = "Renamed"),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, invalid_group, empty_subject, subject_too_long", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn subject(
    State(state): State<AppState>,
    route: GroupRoute,
    JsonBody(body): JsonBody<SetSubject>,
) -> Result<StatusCode, ApiError> {
    check_subject(&body.subject)?;
    state
        .host
        .set_group_subject(&route.id, &route.group, &body.subject)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDescription {
    /// The new description; `null` removes it.
    description: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/sessions/{id}/groups/{group}/description",
    summary = "Set or remove a group's description",
    params(GroupPath),
    request_body = SetDescription,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, invalid_group, description_too_long", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn description(
    State(state): State<AppState>,
    route: GroupRoute,
    JsonBody(body): JsonBody<SetDescription>,
) -> Result<StatusCode, ApiError> {
    if let Some(description) = &body.description {
        check_length(
            "description_too_long",
            "description",
            description,
            MAX_DESCRIPTION_CHARS,
        )?;
    }
    state
        .host
        .set_group_description(&route.id, &route.group, body.description.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/groups/{group}/leave",
    summary = "Leave a group",
    params(GroupPath),
    responses(
        (status = 204, description = "Left"),
        (status = 400, description = "invalid_path, invalid_group", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn leave(
    State(state): State<AppState>,
    route: GroupRoute,
) -> Result<StatusCode, ApiError> {
    state.host.leave_group(&route.id, &route.group).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A group's invite.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Invite {
    code: String,
    /// `https://chat.whatsapp.com/<code>`.
    link: String,
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/groups/{group}/invite",
    summary = "The group's invite code and link",
    params(GroupPath),
    responses(
        (status = 200, description = "The invite", body = Invite),
        (status = 400, description = "invalid_path, invalid_group", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn invite(state: State<AppState>, route: GroupRoute) -> Result<Json<Invite>, ApiError> {
    invite_code(state, route, false).await
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/groups/{group}/invite/revoke",
    summary = "Revoke the invite link; answers the new one",
    params(GroupPath),
    responses(
        (status = 200, description = "The new invite", body = Invite),
        (status = 400, description = "invalid_path, invalid_group", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn revoke_invite(
    state: State<AppState>,
    route: GroupRoute,
) -> Result<Json<Invite>, ApiError> {
    invite_code(state, route, true).await
}

async fn invite_code(
    State(state): State<AppState>,
    route: GroupRoute,
    reset: bool,
) -> Result<Json<Invite>, ApiError> {
    let code = state
        .host
        .group_invite_code(&route.id, &route.group, reset)
        .await?;
    let link = format!("https://chat.whatsapp.com/{code}");
    Ok(Json(Invite { code, link }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGroup {
    /// The invite code, or the whole `https://chat.whatsapp.com/…` link.
    code: String,
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/groups/join",
    summary = "Join a group by invite code or link",
    params(SessionPath),
    request_body = JoinGroup,
    responses(
        (status = 200, description = "Joined (or waiting for an admin's approval)", body = JoinedGroup),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, invalid_group (not an invite code)", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn join(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<JoinGroup>,
) -> Result<Json<JoinedGroup>, ApiError> {
    Ok(Json(state.host.join_group(&id, &body.code).await?))
}

/// WhatsApp's limits, in characters (the `group_max_subject` and
/// `group_description_length` A/B props; wacore `iq/groups.rs`): the
/// server refuses longer ones.
const MAX_SUBJECT_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 2048;

/// A subject must have something in it and fit WhatsApp's limit.
fn check_subject(subject: &str) -> Result<(), ApiError> {
    if subject.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_subject",
            "subject must not be empty",
        ));
    }
    check_length("subject_too_long", "subject", subject, MAX_SUBJECT_CHARS)
}

/// 400 `code` when `field` is over `max` characters.
fn check_length(code: &'static str, field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    let chars = text.chars().count();
    if chars <= max {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        code,
        format!("{field} has {chars} characters; WhatsApp allows {max}"),
    ))
}
