fn main() {
    // generate_context! embeds ui/dist in the binary, but nothing tells
    // cargo to rebuild when the UI is rebuilt: this does.
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::build()
}
