//! Dashboard exports (API.md §11.35, §11.64, §11.83): CSV with its header, RFC 4180 quoting and
//! formula neutralization, JSON as a bare array, real XLSX, each scoped like the stats, and a
//! large export paged through in full.

use chrono::Duration;
use ticketmax::store::Store;
use uuid::Uuid;

use crate::both_backends;
use crate::dashboard::{MARCH, at, seed};
use crate::helpers::TestApp;
use crate::with_pool;

async fn insert_payment(
    app: &TestApp,
    booking: Uuid,
    reference: &str,
    status: &str,
    amount: i64,
    refunded: i64,
    created: &str,
) {
    with_pool!(app, pool => {
        sqlx::query(
            "INSERT INTO payments (id, reference, booking_id, gateway, amount, currency, status, refunded_amount, paid_at, created_at, updated_at)
             VALUES ($1, $2, $3, 'test', $4, 'NGN', $5, $6, $7, $7, $7)",
        )
        .bind(Uuid::now_v7()).bind(reference).bind(booking).bind(amount).bind(status).bind(refunded).bind(at(created))
        .execute(pool).await.expect("insert payment");
    });
}

async fn csv(app: &TestApp, token: &str, query: &str) -> String {
    let r = app
        .get_as(token, &format!("/api/dashboard/export?{query}"))
        .await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let disposition = r.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename="),
        "{disposition}"
    );
    r.text.clone()
}

async fn exports_download_the_scope_as_csv_json_and_xlsx(app: TestApp) {
    let h = seed(&app).await;
    let text = csv(
        &app,
        &h.org_a.1,
        &format!("type=bookings&format=csv&{MARCH}"),
    )
    .await;
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "reference,status,eventId,eventTitle,ticketTypeName,quantity,unitPrice,totalAmount,currency,customerName,customerEmail,createdAt,confirmedAt"
    );
    assert_eq!(lines.len(), 9, "header, 7 rows and the final CRLF: {text}");
    assert!(lines[1].starts_with(&format!("TM-DASH0001,CONFIRMED,{},Afrobeats Night,Type 0,2,5000,10000,NGN,Ada Obi,u1@example.com,2026-03-01T00:00:00Z,2026-03-01T00:00:00Z", h.ea1)), "{}", lines[1]);
    assert!(lines[2].contains(",\"Obi, Ada\","), "{}", lines[2]);
    // The guest's formula-looking name is neutralized and quoted (it holds quotes).
    assert!(
        lines[5].contains(",\"'=HYPERLINK(\"\"http://x\"\")\","),
        "{}",
        lines[5]
    );
    assert!(lines[6].starts_with("TM-DASH0006,EXPIRED,"), "{}", lines[6]);
    assert!(!text.starts_with('\u{feff}'));

    // A USER's export holds only their own bookings.
    let mine = csv(&app, &h.u2.1, "type=bookings").await;
    let refs: Vec<&str> = mine.lines().skip(1).map(|l| &l[..11]).collect();
    assert_eq!(
        refs,
        ["TM-DASH0009", "TM-DASH0012", "TM-DASH0003", "TM-DASH0006"]
    );

    insert_payment(
        &app,
        h.bookings["b1"],
        "PAY-DASH-1",
        "SUCCESS",
        10000,
        0,
        "2026-03-01T00:00:05Z",
    )
    .await;
    insert_payment(
        &app,
        h.bookings["b2"],
        "PAY-DASH-2",
        "PARTIALLY_REFUNDED",
        5000,
        2000,
        "2026-03-10T12:00:05Z",
    )
    .await;
    let payments = csv(&app, &h.org_a.1, "type=payments").await;
    assert_eq!(
        payments,
        "reference,gateway,status,amount,refundedAmount,currency,bookingReference,paidAt,createdAt\r\n\
         PAY-DASH-1,test,SUCCESS,10000,0,NGN,TM-DASH0001,2026-03-01T00:00:05Z,2026-03-01T00:00:05Z\r\n\
         PAY-DASH-2,test,PARTIALLY_REFUNDED,5000,2000,NGN,TM-DASH0002,2026-03-10T12:00:05Z,2026-03-10T12:00:05Z\r\n"
    );
    let none = csv(&app, &h.org_b.1, "type=payments").await;
    assert_eq!(
        none.lines().count(),
        1,
        "another organizer's payments: {none}"
    );

    let events = app
        .get_as(&h.org_a.1, "/api/dashboard/export?type=events&format=json")
        .await;
    events.assert_status(200);
    assert_eq!(events.header("content-type"), Some("application/json"));
    let list = events.body.as_array().expect("a bare array").clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], h.ea1.to_string());
    // All time: b1 2, b2 1, b4 3, b5 1, b8 1, b9 1, b10 1 seats; net money of its orders.
    assert_eq!(
        (list[0]["ticketsSold"].as_i64(), list[0]["revenue"].as_i64()),
        (Some(10), Some(33000))
    );
    let keys: Vec<&String> = list[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 11);

    let bookings = app
        .get_as(
            &h.org_b.1,
            "/api/dashboard/export?type=bookings&format=json",
        )
        .await;
    let refs: Vec<&str> = bookings
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["TM-DASH0011", "TM-DASH0012"]);

    let r = app
        .client
        .get(format!(
            "{}/api/dashboard/export?type=bookings&format=xlsx",
            app.address
        ))
        .bearer_auth(&h.org_a.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let header = |name: &str| r.headers()[name].to_str().unwrap().to_string();
    assert_eq!(
        header("content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(header("content-disposition").ends_with(".xlsx\""));
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"), "a zip");
    assert!(bytes.len() > 1000);

    app.get_as(&h.org_a.1, "/api/dashboard/export?type=users")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get_as(&h.org_a.1, "/api/dashboard/export?type=bookings&format=pdf")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get("/api/dashboard/export?type=bookings")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn a_large_export_streams_every_row_in_pages(app: TestApp) {
    let h = seed(&app).await;
    let types = app
        .state
        .store
        .event_record(h.eb1)
        .await
        .unwrap()
        .unwrap()
        .types;
    let n = 2500;
    with_pool!(app, pool => {
        for i in 0..n {
            sqlx::query(
                "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                     currency, status, customer_email, customer_name, confirmed_at, created_at, updated_at)
                 VALUES ($1, $2, NULL, $3, $4, 1, 100, 100, 'NGN', 'CONFIRMED', 'bulk@example.com', 'Bulk', $5, $5, $5)",
            )
            .bind(Uuid::now_v7()).bind(format!("TM-BULK{i:05}")).bind(h.eb1).bind(types[0].id)
            // Many rows share a time: the keyset must still page through each once.
            .bind(at("2026-05-01T00:00:00Z") + Duration::seconds(i / 7))
            .execute(pool).await.unwrap();
        }
    });
    let text = csv(&app, &h.org_b.1, "type=bookings&from=2026-05-01").await;
    let refs: Vec<&str> = text.lines().skip(1).map(|l| &l[..13]).collect();
    assert_eq!(refs.len(), n as usize);
    let mut unique = refs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), n as usize);
    let json = app
        .get_as(
            &h.org_b.1,
            "/api/dashboard/export?type=bookings&format=json&from=2026-05-01",
        )
        .await;
    assert_eq!(json.body.as_array().unwrap().len(), n as usize);
}

both_backends!(
    exports_download_the_scope_as_csv_json_and_xlsx,
    a_large_export_streams_every_row_in_pages,
);
