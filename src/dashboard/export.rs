//! `GET /api/dashboard/export`: bookings, payments or events of the caller's scope as a CSV,
//! XLSX or JSON download (API.md §11.35, §11.64, §11.83).
//!
//! Nothing holds the whole export in memory. Rows are read in keyset-ordered pages of
//! [`PAGE`] rows (each page starts after the last row of the one before, on `(time, id)`), and
//! CSV and JSON pages are written to the response body as they come: the client receives the
//! first page while the next is read. XLSX is a zip whose directory comes last, so it is built
//! first: the pages go to `rust_xlsxwriter` in constant-memory mode (each row is flushed to a
//! temporary file as it is written) on a blocking thread, the workbook is saved to a temporary
//! file, and that file is streamed (unlinked at once, so it goes away with the download).
//!
//! Columns. Bookings: `reference,status,eventId,eventTitle,ticketTypeName,quantity,unitPrice,
//! totalAmount,currency,customerName,customerEmail,createdAt,confirmedAt` (by `createdAt`).
//! Payments: `reference,gateway,status,amount,refundedAmount,currency,bookingReference,paidAt,
//! createdAt` (by `createdAt`). Events: `id,title,status,category,startsAt,location,currency,
//! totalTickets,ticketsSold,revenue,createdAt` (by `startsAt`; `ticketsSold` counts seats of
//! CONFIRMED bookings, `revenue` the net money of orders in the event's currency). `from`/`to`
//! (optional: everything when absent) filter on the column the rows are ordered by. Money is in
//! minor units, times RFC 3339 UTC. CSV follows RFC 4180 (CRLF, quotes doubled) without a
//! byte-order mark, and a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
//! is prefixed with `'` so that a spreadsheet never runs it as a formula; XLSX cells are typed
//! (numbers as numbers, text as text), so none is ever a formula.

use std::borrow::Cow;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::Scope;
use crate::http::{ApiError, ApiQuery, ApiResult, parse_instant};
use crate::state::AppState;
use crate::store::Store;
use crate::users::AuthUser;

/// Rows read per page.
pub const PAGE: i64 = 1000;

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportType {
    Bookings,
    Payments,
    Events,
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `text/csv; charset=utf-8` (the default).
    #[default]
    Csv,
    /// `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`.
    Xlsx,
    /// `application/json`, a bare array.
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Json => "application/json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Json => "json",
        }
    }
}

/// Query of the export.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `bookings`, `payments` or `events`.
    #[serde(rename = "type")]
    #[param(value_type = String)]
    pub kind: ExportType,
    /// `csv` (default), `xlsx` or `json`.
    #[param(value_type = Option<String>)]
    pub format: Option<Format>,
    /// Inclusive start (RFC 3339 or `YYYY-MM-DD`) on `createdAt` (events: `startsAt`).
    pub from: Option<String>,
    /// Exclusive end.
    pub to: Option<String>,
}

/// One page's question.
#[derive(Debug, Clone, Copy)]
pub struct ExportFilter {
    /// Whose rows.
    pub scope: Scope,
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
    /// The `(time, id)` of the previous page's last row.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// Page size.
    pub limit: i64,
    /// Now, for the effective status of lapsed holds.
    pub now: DateTime<Utc>,
}

/// A cell, typed for XLSX.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Empty,
}

fn time(t: DateTime<Utc>) -> Cell {
    Cell::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn maybe_time(t: Option<DateTime<Utc>>) -> Cell {
    t.map_or(Cell::Empty, time)
}

/// A row of an export.
pub trait Line: Serialize + Send + Sized + 'static {
    /// The header row.
    const HEADER: &'static [&'static str];
    /// The cells, in header order.
    fn cells(&self) -> Vec<Cell>;
    /// The keyset position of the row.
    fn key(&self) -> (DateTime<Utc>, Uuid);
    /// One page.
    fn page(
        store: &Store,
        filter: &ExportFilter,
    ) -> impl Future<Output = sqlx::Result<Vec<Self>>> + Send;
}

/// An exported booking.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct BookingLine {
    #[serde(skip)]
    pub id: Uuid,
    pub reference: String,
    pub status: String,
    pub event_id: Uuid,
    pub event_title: String,
    pub ticket_type_name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub total_amount: i64,
    pub currency: String,
    pub customer_name: String,
    pub customer_email: String,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl Line for BookingLine {
    const HEADER: &'static [&'static str] = &[
        "reference",
        "status",
        "eventId",
        "eventTitle",
        "ticketTypeName",
        "quantity",
        "unitPrice",
        "totalAmount",
        "currency",
        "customerName",
        "customerEmail",
        "createdAt",
        "confirmedAt",
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.reference.clone()),
            Cell::Text(self.status.clone()),
            Cell::Text(self.event_id.to_string()),
            Cell::Text(self.event_title.clone()),
            Cell::Text(self.ticket_type_name.clone()),
            Cell::Int(self.quantity),
            Cell::Int(self.unit_price),
            Cell::Int(self.total_amount),
            Cell::Text(self.currency.clone()),
            Cell::Text(self.customer_name.clone()),
            Cell::Text(self.customer_email.clone()),
            time(self.created_at),
            maybe_time(self.confirmed_at),
        ]
    }

    fn key(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }

    async fn page(store: &Store, filter: &ExportFilter) -> sqlx::Result<Vec<Self>> {
        store.export_bookings(filter).await
    }
}

/// An exported payment.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct PaymentLine {
    #[serde(skip)]
    pub id: Uuid,
    pub reference: String,
    pub gateway: String,
    pub status: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub currency: String,
    pub booking_reference: String,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Line for PaymentLine {
    const HEADER: &'static [&'static str] = &[
        "reference",
        "gateway",
        "status",
        "amount",
        "refundedAmount",
        "currency",
        "bookingReference",
        "paidAt",
        "createdAt",
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.reference.clone()),
            Cell::Text(self.gateway.clone()),
            Cell::Text(self.status.clone()),
            Cell::Int(self.amount),
            Cell::Int(self.refunded_amount),
            Cell::Text(self.currency.clone()),
            Cell::Text(self.booking_reference.clone()),
            maybe_time(self.paid_at),
            time(self.created_at),
        ]
    }

    fn key(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }

    async fn page(store: &Store, filter: &ExportFilter) -> sqlx::Result<Vec<Self>> {
        store.export_payments(filter).await
    }
}

/// An exported event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct EventLine {
    pub id: Uuid,
    pub title: String,
    pub status: String,
    pub category: String,
    pub starts_at: DateTime<Utc>,
    pub location: String,
    pub currency: String,
    pub total_tickets: Option<i64>,
    pub tickets_sold: i64,
    pub revenue: i64,
    pub created_at: DateTime<Utc>,
}

impl Line for EventLine {
    const HEADER: &'static [&'static str] = &[
        "id",
        "title",
        "status",
        "category",
        "startsAt",
        "location",
        "currency",
        "totalTickets",
        "ticketsSold",
        "revenue",
        "createdAt",
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.id.to_string()),
            Cell::Text(self.title.clone()),
            Cell::Text(self.status.clone()),
            Cell::Text(self.category.clone()),
            time(self.starts_at),
            Cell::Text(self.location.clone()),
            Cell::Text(self.currency.clone()),
            self.total_tickets.map_or(Cell::Empty, Cell::Int),
            Cell::Int(self.tickets_sold),
            Cell::Int(self.revenue),
            time(self.created_at),
        ]
    }

    fn key(&self) -> (DateTime<Utc>, Uuid) {
        (self.starts_at, self.id)
    }

    async fn page(store: &Store, filter: &ExportFilter) -> sqlx::Result<Vec<Self>> {
        store.export_events(filter).await
    }
}

/// One CSV field: neutralized against formula injection, then quoted per RFC 4180 when it holds
/// a comma, a quote or a line break.
pub fn csv_field(raw: &str) -> Cow<'_, str> {
    let text: Cow<'_, str> = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{raw}"))
    } else {
        Cow::Borrowed(raw)
    };
    if text.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        text
    }
}

/// One CSV record, CRLF-terminated.
fn csv_record<'a>(cells: impl Iterator<Item = Cow<'a, str>>, out: &mut String) {
    let mut first = true;
    for cell in cells {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&cell);
    }
    out.push_str("\r\n");
}

fn csv_rows<L: Line>(rows: &[L]) -> String {
    let mut out = String::new();
    for row in rows {
        let cells = row.cells();
        csv_record(
            cells.iter().map(|c| match c {
                Cell::Text(s) => csv_field(s),
                Cell::Int(n) => Cow::Owned(n.to_string()),
                Cell::Empty => Cow::Borrowed(""),
            }),
            &mut out,
        );
    }
    out
}

fn json_rows<L: Line>(rows: &[L], first: bool) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        if !(first && i == 0) {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(row).unwrap_or_else(|_| "null".into()));
    }
    out
}

/// Where a streamed export stands.
enum Stage {
    /// The header (CSV) or the opening bracket (JSON) is next.
    Start,
    /// Pages are next; `first` until a row was written.
    Rows {
        first: bool,
    },
    /// The closing bracket (JSON) is next.
    End,
    Done,
}

/// The CSV or JSON body, page by page.
fn streamed<L: Line>(store: Store, filter: ExportFilter, format: Format) -> Body {
    let chunks = futures_util::stream::unfold((Stage::Start, filter), move |(stage, mut filter)| {
        let store = store.clone();
        async move {
            match stage {
                Stage::Start => {
                    let head = match format {
                        Format::Json => "[".to_string(),
                        _ => {
                            let mut out = String::new();
                            csv_record(L::HEADER.iter().map(|h| Cow::Borrowed(*h)), &mut out);
                            out
                        }
                    };
                    Some((Ok(Bytes::from(head)), (Stage::Rows { first: true }, filter)))
                }
                Stage::Rows { first } => match L::page(&store, &filter).await {
                    Err(e) => {
                        tracing::error!(error = %e, "export: reading a page failed; the download is cut short");
                        Some((Err(std::io::Error::other("export failed")), (Stage::Done, filter)))
                    }
                    Ok(rows) if rows.is_empty() => Some((Ok(Bytes::new()), (Stage::End, filter))),
                    Ok(rows) => {
                        filter.after = rows.last().map(Line::key);
                        let text = match format {
                            Format::Json => json_rows(&rows, first),
                            _ => csv_rows(&rows),
                        };
                        Some((Ok(Bytes::from(text)), (Stage::Rows { first: false }, filter)))
                    }
                },
                Stage::End => {
                    let tail = if format == Format::Json { "]" } else { "" };
                    Some((Ok(Bytes::from_static(tail.as_bytes())), (Stage::Done, filter)))
                }
                Stage::Done => None,
            }
        }
    })
    .filter(|chunk: &Result<Bytes, std::io::Error>| {
        std::future::ready(chunk.as_ref().map_or(true, |b| !b.is_empty()))
    });
    Body::from_stream(chunks)
}

/// Writes the pages received on `pages` as one constant-memory worksheet saved at `path`.
fn write_xlsx<L: Line>(
    mut pages: tokio::sync::mpsc::Receiver<Vec<L>>,
    path: &std::path::Path,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    workbook.set_tempdir(std::env::temp_dir())?;
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    for (col, name) in L::HEADER.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    let mut row: u32 = 1;
    while let Some(page) = pages.blocking_recv() {
        for line in page {
            for (col, cell) in line.cells().into_iter().enumerate() {
                match cell {
                    Cell::Text(s) => {
                        sheet.write_string(row, col as u16, s)?;
                    }
                    Cell::Int(n) => {
                        sheet.write_number(row, col as u16, n as f64)?;
                    }
                    Cell::Empty => {}
                }
            }
            row += 1;
        }
    }
    workbook.save(path)
}

/// Removes a temporary file when dropped (the export failed before it was opened).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The XLSX body: built into a temporary file, then streamed from it.
async fn xlsx<L: Line>(store: Store, mut filter: ExportFilter) -> ApiResult<Body> {
    let temp = TempFile(
        std::env::temp_dir().join(format!("ticketmax-export-{}.xlsx", Uuid::new_v4().simple())),
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<L>>(2);
    let path = temp.0.clone();
    let writer = tokio::task::spawn_blocking(move || write_xlsx(rx, &path));
    loop {
        let rows = L::page(&store, &filter).await?;
        if rows.is_empty() {
            break;
        }
        filter.after = rows.last().map(Line::key);
        if tx.send(rows).await.is_err() {
            break;
        }
    }
    drop(tx);
    writer
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("xlsx export: {e}")))?;
    let mut file = tokio::fs::File::open(&temp.0)
        .await
        .map_err(ApiError::internal)?;
    // Unlinked now: the open handle keeps the bytes until the download ends.
    drop(temp);
    let chunks = futures_util::stream::poll_fn(move |cx| {
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = tokio::io::ReadBuf::new(&mut buf);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut file), cx, &mut read) {
            std::task::Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    std::task::Poll::Ready(None)
                } else {
                    buf.truncate(n);
                    std::task::Poll::Ready(Some(Ok::<_, std::io::Error>(Bytes::from(buf))))
                }
            }
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Some(Err(e))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    });
    Ok(Body::from_stream(chunks))
}

async fn body_of<L: Line>(store: Store, filter: ExportFilter, format: Format) -> ApiResult<Body> {
    match format {
        Format::Xlsx => xlsx::<L>(store, filter).await,
        _ => Ok(streamed::<L>(store, filter, format)),
    }
}

/// Downloads the caller's bookings, payments or events.
#[utoipa::path(get, path = "/dashboard/export", tag = "dashboard",
    params(ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A file download (`Content-Disposition: attachment`): CSV (`text/csv; charset=utf-8`, a header row), XLSX, or JSON (a bare array of objects with the CSV's columns as keys). Scoped as the stats.", content_type = "text/csv"),
        (status = 400, description = "Unknown `type` or `format`, or a bad date"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let now = Utc::now();
    let from = q
        .from
        .as_deref()
        .map(|f| parse_instant(f, "from"))
        .transpose()?;
    let to =
        q.to.as_deref()
            .map(|t| parse_instant(t, "to"))
            .transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::field("to", "must be after from"));
    }
    let filter = ExportFilter {
        scope: Scope::of(&user),
        from,
        to,
        after: None,
        limit: PAGE,
        now,
    };
    let format = q.format.unwrap_or_default();
    let store = state.store.clone();
    let (name, body) = match q.kind {
        ExportType::Bookings => (
            "bookings",
            body_of::<BookingLine>(store, filter, format).await?,
        ),
        ExportType::Payments => (
            "payments",
            body_of::<PaymentLine>(store, filter, format).await?,
        ),
        ExportType::Events => ("events", body_of::<EventLine>(store, filter, format).await?),
    };
    let filename = format!(
        "{name}-{}.{}",
        now.format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralized() {
        assert_eq!(csv_field("=SUM(A1:A9)"), "'=SUM(A1:A9)");
        assert_eq!(csv_field("+2348012345678"), "'+2348012345678");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@cmd"), "'@cmd");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("\rx"), "\"'\rx\"");
        assert_eq!(csv_field("Ada = Obi"), "Ada = Obi");
    }

    #[test]
    fn fields_are_quoted_per_rfc_4180() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("Obi, Ada"), "\"Obi, Ada\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=1,2"), "\"'=1,2\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn records_end_with_crlf() {
        let mut out = String::new();
        csv_record(["a", "b,c"].into_iter().map(csv_field), &mut out);
        csv_record(std::iter::once(csv_field("=x")), &mut out);
        assert_eq!(out, "a,\"b,c\"\r\n'=x\r\n");
    }
}
