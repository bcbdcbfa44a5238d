use failfast::circuit_breaker;

#[circuit_breaker(failure_rate = 0.5, slow_rate = 0.8)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
