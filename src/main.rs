//! The `arrayd` binary: parse settings, set up logging and thread pools, serve.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use arrayd::settings::{Cli, Command, LogFormat};

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ARRAYD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> std::process::ExitCode {
    let Cli { command } = Cli::parse();
    let Command::Serve(settings) = command;
    init_logging(settings.log_format);
    arrayd::init_tls();
    let jobs = settings.compute_jobs();
    // zarrs decodes with rayon: keep its pool to the compute budget.
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build_global()
    {
        tracing::warn!(error = %e, "rayon pool already initialised");
    }
    zarrs::config::global_config_mut().set_codec_concurrent_target(jobs);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("arrayd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(arrayd::server::run(settings)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "arrayd failed to start");
            eprintln!("arrayd: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
