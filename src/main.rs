use blast::run::app;
use blast::run::cli::{self, Parsed};
use blast::run::config::Sweep;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let (mut config, demo) = match cli::parse(std::env::args()) {
        Ok(Parsed::Run(config)) => (config, false),
        Ok(Parsed::Demo(config)) => (config, true),
        Ok(Parsed::Serve(config)) => {
            return match app::serve(config) {
                Ok(_) => app::EXIT_OK,
                Err(message) => usage_error(&message),
            };
        }
        Ok(Parsed::Merge(merge)) => {
            return match app::check_outputs(&merge.outputs)
                .and_then(|_| {
                    blast::results::merge::merge(&merge.files, merge.slo, merge.allow_skew)
                })
                .and_then(|summary| app::report(&merge.outputs, &summary).map(|_| summary))
            {
                Ok(summary) => app::exit_code(&summary),
                Err(message) => usage_error(&message),
            };
        }
        Ok(Parsed::Compare(files, outputs)) => {
            return match app::check_outputs(&outputs)
                .and_then(|_| blast::results::compare::compare(&files))
                .and_then(|comparison| app::report_comparison(&outputs, &comparison))
            {
                Ok(()) => app::EXIT_OK,
                Err(message) => usage_error(&message),
            };
        }
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            return app::EXIT_OK;
        }
        Err(message) => return usage_error(&message),
    };
    let checked = match &config.sweep {
        Some(Sweep::Users(users)) => app::check_sweep_outputs(&config.outputs, users),
        _ => app::check_outputs(&config.outputs),
    };
    if let Err(message) = checked {
        return usage_error(&message);
    }
    if config.sweep.is_some() || config.each {
        return match app::sweep(&config)
            .and_then(|report| app::report_sweep(&config.outputs, &report).map(|_| report))
        {
            Ok(report) => app::sweep_exit_code(&report),
            Err(message) => usage_error(&message),
        };
    }
    let summary = if demo {
        app::demo(&mut config).and_then(|s| app::report(&config.outputs, &s).map(|_| s))
    } else {
        app::run_reported(&config)
    };
    match summary {
        Ok(summary) => app::exit_code(&summary),
        Err(message) => usage_error(&message),
    }
}

fn usage_error(message: &str) -> i32 {
    eprintln!("blast: {message}");
    app::EXIT_USAGE
}
