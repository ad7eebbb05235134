//! The `ticketmax` binary: parses the command line, loads settings, starts tracing, and hands
//! over to the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use ticketmax::{app, config::Config, store::backup, telemetry, users};

#[derive(Parser)]
#[command(
    name = "ticketmax",
    version,
    about = "TicketMax event-ticketing server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create an ACTIVE, verified admin account.
    CreateAdmin {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Password (8–128 characters).
        #[arg(long)]
        password: String,
        /// Given name.
        #[arg(long, default_value = "Platform")]
        first_name: String,
        /// Family name.
        #[arg(long, default_value = "Admin")]
        last_name: String,
    },
    /// Fill an empty database with demo accounts and a dozen published events.
    SeedDemo {
        /// Number of events (a large number is for benchmarks).
        #[arg(long, default_value_t = 12, hide = true)]
        events: usize,
    },
    /// Copy the SQLite database to a new file while the server runs (PostgreSQL: pg_dump).
    Backup {
        /// The file to write; an existing file is never overwritten.
        path: PathBuf,
    },
    /// Replace the SQLite database with a backup; the server must be stopped (PostgreSQL:
    /// pg_restore).
    Restore {
        /// The backup file.
        path: PathBuf,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ticketmax: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init_tracing(config.log_format, &config.log_level);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => app::run(config).await,
        Command::Migrate => app::open_store(&config).await.map(|store| {
            println!("migrations applied ({})", store.backend());
        }),
        Command::CreateAdmin {
            email,
            password,
            first_name,
            last_name,
        } => match app::open_store(&config).await {
            Ok(store) => users::create_admin(
                &store,
                users::AdminSeat::Any,
                &email,
                &password,
                &first_name,
                &last_name,
            )
            .await
            .map(|id| println!("admin created: {id}"))
            .map_err(|e| anyhow::anyhow!("{}", e.message)),
            Err(e) => Err(e),
        },
        // The demo accounts have a published password: never in production (API.md §11.100).
        Command::SeedDemo { .. } if config.is_production() => Err(anyhow::anyhow!(
            "seed-demo refuses to run with APP_ENV=production: its accounts have a published password"
        )),
        Command::SeedDemo { events } => match app::open_store(&config).await {
            Ok(store) => ticketmax::events::demo::seed(&store, events)
                .await
                .map(|s| {
                    println!("demo catalogue created: {} published events", s.events);
                    println!("  admin:     {} / {}", s.admin_email, s.password);
                    println!("  organizer: {} / {}", s.organizer_email, s.password);
                }),
            Err(e) => Err(e),
        },
        Command::Backup { path } => backup::backup(&config.database_url, &path)
            .await
            .map(|w| println!("backup written: {} ({} bytes)", w.path.display(), w.bytes)),
        Command::Restore { path } => backup::restore(&config.database_url, &path).await.map(|r| {
            println!(
                "restored {} into {} (migration {})",
                path.display(),
                r.database.display(),
                r.migration
            );
            if let Some(aside) = r.kept_aside {
                println!("  the replaced database is kept as {}", aside.display());
            }
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ticketmax: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
