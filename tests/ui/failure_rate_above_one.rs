use failfast::circuit_breaker;

#[circuit_breaker(failure_rate = 1.5)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

// A percentage is not a rate either.
#[circuit_breaker(failure_rate = 50)]
fn fetch_again() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
