//! Property test of the inventory engine: random interleavings of hold, confirm, cancel, expiry
//! (time passing, lazy release and sweeps) and capacity changes keep `sold + held ≤ capacity`
//! (and the event cap) and keep the counters equal to the sums over the booking rows.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::{BookingStatus, CancelOutcome, HoldOutcome, Links, NewHold};
use crate::store::Store;
use crate::users::model::{NewUser, Role, UserStatus};

#[derive(Debug, Clone)]
enum Op {
    Hold {
        buyer: u8,
        ty: u8,
        quantity: i64,
    },
    /// Several holds combined in one transaction (the engine's batches).
    Batch(Vec<(u8, u8, i64)>),
    Confirm(usize),
    Cancel(usize),
    Advance(i64),
    Sweep,
    Capacity {
        ty: u8,
        capacity: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..2, 1i64..5).prop_map(|(buyer, ty, quantity)| Op::Hold { buyer, ty, quantity }),
        2 => proptest::collection::vec((0u8..5, 0u8..2, 1i64..5), 2..8).prop_map(Op::Batch),
        2 => (0usize..64).prop_map(Op::Confirm),
        2 => (0usize..64).prop_map(Op::Cancel),
        1 => (1i64..6).prop_map(Op::Advance),
        1 => Just(Op::Sweep),
        1 => (0u8..2, 0i64..12).prop_map(|(ty, capacity)| Op::Capacity { ty, capacity }),
    ]
}

struct World {
    rt: tokio::runtime::Runtime,
    store: Store,
    organizer: Uuid,
    users: Vec<Uuid>,
    _dir: std::path::PathBuf,
}

/// One database per property (a sweep with one test's virtual clock would otherwise expire the
/// other test's holds between its reads).
fn world(capped: bool) -> &'static World {
    static PLAIN: OnceLock<World> = OnceLock::new();
    static CAPPED: OnceLock<World> = OnceLock::new();
    let cell = if capped { &CAPPED } else { &PLAIN };
    cell.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir =
            std::env::temp_dir().join(format!("ticketmax-proptest-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (store, organizer, users) = rt.block_on(async {
            let store = Store::open_sqlite_file(&dir.join("p.db")).await.unwrap();
            store.migrate().await.unwrap();
            let mut ids = Vec::new();
            for i in 0..5 {
                let id = store
                    .insert_user(&NewUser {
                        email: format!("p{i}-{}@example.com", Uuid::new_v4().simple()),
                        password_hash: "x".into(),
                        first_name: "Prop".into(),
                        last_name: "Test".into(),
                        role: if i == 0 { Role::Organizer } else { Role::User },
                        status: UserStatus::Active,
                        email_verified: true,
                    })
                    .await
                    .unwrap();
                ids.push(id);
            }
            (store, ids[0], ids[1..].to_vec())
        });
        World {
            rt,
            store,
            organizer,
            users,
            _dir: dir,
        }
    })
}

async fn setup_event(w: &World, t0: DateTime<Utc>, cap: Option<i64>) -> (Uuid, [Uuid; 2]) {
    let Store::Sqlite(p) = &w.store else {
        unreachable!()
    };
    let event = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (id, organizer_id, title, description, category, location, starts_at, status, currency,
             total_tickets, published_at, created_at, updated_at)
         VALUES ($1, $2, 'Prop', 'Prop', 'music', 'Lagos', $3, 'PUBLISHED', 'NGN', $4, $5, $5, $5)",
    )
    .bind(event)
    .bind(w.organizer)
    .bind(t0 + Duration::days(30))
    .bind(cap)
    .bind(t0 - Duration::days(1))
    .execute(&p.write)
    .await
    .unwrap();
    let mut types = [Uuid::nil(); 2];
    for (i, slot) in types.iter_mut().enumerate() {
        *slot = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO ticket_types (id, event_id, name, kind, price, capacity, max_per_order, position, created_at, updated_at)
             VALUES ($1, $2, 'T', 'general', $3, 8, 6, $4, $5, $5)",
        )
        .bind(*slot)
        .bind(event)
        .bind(if i == 0 { 1000i64 } else { 2500 })
        .bind(i as i32)
        .bind(t0)
        .execute(&p.write)
        .await
        .unwrap();
    }
    (event, types)
}

async fn check(w: &World, event: Uuid, types: &[Uuid; 2], now: DateTime<Utc>) {
    let Store::Sqlite(p) = &w.store else {
        unreachable!()
    };
    let mut event_sum = 0;
    for ty in types {
        let (capacity, sold, held, pending, confirmed) = w.store.type_counters(*ty).await.unwrap();
        assert!(sold >= 0 && held >= 0);
        assert!(
            sold + held <= capacity,
            "oversold: {sold} + {held} > {capacity}"
        );
        assert_eq!(sold, confirmed, "sold equals the confirmed seats");
        assert_eq!(held, pending, "held equals the pending seats");
        let live_pending: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM bookings
             WHERE ticket_type_id = $1 AND status = 'PENDING' AND expires_at > $2",
        )
        .bind(ty)
        .bind(now)
        .fetch_one(&p.read)
        .await
        .unwrap();
        let most_held: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(s) FROM (SELECT SUM(quantity) AS s FROM bookings
             WHERE ticket_type_id = $1 AND status = 'PENDING' AND expires_at > $2
             GROUP BY user_id, customer_email) AS per_buyer",
        )
        .bind(ty)
        .bind(now)
        .fetch_one(&p.read)
        .await
        .unwrap();
        assert!(
            most_held.unwrap_or(0) <= 6,
            "a buyer holds more than maxPerOrder"
        );
        let own = capacity - sold - live_pending;
        let live = w.store.live_available(*ty, now).await.unwrap().unwrap();
        assert!(
            live <= own.max(0),
            "live availability counts lapsed holds as free"
        );
        event_sum += sold + held;
    }
    let (total, esold, eheld): (Option<i64>, i64, i64) =
        sqlx::query_as("SELECT total_tickets, sold, held FROM events WHERE id = $1")
            .bind(event)
            .fetch_one(&p.read)
            .await
            .unwrap();
    if let Some(total) = total {
        assert!(esold + eheld <= total, "event cap exceeded");
        assert_eq!(
            esold + eheld,
            event_sum,
            "event counters equal the sum of its types"
        );
    }
}

/// A hold request; buyer 4 is a guest (no account).
fn hold_request(
    w: &World,
    event: Uuid,
    ty: Uuid,
    buyer: u8,
    quantity: i64,
    now: DateTime<Utc>,
) -> NewHold {
    NewHold {
        event_id: event,
        ticket_type_id: Some(ty),
        quantity,
        user_id: w.users.get(buyer as usize).copied(),
        customer_email: format!("buyer{buyer}@example.com"),
        customer_name: "Buyer".into(),
        customer_phone: None,
        special_requests: None,
        guest_token_hash: None,
        guest_token: None,
        idempotency_key: None,
        now,
        hold: Duration::minutes(3),
    }
}

async fn run(ops: Vec<Op>, cap: Option<i64>) {
    let w = world(cap.is_some());
    let links = Links {
        public_base: "http://localhost".into(),
        api_base: "http://localhost/api".into(),
        signing_key: "prop-key".into(),
    };
    let mut now = Utc::now();
    let (event, types) = setup_event(w, now, cap).await;
    let mut bookings: Vec<Uuid> = Vec::new();
    for op in ops {
        match op {
            Op::Hold {
                buyer,
                ty,
                quantity,
            } => {
                let req = hold_request(w, event, types[ty as usize], buyer, quantity, now);
                let before = w
                    .store
                    .live_available(types[ty as usize], now)
                    .await
                    .unwrap()
                    .unwrap();
                match w.store.hold_booking(&req, &links).await.unwrap() {
                    HoldOutcome::Held { id, .. } => bookings.push(id),
                    HoldOutcome::SoldOut { available } => {
                        assert!(available < quantity);
                        assert!(before < quantity, "refused although {before} were free");
                    }
                    HoldOutcome::HoldingLimit { .. } => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            Op::Batch(requests) => {
                let items: Vec<_> = requests
                    .into_iter()
                    .map(|(buyer, ty, quantity)| {
                        hold_request(w, event, types[ty as usize], buyer, quantity, now)
                    })
                    .collect();
                if !items.is_empty() {
                    for outcome in w.store.hold_batch(&items, &links).await.unwrap() {
                        match outcome {
                            HoldOutcome::Held { id, .. } => bookings.push(id),
                            HoldOutcome::SoldOut { .. }
                            | HoldOutcome::HoldingLimit { .. }
                            | HoldOutcome::TooMany { .. } => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                }
            }
            Op::Confirm(i) => {
                if let Some(id) = bookings.get(i % bookings.len().max(1)) {
                    w.store.confirm_booking(*id, now, &links).await.unwrap();
                }
            }
            Op::Cancel(i) => {
                if let Some(id) = bookings.get(i % bookings.len().max(1)) {
                    let row = w.store.booking_by_id(*id).await.unwrap().unwrap();
                    let state = row.effective_status(now);
                    if matches!(state, BookingStatus::Pending | BookingStatus::Confirmed) {
                        let r = w
                            .store
                            .cancel_booking(*id, state, None, None, now)
                            .await
                            .unwrap();
                        assert!(matches!(r, CancelOutcome::Cancelled { .. }));
                    }
                }
            }
            Op::Advance(m) => now += Duration::minutes(m),
            Op::Sweep => {
                w.store.sweep_expired_holds(500, now).await.unwrap();
            }
            Op::Capacity { ty, capacity } => {
                // What the events area's PATCH does: a conditional update, never below sold + held.
                let Store::Sqlite(p) = &w.store else {
                    unreachable!()
                };
                sqlx::query(
                    "UPDATE ticket_types SET capacity = $1 WHERE id = $2 AND sold + held <= $1",
                )
                .bind(capacity)
                .bind(types[ty as usize])
                .execute(&p.write)
                .await
                .unwrap();
            }
        }
        check(w, event, &types, now).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_invariant_and_the_counters_survive_any_interleaving(ops in proptest::collection::vec(op(), 1..60)) {
        world(false).rt.block_on(run(ops, None));
    }

    #[test]
    fn an_event_cap_holds_across_types_under_any_interleaving(ops in proptest::collection::vec(op(), 1..60)) {
        world(true).rt.block_on(run(ops, Some(10)));
    }
}
