use failfast::circuit_breaker;

// Two ways to open the breaker: the second one written is the error.
#[circuit_breaker(failures = 5, window = 50, failure_rate = 0.5)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit_breaker(failure_rate = 0.5, failures = 5)]
fn fetch_again() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
