use failfast::retry;

#[retry(attempts)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
