use failfast::circuit_breaker;

#[circuit_breaker("sales_api", name = "billing_api")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
