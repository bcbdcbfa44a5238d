use failfast::circuit_breaker;

#[circuit_breaker(reset = 30)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
