fn main() {
    std::process::exit(quell::interfaces::cli::main())
}
