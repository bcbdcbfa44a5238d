//! Open-loop traffic into a bounded pool of workers: requests arrive at a fixed rate
//! whatever happens to the earlier ones; a free worker takes the oldest queued request,
//! and a request that finds the queue full is turned away (unavailable). This is the
//! Little's-law situation in which a dependency that answers slowly takes every worker.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::record::{Outcome, Recorder};
use super::scenario::Timeline;

/// What a worker does with a request: worker index and token in, outcome out.
pub type Serve =
    Arc<dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// A request waiting for a worker.
struct Job {
    token: u64,
    reply: oneshot::Sender<Outcome>,
}

/// The worker pool's queue.
#[derive(Clone)]
pub struct Pool {
    queue: mpsc::Sender<Job>,
}

impl Pool {
    /// Starts `workers` workers behind a queue of `queue` requests.
    pub fn start(
        workers: usize,
        queue: usize,
        recorder: Arc<Recorder>,
        serve: Serve,
    ) -> (Pool, JoinSet<()>) {
        let (tx, rx) = mpsc::channel::<Job>(queue);
        // The workers take turns at the queue (tokio's mutex is fair: first come, first
        // served), as the processes of a pre-fork server take turns at its socket.
        let rx = Arc::new(Mutex::new(rx));
        let mut tasks = JoinSet::new();
        for worker in 0..workers {
            let (rx, recorder, serve) = (rx.clone(), recorder.clone(), serve.clone());
            tasks.spawn(async move {
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { break };
                    recorder.worker(true);
                    let outcome = serve(worker, job.token).await;
                    recorder.worker(false);
                    let _ = job.reply.send(outcome);
                }
            });
        }
        (Pool { queue: tx }, tasks)
    }

    /// Queues a request; `None` when the queue is full.
    pub fn submit(&self, token: u64) -> Option<oneshot::Receiver<Outcome>> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { token, reply }).ok()?;
        Some(answer)
    }
}

/// Sends `rps` requests a second for the whole timeline (request `n` at `n / rps` s), each
/// answered through `send`, and records each outcome by its arrival; returns once every
/// request has its answer.
pub async fn generate<F>(
    rps: u32,
    timeline: Timeline,
    recorder: Arc<Recorder>,
    send: impl Fn(u64) -> Option<F>,
) where
    F: Future<Output = Outcome> + Send + 'static,
{
    let start = Instant::now();
    let mut answers = JoinSet::new();
    for n in 0..u64::from(rps) * timeline.total {
        let at = start + Duration::from_nanos(n * 1_000_000_000 / u64::from(rps));
        tokio::time::sleep_until(at).await;
        match send(n) {
            Some(answer) => {
                let recorder = recorder.clone();
                answers.spawn(async move {
                    let outcome = answer.await;
                    recorder.request(at, outcome, Instant::now());
                });
            }
            None => recorder.request(at, Outcome::TurnedAway, at),
        }
    }
    while answers.join_next().await.is_some() {}
}
