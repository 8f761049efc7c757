//! Synthesizes (and, with the deploy engine, deploys) the example app.

fn main() -> std::process::ExitCode {
    hyperpod_deploy::run(example_shared_bucket::app())
}
