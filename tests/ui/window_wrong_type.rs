use failfast::circuit_breaker;

const WINDOW: u64 = 100;

#[circuit_breaker(failure_rate = 0.5, window = WINDOW)]
fn fetch() -> Result<(), failfast::Error> {
    Ok(())
}

fn main() {}
