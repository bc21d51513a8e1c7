fn main() -> std::process::ExitCode {
    moor::cli::main()
}
