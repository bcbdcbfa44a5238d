use failfast::retry;

#[retry(jitter = "fulll")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
