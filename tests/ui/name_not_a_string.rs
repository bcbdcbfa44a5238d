use failfast::circuit_breaker;

#[circuit_breaker(sales_api, failures = 3)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
