use failfast::circuit_breaker;

#[circuit_breaker(failure_rate = 0.5, window = 100, store = shared_store())]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
