//! Throughput of the packed quantized products on one thread: a 1536×576 weight matrix
//! (SmolLM2's gate/up shape) times 1–16 activation rows, per weight format and row
//! layout, best of 300 calls each (a microbenchmark: it fits in cache, so it measures the
//! kernels' arithmetic, not memory):
//!
//! ```sh
//! cargo run --release -p netgpt-kernels --example kernel_bench -- [activation rows…]
//! ```
//!
//! `Rows4` runs the AVX2 kernels, `Rows16` the AVX-512 VNNI ones (skipped on CPUs
//! without AVX-512 VNNI). Prints a table of microseconds per product and billions of
//! multiply-adds per second.

use std::time::Instant;

use candle_core::quantized::GgmlDType;
use netgpt_kernels::Isa;
use netgpt_kernels::dot::tile;
use netgpt_kernels::formats::{Layout, PackedWeights, QuantizedRows};

const ROWS: usize = 1536;
const COLS: usize = 576;
const CALLS: usize = 300;

/// Random GGML blocks (f16 scale, then the format's other bytes) from a fixed LCG.
fn random_ggml(dtype: GgmlDType) -> Vec<u8> {
    let block_bytes = if dtype == GgmlDType::Q4_1 { 20 } else { 34 };
    let mut state = 1u64;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as u8
    };
    let mut bytes = Vec::new();
    for _ in 0..ROWS * COLS / 32 {
        bytes.extend(half::f16::from_f32(0.01).to_le_bytes());
        bytes.extend((0..block_bytes - 2).map(|_| next()));
    }
    bytes
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut activation_rows: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    if activation_rows.is_empty() {
        activation_rows = vec![1, 4, 8, 16];
    }
    println!("| format | layout | activation rows | µs per product | G multiply-adds/s |");
    println!("|---|---|---:|---:|---:|");
    for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
        let bytes = random_ggml(dtype);
        for (layout, isa) in [(Layout::Rows4, Isa::Avx2), (Layout::Rows16, Isa::Avx512Vnni)] {
            if !isa.supported() {
                continue;
            }
            let w = PackedWeights::from_ggml_in(layout, dtype, ROWS, COLS, &bytes)?;
            for &m in &activation_rows {
                let x: Vec<f32> = (0..m * COLS).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
                let a = QuantizedRows::quantize(&x, m, COLS);
                let mut out = vec![0f32; ROWS * m];
                let mut best = f64::MAX;
                for _ in 0..CALLS {
                    let started = Instant::now();
                    tile(isa, &w, 0..w.groups(), &a, |j, first, products| {
                        out[j * ROWS + first..][..products.len()].copy_from_slice(products)
                    });
                    best = best.min(started.elapsed().as_secs_f64());
                }
                let multiply_adds = (ROWS * COLS * m) as f64;
                println!("| {dtype:?} | {layout:?} | {m} | {:.1} | {:.1} |", best * 1e6, multiply_adds / best / 1e9);
            }
        }
    }
    Ok(())
}
