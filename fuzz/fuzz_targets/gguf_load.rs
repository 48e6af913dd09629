//! Arbitrary bytes as a GGUF model file through the server's loader (`loader::load_gguf`:
//! header, tokenizer from the metadata, chat template, weights, RoPE tables). A malformed
//! file must be an error: no panic, no allocation beyond what the file's size justifies
//! (run with `-malloc_limit_mb`, see hack/fuzz.sh). A file that loads then runs one
//! two-token forward step, which may fail but must not panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netgpt_inference::loader::{LoadOptions, load_gguf};
use netgpt_inference::model::SequenceStep;

/// One scratch file per process, in memory when /dev/shm exists.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::path::Path::new("/dev/shm");
        let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
        dir.join(format!("netgpt-fuzz-{}.gguf", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");
    // The server's defaults: no context cap, Q4_1/Q5_x re-quantized to Q8_0.
    if let Ok(model) = load_gguf(path, LoadOptions::default()) {
        assert!(model.context_length > 0);
        let _ = model.tokenizer.encode("hello <|im_end|>");
        let mut cache = model.model.new_cache();
        let _ = model.model.forward(&mut [SequenceStep { tokens: &[0, 1], cache: &mut cache }]);
    }
});
