use failfast::circuit_breaker;

#[circuit_breaker("inventory", failures = 3, store = 5)]
fn stock() -> Result<u32, failfast::Error> {
    Ok(3)
}

fn main() {}
