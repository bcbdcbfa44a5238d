use failfast::circuit_breaker;

#[circuit_breaker(failure_rate = 0.5, window = 0)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit_breaker(failure_rate = 0.5, window = "0s")]
fn fetch_again() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
