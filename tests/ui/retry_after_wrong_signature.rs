use failfast::retry;
use std::time::Duration;

fn wait_for(_: &std::io::Error) -> Duration {
    Duration::from_secs(1)
}

#[retry(retry_after = wait_for)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
