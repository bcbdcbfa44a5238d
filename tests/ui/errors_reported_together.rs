use failfast::{circuit_breaker, retry, timeout};

#[retry(attempts = 0, delay = 100)]
#[circuit_breaker(failurs = 3, reset = "1 minute")]
#[timeout]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    // The fn is still emitted: this call resolves.
    let _ = fetch();
}
