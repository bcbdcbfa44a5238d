use failfast::circuit_breaker;

#[circuit_breaker("sales_api", probes = 0)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
