//! Synthesizes (and, with the deploy engine, deploys) the HyperPod platform.

fn main() -> std::process::ExitCode {
    hyperpod_deploy::run(hyperpod_platform::app())
}
