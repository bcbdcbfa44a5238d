use failfast::timeout;

#[timeout]
async fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
