use failfast::circuit_breaker;

#[circuit_breaker(failures = 0)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
