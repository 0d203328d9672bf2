fn main() -> std::process::ExitCode {
    spaceport::cli::main()
}
