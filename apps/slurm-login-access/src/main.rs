//! Synthesizes (and, with the deploy engine, deploys) the Slurm login-access app.

fn main() -> std::process::ExitCode {
    hyperpod_deploy::run(slurm_login_access::app())
}
