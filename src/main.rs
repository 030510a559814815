use blast::app;
use blast::cli::{self, Parsed};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let config = match cli::parse(std::env::args()) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            return app::EXIT_OK;
        }
        Err(message) => return usage_error(&message),
    };
    let summary = match app::run(&config) {
        Ok(summary) => summary,
        Err(message) => return usage_error(&message),
    };
    match app::report(&config, &summary) {
        Ok(()) => app::exit_code(&summary),
        Err(message) => usage_error(&message),
    }
}

fn usage_error(message: &str) -> i32 {
    eprintln!("blast: {message}");
    app::EXIT_USAGE
}
