//! The `arrayd` binary: parse settings, set up logging and thread pools, serve.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use arrayd::settings::{Cli, Command, Healthcheck, LogFormat};

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

/// GETs the probe path over plain HTTP/1.0 and succeeds on a 200.
fn healthcheck(probe: &Healthcheck) -> std::process::ExitCode {
    use std::io::{Read, Write};
    let mut addr = probe.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = std::time::Duration::from_secs(3);
    let answer = std::net::TcpStream::connect_timeout(&addr, timeout).and_then(|mut s| {
        s.set_read_timeout(Some(timeout))?;
        write!(s, "GET {} HTTP/1.0\r\nHost: {addr}\r\n\r\n", probe.path)?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(head)
    });
    match answer {
        Ok(head) if head.starts_with(b"HTTP/1.") && &head[9..12] == b"200" => {
            std::process::ExitCode::SUCCESS
        }
        Ok(head) => {
            eprintln!("arrayd healthcheck: {}", String::from_utf8_lossy(&head));
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("arrayd healthcheck: {addr}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc keeps up to 8 malloc arenas per core, and freed chunk buffers stay resident in
/// them (`tests/soak.rs`: peak RSS 487 MiB with the default, 325 MiB with two). glibc
/// reads `MALLOC_ARENA_MAX` only at start, so `serve` re-executes itself once with it
/// set, unless the environment already sets it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn with_two_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", "2")
        .exec();
    eprintln!("arrayd: running with glibc's default malloc arenas: {err}");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn with_two_malloc_arenas() {}

/// `arrayd export`: logs to stderr, exit 1 on failure.
fn export(args: arrayd::export::Export) -> std::process::ExitCode {
    init_logging(LogFormat::Text);
    arrayd::init_tls();
    let run = tokio::runtime::Runtime::new()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(arrayd::export::run(args)));
    match run {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arrayd export: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main() -> std::process::ExitCode {
    let Cli { command } = Cli::parse();
    let settings = match command {
        Command::Serve(settings) => {
            with_two_malloc_arenas();
            *settings
        }
        Command::Healthcheck(probe) => return healthcheck(&probe),
        Command::Export(args) => return export(*args),
    };
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
