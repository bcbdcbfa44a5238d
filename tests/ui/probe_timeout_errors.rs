use failfast::circuit_breaker;

#[circuit_breaker(probe_timeout = "0s")]
fn no_time_at_all() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit_breaker(reset = "30s", probe_timeout = 30)]
fn no_unit() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit_breaker(probe_timout = "30s")]
fn misspelt() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
