//! Organizer application SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area). Every change is one conditional statement on the
//! application's status (and, for the applicant's edits, its `version`), so two requests never
//! both act on the same state; a decision changes the application, the applicant's role, the
//! audit log and the outbox in one transaction.

use super::{Db, audit, notify};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::notify::NewMessage;
use crate::organizers::model::{
    Application, ApplicationRow, ApplicationStatus, Decision, DocumentRow,
};
use crate::store::Pools;

const COLUMNS: &str = "id, user_id, status, personal_information, organization_details, address, \
     banking_information, account_number_sealed, account_key_id, experience_details, rejection_reason, \
     reviewer_note, reviewed_by, submitted_at, reviewed_at, version, created_at, updated_at";

const DOCUMENT_COLUMNS: &str =
    "application_id, doc_type, object_name, content_type, size_bytes, uploaded_at";

/// The statuses in which the applicant may change an application, as SQL.
const EDITABLE: &str = "status IN ('DRAFT', 'REQUIRES_ADDITIONAL_INFO')";

type Tx = sqlx::Transaction<'static, Db>;

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string())
}

/// A statement and the parameters bound to it so far.
type Statement<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

/// Binds the applicant's sections of `row` to the next seven parameters, in column order:
/// personal information, organization, address, banking, the sealed account number and its key,
/// experience.
fn bind_sections<'q>(query: Statement<'q>, row: &'q ApplicationRow) -> Statement<'q> {
    query
        .bind(json(&row.personal_information))
        .bind(json(&row.organization_details))
        .bind(json(&row.address))
        .bind(json(&row.banking_information))
        .bind(&row.account_number_sealed)
        .bind(&row.account_key_id)
        .bind(json(&row.experience_details))
}

/// The documents of one application.
async fn documents_of(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Vec<DocumentRow>> {
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM organizer_documents WHERE application_id = $1 ORDER BY doc_type"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&pools.write)
        .await
}

async fn with_documents(
    pools: &Pools<Db>,
    row: Option<ApplicationRow>,
) -> sqlx::Result<Option<Application>> {
    match row {
        None => Ok(None),
        Some(row) => {
            let documents = documents_of(pools, row.id).await?;
            Ok(Some(Application { row, documents }))
        }
    }
}

/// An application by id, with its documents.
pub async fn application_by_id(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Option<Application>> {
    let sql = format!("SELECT {COLUMNS} FROM organizer_applications WHERE id = $1");
    let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&pools.write)
        .await?;
    with_documents(pools, row).await
}

/// A user's newest application (the open one when there is one: a new one can only follow a
/// rejection).
pub async fn latest_of_user(pools: &Pools<Db>, user_id: Uuid) -> sqlx::Result<Option<Application>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM organizer_applications WHERE user_id = $1
         ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_optional(&pools.write)
        .await?;
    with_documents(pools, row).await
}

/// The id of a user's open (not REJECTED) application.
async fn open_of_user(tx: &mut Tx, user_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM organizer_applications WHERE user_id = $1 AND status <> 'REJECTED'",
    )
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Creates a DRAFT application with its `started` email, unless the user has an open one:
/// then `Err` with its id. The partial unique index decides between two concurrent starts.
pub async fn insert_application(
    pools: &Pools<Db>,
    row: &ApplicationRow,
    started: &NewMessage,
) -> sqlx::Result<Result<(), Uuid>> {
    let mut tx = pools.write.begin().await?;
    if let Some(existing) = open_of_user(&mut tx, row.user_id).await? {
        return Ok(Err(existing));
    }
    let query = sqlx::query(
        "INSERT INTO organizer_applications (id, user_id, status, personal_information,
             organization_details, address, banking_information, account_number_sealed,
             account_key_id, experience_details, version, created_at, updated_at)
         VALUES ($1, $2, 'DRAFT', $3, $4, $5, $6, $7, $8, $9, 0, $10, $10)",
    );
    let inserted = bind_sections(query.bind(row.id).bind(row.user_id), row)
        .bind(row.created_at)
        .execute(&mut *tx)
        .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::store::is_unique_violation(&e) => {
            tx.rollback().await?;
            let mut tx = pools.write.begin().await?;
            let existing = open_of_user(&mut tx, row.user_id).await?;
            tx.rollback().await?;
            return existing.map(Err).ok_or(e);
        }
        Err(e) => return Err(e),
    }
    notify::insert_message(&mut tx, started).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Writes the sections of `row` over the stored ones, if the application is still editable and
/// at `row.version`; `false` otherwise (changed meanwhile, or no longer editable).
pub async fn save_sections(
    pools: &Pools<Db>,
    row: &ApplicationRow,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let sql = format!(
        "UPDATE organizer_applications SET personal_information = $1, organization_details = $2,
             address = $3, banking_information = $4, account_number_sealed = $5,
             account_key_id = $6, experience_details = $7, version = version + 1, updated_at = $8
         WHERE id = $9 AND version = $10 AND {EDITABLE}"
    );
    let done = bind_sections(sqlx::query(sqlx::AssertSqlSafe(sql)), row)
        .bind(now)
        .bind(row.id)
        .bind(row.version)
        .execute(&pools.write)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records documents (each replacing the one of its type) while the application is editable.
/// `None` when it is not; otherwise the file store names of the replaced documents.
pub async fn put_documents(
    pools: &Pools<Db>,
    id: Uuid,
    docs: &[DocumentRow],
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Vec<String>>> {
    let mut tx = pools.write.begin().await?;
    // The application row first: concurrent uploads to one application queue here.
    let sql = format!(
        "UPDATE organizer_applications SET version = version + 1, updated_at = $1
         WHERE id = $2 AND {EDITABLE}"
    );
    let editable = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if editable.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut replaced = Vec::new();
    for doc in docs {
        let old: Option<String> = sqlx::query_scalar(
            "SELECT object_name FROM organizer_documents WHERE application_id = $1 AND doc_type = $2",
        )
        .bind(id)
        .bind(&doc.doc_type)
        .fetch_optional(&mut *tx)
        .await?;
        replaced.extend(old);
        sqlx::query(
            "INSERT INTO organizer_documents (application_id, doc_type, object_name, content_type, size_bytes, uploaded_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (application_id, doc_type) DO UPDATE SET object_name = excluded.object_name,
                 content_type = excluded.content_type, size_bytes = excluded.size_bytes,
                 uploaded_at = excluded.uploaded_at",
        )
        .bind(id)
        .bind(&doc.doc_type)
        .bind(&doc.object_name)
        .bind(&doc.content_type)
        .bind(doc.size_bytes)
        .bind(doc.uploaded_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(replaced))
}

/// Moves an editable application at `version` to UNDER_REVIEW with its emails; `false` when it
/// changed meanwhile or is not editable.
pub async fn submit(
    pools: &Pools<Db>,
    id: Uuid,
    version: i64,
    now: DateTime<Utc>,
    messages: &[NewMessage],
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    let sql = format!(
        "UPDATE organizer_applications SET status = 'UNDER_REVIEW', submitted_at = $1,
             version = version + 1, updated_at = $1
         WHERE id = $2 AND version = $3 AND {EDITABLE}"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    for message in messages {
        notify::insert_message(&mut tx, message).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The emails of the active admins.
pub async fn admin_emails(pools: &Pools<Db>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT email FROM users WHERE role = 'ADMIN' AND status = 'ACTIVE' AND deleted_at IS NULL
         ORDER BY created_at",
    )
    .fetch_all(&pools.read)
    .await
}

/// Applies a decision to an application UNDER_REVIEW, in one transaction with its audit entry,
/// its email and, on approval, the applicant's new role (ORGANIZER; an ADMIN stays ADMIN).
/// `false` when the application is not UNDER_REVIEW.
pub async fn decide(
    pools: &Pools<Db>,
    id: Uuid,
    decision: &Decision<'_>,
    entry: &AuditEntry,
    message: &NewMessage,
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "UPDATE organizer_applications SET status = $1, reviewed_by = $2, reviewed_at = $3,
             rejection_reason = COALESCE($4, rejection_reason), reviewer_note = COALESCE($5, reviewer_note),
             version = version + 1, updated_at = $3
         WHERE id = $6 AND status = 'UNDER_REVIEW'
         RETURNING user_id",
    )
    .bind(decision.to.as_str())
    .bind(decision.reviewer)
    .bind(decision.now)
    .bind(decision.reason)
    .bind(decision.note)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        tx.rollback().await?;
        return Ok(false);
    };
    if decision.to == ApplicationStatus::Approved {
        sqlx::query(
            "UPDATE users SET role = 'ORGANIZER', updated_at = $1
             WHERE id = $2 AND role = 'USER' AND deleted_at IS NULL",
        )
        .bind(decision.now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    }
    audit::insert_entry_tx(&mut tx, entry).await?;
    notify::insert_message(&mut tx, message).await?;
    tx.commit().await?;
    Ok(true)
}

/// One page of applications (optionally of one status), oldest submission first, and the total.
pub async fn list_applications(
    pools: &Pools<Db>,
    status: Option<ApplicationStatus>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Application>, i64)> {
    let filter = if status.is_some() {
        "WHERE status = $1"
    } else {
        "WHERE $1 IS NULL"
    };
    let page = format!(
        "SELECT {COLUMNS} FROM organizer_applications {filter}
         ORDER BY COALESCE(submitted_at, created_at), id LIMIT $2 OFFSET $3"
    );
    let status = status.map(ApplicationStatus::as_str);
    let rows: Vec<ApplicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(page))
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&pools.read)
        .await?;
    let docs_sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM organizer_documents WHERE application_id IN (
             SELECT id FROM organizer_applications {filter}
             ORDER BY COALESCE(submitted_at, created_at), id LIMIT $2 OFFSET $3)"
    );
    let mut documents: Vec<DocumentRow> = sqlx::query_as(sqlx::AssertSqlSafe(docs_sql))
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&pools.read)
        .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM organizer_applications {filter}"
    )))
    .bind(status)
    .fetch_one(&pools.read)
    .await?;
    let apps = rows
        .into_iter()
        .map(|row| {
            let (mine, rest) = documents
                .drain(..)
                .partition(|d: &DocumentRow| d.application_id == row.id);
            documents = rest;
            Application {
                row,
                documents: mine,
            }
        })
        .collect();
    Ok((apps, total))
}
