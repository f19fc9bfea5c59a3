//! `kubectl quell …`: kubectl runs this executable (found on PATH) with the arguments after
//! `quell`. It is the same CLI as `quell`, with the Kubernetes backend always on.

fn main() {
    std::process::exit(quell::interfaces::cli::plugin_main())
}
