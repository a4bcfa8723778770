fn main() -> std::process::ExitCode {
    pallas::cli::main()
}
