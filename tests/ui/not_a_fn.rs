use failfast::circuit_breaker;

#[circuit_breaker]
struct Client {
    url: String,
}

fn main() {}
