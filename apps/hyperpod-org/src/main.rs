//! Synthesizes (and deploys) the cluster shared by the teams of three business units;
//! `HYPERPOD_TEAMS` sets how many teams (default 12).

fn main() -> std::process::ExitCode {
    let teams = match hyperpod_org::teams_from_env() {
        Ok(teams) => teams,
        Err(message) => {
            eprintln!("error: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    hyperpod_deploy::run(hyperpod_org::app(1..=teams))
}
