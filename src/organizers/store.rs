//! The onboarding area's `Store` methods.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Application, ApplicationRow, ApplicationStatus, Decision, DocumentRow};
use crate::audit::AuditEntry;
use crate::notify::NewMessage;
use crate::store::Store;

impl Store {
    /// An application with its documents.
    pub async fn application_by_id(&self, id: Uuid) -> sqlx::Result<Option<Application>> {
        crate::dispatch!(self, crate::organizers => application_by_id(id))
    }
    /// A user's newest application.
    pub async fn latest_application_of(&self, user_id: Uuid) -> sqlx::Result<Option<Application>> {
        crate::dispatch!(self, crate::organizers => latest_of_user(user_id))
    }
    /// Creates a DRAFT application with its email; `Err` with the id of the user's open one.
    pub async fn insert_application(
        &self,
        row: &ApplicationRow,
        started: &NewMessage,
    ) -> sqlx::Result<Result<(), Uuid>> {
        crate::dispatch!(self, crate::organizers => insert_application(row, started))
    }
    /// Writes an application's sections over the version read, while editable.
    pub async fn save_application_sections(
        &self,
        row: &ApplicationRow,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::organizers => save_sections(row, now))
    }
    /// Records documents while the application is editable; returns the replaced files' names.
    pub async fn put_application_documents(
        &self,
        id: Uuid,
        docs: &[DocumentRow],
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<Vec<String>>> {
        crate::dispatch!(self, crate::organizers => put_documents(id, docs, now))
    }
    /// Submits an application at `version` with its emails.
    pub async fn submit_application(
        &self,
        id: Uuid,
        version: i64,
        now: DateTime<Utc>,
        messages: &[NewMessage],
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::organizers => submit(id, version, now, messages))
    }
    /// The emails of the active admins.
    pub async fn admin_emails(&self) -> sqlx::Result<Vec<String>> {
        crate::dispatch!(self, crate::organizers => admin_emails())
    }
    /// Applies an admin's decision with its audit entry and email (and role, on approval).
    pub async fn decide_application(
        &self,
        id: Uuid,
        decision: &Decision<'_>,
        entry: &AuditEntry,
        message: &NewMessage,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::organizers => decide(id, decision, entry, message))
    }
    /// One page of applications and the total.
    pub async fn list_applications(
        &self,
        status: Option<ApplicationStatus>,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<Application>, i64)> {
        crate::dispatch!(self, crate::organizers => list_applications(status, limit, offset))
    }
}
