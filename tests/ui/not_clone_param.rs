use failfast::retry;

struct Payload {
    bytes: Vec<u8>,
}

#[retry(attempts = 3)]
fn upload(payload: Payload) -> Result<usize, std::io::Error> {
    Ok(payload.bytes.len())
}

fn main() {}
