use failfast::{circuit_breaker, retry};

#[retry]
#[circuit_breaker]
fn fetch() {}

fn main() {}
