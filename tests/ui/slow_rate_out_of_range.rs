use failfast::circuit_breaker;

#[circuit_breaker(slow = "2s", slow_rate = 0.0)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit_breaker(slow = "2s", slow_rate = 1.5)]
fn fetch_again() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
