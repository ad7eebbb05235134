//! The command line, run as the real binary.

use std::process::Command;

/// `seed-demo` creates an admin whose password is printed in the README: in production it must
/// refuse before it touches the database.
#[test]
fn seed_demo_refuses_to_run_in_production() {
    let dir = std::env::temp_dir().join(format!("ticketmax-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("prod.db");
    let out = Command::new(env!("CARGO_BIN_EXE_ticketmax"))
        .arg("seed-demo")
        .env_clear()
        .env("APP_ENV", "production")
        .env("JWT_SECRET", "a-production-secret-of-at-least-32-bytes!")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("EMAIL_TRANSPORT", "log")
        .current_dir(&dir)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "seed-demo succeeded in production: {stderr}"
    );
    assert!(stderr.contains("APP_ENV=production"), "{stderr}");
    assert!(!db.exists(), "the database was opened");
    let _ = std::fs::remove_dir_all(&dir);
}
