use failfast::circuit_breaker;

#[circuit_breaker(window = 100, min_calls = 20)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

// `failures` counts failures in a row: a window has nothing to do with it.
#[circuit_breaker(failures = 5, window = "60s")]
fn fetch_again() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
