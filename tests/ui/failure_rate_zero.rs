use failfast::circuit_breaker;

#[circuit_breaker(failure_rate = 0, window = 100)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
