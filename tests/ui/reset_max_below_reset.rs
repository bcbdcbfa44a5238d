use failfast::circuit_breaker;

#[circuit_breaker(reset = "30s", reset_max = "10s")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
