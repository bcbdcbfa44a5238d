use failfast::{circuit_breaker, retry};

#[retry(budget = "none")]
#[circuit_breaker(failure_rate = 0.5, window = 100)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
