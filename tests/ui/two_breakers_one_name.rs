use failfast::circuit_breaker;

#[circuit_breaker(failures = 3)]
#[circuit_breaker(failures = 10)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
