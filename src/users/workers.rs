//! Background work of the account routes whose answer must not depend on whether an email has
//! an account (forgot-password, resend-verification): the handler hands the lookup and whatever
//! follows (a code, its messages, the audit) to a job here and answers at once, so both cases
//! cost the caller the same time.
//!
//! Each job is a task of the runtime that received its request, and at most [`MAX_JOBS`] run at
//! once in the process: beyond that a job is dropped with a warning (the routes are on the
//! sensitive rate tier, so only a flood from many addresses gets there, and its victims can ask
//! again). A job is not durable: one cut short by a shutdown is lost like an email that never
//! arrived, and asking again sends a new code.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::Semaphore;

/// Jobs running at once in the process.
pub const MAX_JOBS: usize = 128;

/// One permit per running job. Process-wide: the bound protects the process's memory and
/// tasks however many servers it runs (tests start many), and each job runs on the runtime of
/// its own request, so none outlives the server that queued it by more than its own work.
static SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(MAX_JOBS)));

/// Runs `job` in the background, or drops it with a warning when [`MAX_JOBS`] are running.
/// Costs the caller the same whatever the job will find.
pub fn enqueue<F>(what: &'static str, job: F)
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let Ok(permit) = SLOTS.clone().try_acquire_owned() else {
        metrics::counter!("account_jobs_dropped_total", "job" => what).increment(1);
        tracing::warn!(
            job = what,
            limit = MAX_JOBS,
            "account jobs: too many running, job dropped"
        );
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = job.await {
            tracing::warn!(job = what, error = %format!("{e:#}"), "account job failed");
        }
    });
}

/// Waits until no job of the process is running, or `deadline` passes; `false` on the latter.
/// For a graceful shutdown, after the server stopped taking requests.
pub async fn drain(deadline: Duration) -> bool {
    tokio::time::timeout(deadline, async {
        while SLOTS.available_permits() < MAX_JOBS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .is_ok()
}
