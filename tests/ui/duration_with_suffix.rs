use failfast::retry;

#[retry(delay = 100ms, max_delay = 2.5s)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
