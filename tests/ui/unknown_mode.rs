use failfast::circuit_breaker;

#[circuit_breaker(mode = "metrics-only")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit_breaker(mode = Mode::Observe)]
fn fetch_again() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
