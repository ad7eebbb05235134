//! `ticketmax seed-demo`: fills an empty database with a demo admin, a demo organizer and a
//! dozen published events across categories, dates and price tiers, so that a fresh server shows
//! a living catalogue. `--events N` seeds N events instead (benchmarks).

use chrono::{Duration, DurationRound, Utc};
use uuid::Uuid;

use super::model::{EventRow, EventStatus, NewTicketType};
use crate::store::Store;
use crate::users::model::{NewUser, Role, UserStatus};

/// Demo admin email.
pub const ADMIN_EMAIL: &str = "admin@demo.ticketmax.local";
/// Demo organizer email.
pub const ORGANIZER_EMAIL: &str = "organizer@demo.ticketmax.local";
/// Password of both demo accounts.
pub const PASSWORD: &str = "demo-password-123";

/// What was created.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub admin_email: String,
    pub organizer_email: String,
    /// Password of both.
    pub password: String,
    /// Events created.
    pub events: usize,
}

const CATALOGUE: &[(&str, &str, &str, &str, &str)] = &[
    (
        "Lagos Jazz Night",
        "music",
        "Terra Kulture",
        "Victoria Island, Lagos",
        "An evening of live jazz with the city's finest quartets.",
    ),
    (
        "Afrobeats Live in Concert",
        "music",
        "Eko Convention Centre",
        "Victoria Island, Lagos",
        "Headline afrobeats acts on one stage, with a full band.",
    ),
    (
        "Abuja Tech Summit",
        "technology",
        "International Conference Centre",
        "Central Business District, Abuja",
        "Founders, engineers and investors on building software in Africa.",
    ),
    (
        "Rust Systems Workshop",
        "technology",
        "Co-Creation Hub",
        "Yaba, Lagos",
        "A hands-on day of systems programming in Rust.",
    ),
    (
        "Comedy Splash",
        "comedy",
        "Muson Centre",
        "Onikan, Lagos",
        "Stand-up from the best comedians on the circuit.",
    ),
    (
        "Nollywood Film Festival",
        "film",
        "Filmhouse IMAX",
        "Lekki, Lagos",
        "Premieres, panels and a red carpet for new Nigerian cinema.",
    ),
    (
        "Port Harcourt Food Fair",
        "food",
        "Pleasure Park",
        "Port Harcourt, Rivers",
        "Street food, chefs' tables and cooking demonstrations.",
    ),
    (
        "Lagos City Marathon",
        "sports",
        "National Stadium",
        "Surulere, Lagos",
        "The annual city marathon: 42 km, 21 km and a fun run.",
    ),
    (
        "Contemporary Art Exhibition",
        "art",
        "Nike Art Gallery",
        "Lekki, Lagos",
        "Paintings, textiles and sculpture by contemporary artists.",
    ),
    (
        "Startup Pitch Night",
        "business",
        "Venia Hub",
        "Yaba, Lagos",
        "Ten startups, five minutes each, one winner.",
    ),
    (
        "Kano Durbar Cultural Festival",
        "culture",
        "Emir's Palace",
        "Kano",
        "Horsemen, music and the colours of the Durbar.",
    ),
    (
        "Children's Theatre Matinee",
        "theatre",
        "Terra Kulture",
        "Victoria Island, Lagos",
        "A musical play for the whole family.",
    ),
];

/// Price tiers (kobo): free, ₦2,000, ₦5,000, ₦15,000, ₦50,000.
const PRICES: &[i64] = &[0, 200_000, 500_000, 1_500_000, 5_000_000];

fn event(
    organizer_id: Uuid,
    i: usize,
    now: chrono::DateTime<Utc>,
) -> (EventRow, Vec<NewTicketType>) {
    let (title, category, venue, location, description) = CATALOGUE[i % CATALOGUE.len()];
    let round = i / CATALOGUE.len();
    let title = if round == 0 {
        title.to_string()
    } else {
        format!("{title} #{}", round + 1)
    };
    let starts_at = now + Duration::days(3 + (i as i64 * 5) % 120) + Duration::hours(18);
    let price = PRICES[i % PRICES.len()];
    let mut types = vec![NewTicketType {
        name: "General Admission".into(),
        kind: "general".into(),
        price,
        capacity: 100 + (i as i64 % 5) * 100,
        sales_start_at: None,
        sales_end_at: None,
        max_per_order: 10,
    }];
    if price > 0 {
        types.push(NewTicketType {
            name: "VIP".into(),
            kind: "vip".into(),
            price: price * 3,
            capacity: 20 + (i as i64 % 3) * 10,
            sales_start_at: None,
            sales_end_at: None,
            max_per_order: 4,
        });
    }
    let row = EventRow {
        id: Uuid::now_v7(),
        organizer_id,
        title,
        description: description.to_string(),
        category: category.to_string(),
        tags: serde_json::to_string(&[category, "demo"]).unwrap_or_else(|_| "[]".into()),
        venue: Some(venue.to_string()),
        location: location.to_string(),
        timezone: "Africa/Lagos".to_string(),
        starts_at,
        ends_at: Some(starts_at + Duration::hours(4)),
        image_url: None,
        featured: i.is_multiple_of(4),
        status: EventStatus::Published,
        currency: "NGN".to_string(),
        total_tickets: None,
        sold: 0,
        held: 0,
        min_price: None,
        cancel_reason: None,
        published_at: Some(now),
        created_at: now + Duration::milliseconds(i as i64),
        updated_at: now,
    };
    (row, types)
}

/// Seeds an empty database; refuses when any event exists.
pub async fn seed(store: &Store, events: usize) -> anyhow::Result<Seeded> {
    if store.count_events().await? > 0 {
        anyhow::bail!("the database already has events; seed-demo only fills an empty catalogue");
    }
    let hash = crate::users::password::hash(PASSWORD.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut ids = Vec::new();
    for (email, role, first) in [
        (ADMIN_EMAIL, Role::Admin, "Demo"),
        (ORGANIZER_EMAIL, Role::Organizer, "Demo"),
    ] {
        let id = match store.user_by_email(email).await? {
            Some(u) => u.id,
            None => {
                store
                    .insert_user(&NewUser {
                        email: email.to_string(),
                        password_hash: hash.clone(),
                        first_name: first.to_string(),
                        last_name: if role == Role::Admin {
                            "Admin"
                        } else {
                            "Organizer"
                        }
                        .to_string(),
                        role,
                        status: UserStatus::Active,
                        email_verified: true,
                    })
                    .await?
            }
        };
        ids.push(id);
    }
    let organizer = ids[1];
    let now = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .unwrap_or_else(|_| Utc::now());
    let all: Vec<_> = (0..events).map(|i| event(organizer, i, now)).collect();
    for batch in all.chunks(1000) {
        store.insert_events_bulk(batch).await?;
    }
    Ok(Seeded {
        admin_email: ADMIN_EMAIL.into(),
        organizer_email: ORGANIZER_EMAIL.into(),
        password: PASSWORD.into(),
        events,
    })
}
