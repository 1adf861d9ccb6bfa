//! The `eimza` binary: everything is in the library (src/lib.rs), which cli/assets
//! also uses to write the man page and the shell completions.

fn main() {
    eimza::main()
}
