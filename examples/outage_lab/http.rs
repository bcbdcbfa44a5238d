//! `--http`: the same scenarios over real sockets on 127.0.0.1 (work in progress).

use std::process::ExitCode;

use super::client::CallError;
use super::record::Measured;
use super::scenario::{Scenario, Service, Variant};
use super::sim::Load;

#[derive(Clone)]
pub struct HttpUpstreams;

impl HttpUpstreams {
    pub async fn call(&self, _service: Service) -> Result<(), CallError> {
        Err(CallError::Connect("not yet".into()))
    }
}

pub struct Lab;

impl Lab {
    pub fn start(_load: Load) -> Result<Lab, String> {
        Err("--http is not built yet".into())
    }

    pub fn run(&mut self, _s: Scenario, _v: Variant, _seed: u64) -> Result<Option<Measured>, String> {
        Ok(None)
    }
}

pub fn serve_worker(_spec: &str) -> ExitCode {
    ExitCode::FAILURE
}
