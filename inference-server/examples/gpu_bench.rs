//! Greedy generation speed of a Hugging Face LLaMA checkpoint on a CUDA device, batch by
//! batch, in the same shape as `bench/hf_gpu_bench.py` measures HF transformers'
//! `generate` (which runs this binary and prints both side by side):
//!
//! ```sh
//! hack/build-cuda.sh -p netgpt-inference --example gpu_bench
//! target/release/examples/gpu_bench --model DIR [--device cuda:0] [--dtype f16|bf16]
//!     [--batches 1,32] [--prompt 64] [--new 128] [--repeats 5] [--dump DIR]
//!     [--adapters DIR,DIR,…]
//! ```
//!
//! Per batch: one untimed warm-up run, then `--repeats` runs, each with fresh caches: one
//! prefill step over every sequence's prompt, then one decode step per new token, the
//! next token taken by argmax on the device. Prints one `RESULT {json}` line per batch
//! with the medians: end-to-end tokens/s (new tokens over prefill plus decode, as HF's
//! `generate` is timed) and decode-only tokens/s. `--dump` writes, for the first and last
//! sequence of each batch, the prompt, the generated tokens and the f32 logits after the
//! prompt and after the eighth new token, so the script can check them against HF.
//!
//! With `--adapters` (PEFT directories), every batch also runs with LoRA: sequence `b`
//! uses adapter `b mod n`, so a batch of 32 with 8 adapters mixes all of them in every
//! step. Base and LoRA runs alternate (same warm GPU, same clocks), and each prints its
//! own `RESULT` line (`"adapters": 0` or `n`); dumps of LoRA runs go to `DIR/lora`, each
//! entry naming its adapter, for `bench/peft_gpu_bench.py`'s check against HF PEFT.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{D, Tensor};
use netgpt_inference::hf_llama::HfLlama;
use netgpt_inference::loader::{DeviceSpec, WeightDType};
use netgpt_inference::lora::{AdapterOptions, LoraAdapter};
use netgpt_inference::model::{KvCache, LanguageModel, SequenceStep};

type Error = Box<dyn std::error::Error>;

/// The step after which logits are dumped for the reference check.
const CHECK_STEP: usize = 8;

struct Args {
    model: PathBuf,
    device: DeviceSpec,
    dtype: WeightDType,
    batches: Vec<usize>,
    prompt: usize,
    new_tokens: usize,
    repeats: usize,
    dump: Option<PathBuf>,
    /// Also print where a batch-1 decode step's time goes.
    profile: bool,
    /// PEFT adapter directories, mixed over each batch's sequences.
    adapters: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        model: PathBuf::new(),
        device: DeviceSpec::Cuda(0),
        dtype: WeightDType::F16,
        batches: vec![1, 32],
        prompt: 64,
        new_tokens: 128,
        repeats: 5,
        dump: None,
        profile: false,
        adapters: Vec::new(),
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let mut value = || iter.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => args.model = value()?.into(),
            "--device" => args.device = value()?.parse()?,
            "--dtype" => {
                args.dtype = match value()?.as_str() {
                    "f16" => WeightDType::F16,
                    "bf16" => WeightDType::Bf16,
                    other => return Err(format!("unknown dtype {other}").into()),
                }
            }
            "--batches" => args.batches = value()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--prompt" => args.prompt = value()?.parse()?,
            "--new" => args.new_tokens = value()?.parse()?,
            "--repeats" => args.repeats = value()?.parse()?,
            "--dump" => args.dump = Some(value()?.into()),
            "--profile" => args.profile = true,
            "--adapters" => args.adapters = value()?.split(',').map(PathBuf::from).collect(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.model.as_os_str().is_empty() || args.new_tokens <= CHECK_STEP || args.repeats == 0 {
        return Err("usage: gpu_bench --model DIR [--new N>8] [--repeats N>0] …".into());
    }
    Ok(args)
}

/// The prompt of sequence `b`, the same formula as bench/hf_gpu_bench.py.
fn prompt(b: usize, len: usize, vocab: usize) -> Vec<u32> {
    (0..len).map(|i| ((17 + 31 * i + 1009 * b) % vocab) as u32).collect()
}

struct Run {
    total_seconds: f64,
    decode_seconds: f64,
    /// Per sequence: generated tokens.
    tokens: Vec<Vec<u32>>,
    /// Logits rows (first and last sequence) after the prompt and after `CHECK_STEP`.
    checks: Vec<(usize, &'static str, Vec<f32>)>,
}

/// The adapter of sequence `b` (none without adapters).
fn adapter_of<'a>(adapters: &[&'a LoraAdapter], b: usize) -> Option<&'a LoraAdapter> {
    (!adapters.is_empty()).then(|| adapters[b % adapters.len()])
}

fn argmax(logits: &Tensor) -> Result<Vec<u32>, Error> {
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
}

fn generate(
    model: &HfLlama,
    batch: usize,
    args: &Args,
    adapters: &[&LoraAdapter],
    keep_checks: bool,
) -> Result<Run, Error> {
    let vocab = model.config().vocab_size;
    let per_sequence: Vec<Option<&LoraAdapter>> = (0..batch).map(|b| adapter_of(adapters, b)).collect();
    let prompts: Vec<Vec<u32>> = (0..batch).map(|b| prompt(b, args.prompt, vocab)).collect();
    let mut caches: Vec<KvCache> = (0..batch).map(|_| model.new_cache()).collect();
    let mut tokens: Vec<Vec<u32>> = vec![Vec::with_capacity(args.new_tokens); batch];
    let mut checks = Vec::new();
    let watched = if batch > 1 { vec![0, batch - 1] } else { vec![0] };
    let mut keep = |logits: &Tensor, label: &'static str| -> Result<(), Error> {
        if keep_checks {
            for &b in &watched {
                checks.push((b, label, logits.get(b)?.to_vec1::<f32>()?));
            }
        }
        Ok(())
    };
    let started = Instant::now();
    let logits = {
        let mut steps: Vec<SequenceStep<'_>> =
            prompts.iter().zip(caches.iter_mut()).map(|(p, cache)| SequenceStep { tokens: p, cache }).collect();
        model.forward_with_adapters(&mut steps, &per_sequence)?
    };
    keep(&logits, "prefill")?;
    for (b, next) in argmax(&logits)?.into_iter().enumerate() {
        tokens[b].push(next);
    }
    let decode_started = Instant::now();
    for step in 1..args.new_tokens {
        let last: Vec<[u32; 1]> = tokens.iter().map(|t| [t[t.len() - 1]]).collect();
        let logits = {
            let mut steps: Vec<SequenceStep<'_>> =
                last.iter().zip(caches.iter_mut()).map(|(t, cache)| SequenceStep { tokens: t, cache }).collect();
            model.forward_with_adapters(&mut steps, &per_sequence)?
        };
        if step == CHECK_STEP {
            keep(&logits, "step")?;
        }
        for (b, next) in argmax(&logits)?.into_iter().enumerate() {
            tokens[b].push(next);
        }
    }
    Ok(Run {
        total_seconds: started.elapsed().as_secs_f64(),
        decode_seconds: decode_started.elapsed().as_secs_f64(),
        tokens,
        checks,
    })
}

/// Where a decode step's time goes: host time to queue a step (forward returns before the
/// GPU finishes) against the whole step, and the projections alone at LLaMA-7B shapes.
fn profile(model: &HfLlama, args: &Args) -> Result<(), Error> {
    let vocab = model.config().vocab_size;
    let mut cache = model.new_cache();
    let p = prompt(0, args.prompt, vocab);
    model.forward(&mut [SequenceStep { tokens: &p, cache: &mut cache }])?;
    let (mut queued, mut total) = (Vec::new(), Vec::new());
    for i in 0..64u32 {
        let token = [100 + i];
        let started = Instant::now();
        let logits = model.forward(&mut [SequenceStep { tokens: &token, cache: &mut cache }])?;
        queued.push(started.elapsed().as_secs_f64() * 1e3);
        argmax(&logits)?;
        total.push(started.elapsed().as_secs_f64() * 1e3);
    }
    eprintln!("PROFILE decode step: host queues in {:.2} ms, done in {:.2} ms", median(queued), median(total));
    #[cfg(feature = "cuda")]
    {
        let device = model.device();
        let c = model.config();
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let shapes = [(3 * h, h), (h, h), (2 * i, h), (h, i)];
        let kinds = [Kind::Split(1), Kind::Split(2), Kind::Split(4), Kind::Matvec, Kind::Decode, Kind::Cublas];
        for kind in kinds {
            let rows = if matches!(kind, Kind::Cublas) { 32 } else { 1 };
            let mut seconds = 0.0;
            let mut bytes = 0usize;
            for (shape, &(n, k)) in shapes.iter().enumerate() {
                // Eight weight copies in rotation, so the 50 MB L2 cannot serve repeats.
                let weights: Vec<Tensor> = (0..8)
                    .map(|_| Tensor::randn(0f32, 0.02, (n, k), device)?.to_dtype(candle_core::DType::F16))
                    .collect::<Result<_, _>>()?;
                let x = Tensor::randn(0f32, 1.0, (rows, k), device)?.to_dtype(candle_core::DType::F16)?;
                let run = |w: &Tensor| kind.run(&x, w, shape);
                for w in &weights {
                    run(w)?;
                }
                device.synchronize()?;
                let started = Instant::now();
                for _ in 0..4 {
                    for w in &weights {
                        run(w)?;
                    }
                }
                device.synchronize()?;
                let elapsed = started.elapsed().as_secs_f64() / 32.0;
                eprintln!(
                    "PROFILE rows {rows} {} [{n}x{k}]: {:.1} us, {:.2} TB/s",
                    kind.label(shape),
                    elapsed * 1e6,
                    (n * k * 2) as f64 / elapsed / 1e12
                );
                seconds += elapsed;
                bytes += n * k * 2;
            }
            eprintln!(
                "PROFILE rows {rows} {}: one layer's projections {:.1} us ({:.2} TB/s); x{} layers = {:.2} ms",
                kind.label(usize::MAX),
                seconds * 1e6,
                bytes as f64 / seconds / 1e12,
                c.num_hidden_layers,
                seconds * 1e3 * c.num_hidden_layers as f64
            );
        }
    }
    Ok(())
}

/// A way to run the projections in `profile`.
#[cfg(feature = "cuda")]
#[derive(Clone, Copy)]
enum Kind {
    /// `cuda::gemv_split` with this many warps per row.
    Split(usize),
    /// `cuda::matvec` (four warps a row).
    Matvec,
    /// What a batch-1 decode step runs per shape (QKV, output, gate/up, down).
    Decode,
    /// cuBLAS at 32 rows.
    Cublas,
}

#[cfg(feature = "cuda")]
impl Kind {
    /// The kernel for the `shape`-th projection (`usize::MAX`: all of them).
    fn label(self, shape: usize) -> String {
        match (self, shape) {
            (Kind::Split(split), _) => format!("gemv split {split}"),
            (Kind::Matvec, _) => "matvec".into(),
            (Kind::Decode, 0) => "decode step (matvec)".into(),
            (Kind::Decode, 1 | 3) => "decode step (gemv)".into(),
            (Kind::Decode, 2) => "decode step (matvec + SwiGLU)".into(),
            (Kind::Decode, _) => "decode step kernels".into(),
            (Kind::Cublas, _) => "cuBLAS".into(),
        }
    }

    fn run(self, x: &Tensor, w: &Tensor, shape: usize) -> candle_core::Result<Tensor> {
        use netgpt_kernels::cuda;
        match (self, shape) {
            (Kind::Split(split), _) => cuda::gemv_split(x, w, split),
            (Kind::Matvec, _) | (Kind::Decode, 0) => cuda::matvec(x, w),
            (Kind::Decode, 2) => cuda::matvec_swiglu(x, w),
            (Kind::Decode, _) => cuda::gemv(x, w),
            (Kind::Cublas, _) => x.matmul(&w.t()?),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn dump(
    dir: &std::path::Path,
    batch: usize,
    args: &Args,
    run: &Run,
    vocab: usize,
    adapters: &[&LoraAdapter],
) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    let mut index = Vec::new();
    for (b, label, logits) in &run.checks {
        let name = format!("logits_b{batch}_s{b}_{label}.f32");
        let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join(&name), bytes)?;
        // The tokens the logits follow: the prompt, then (for "step") the new tokens fed so far.
        let mut context = prompt(*b, args.prompt, vocab);
        if *label == "step" {
            context.extend_from_slice(&run.tokens[*b][..CHECK_STEP]);
        }
        let adapter = adapter_of(adapters, *b).map(|a| a.path.display().to_string());
        index.push(serde_json::json!({
            "batch": batch, "sequence": b, "file": name, "context": context, "adapter": adapter,
        }));
    }
    let generated: Vec<_> = run.tokens.iter().map(|t| t.iter().take(16).collect::<Vec<_>>()).collect();
    std::fs::write(
        dir.join(format!("checks_b{batch}.json")),
        serde_json::to_string(&serde_json::json!({ "checks": index, "first_tokens": generated }))?,
    )?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let device = args.device.open()?;
    let dtype = match args.dtype {
        WeightDType::F16 => candle_core::DType::F16,
        WeightDType::Bf16 => candle_core::DType::BF16,
        WeightDType::F32 => candle_core::DType::F32,
    };
    let started = Instant::now();
    let model = HfLlama::from_dir_as(&args.model, &device, dtype)?;
    device.synchronize()?;
    eprintln!("loaded {} in {:.1} s", args.model.display(), started.elapsed().as_secs_f64());
    let vocab = model.config().vocab_size;
    if args.profile {
        profile(&model, &args)?;
    }
    let layout = model.lora_layout().ok_or("this model takes no adapters")?;
    let loaded = args
        .adapters
        .iter()
        .enumerate()
        .map(|(i, dir)| LoraAdapter::load(&format!("a{i}"), dir, &layout, &AdapterOptions::default()))
        .collect::<Result<Vec<_>, _>>()?;
    let mixes: Vec<Vec<&LoraAdapter>> =
        if loaded.is_empty() { vec![Vec::new()] } else { vec![Vec::new(), loaded.iter().collect()] };
    for &batch in &args.batches {
        for mix in &mixes {
            let warm = generate(&model, batch, &args, mix, args.dump.is_some())?;
            if let Some(dir) = &args.dump {
                let dir = if mix.is_empty() { dir.clone() } else { dir.join("lora") };
                dump(&dir, batch, &args, &warm, vocab, mix)?;
            }
        }
        // Base and LoRA runs alternate, so both see the same clocks and temperature.
        let mut totals = vec![Vec::new(); mixes.len()];
        let mut decodes = vec![Vec::new(); mixes.len()];
        for _ in 0..args.repeats {
            for (m, mix) in mixes.iter().enumerate() {
                let run = generate(&model, batch, &args, mix, false)?;
                totals[m].push((batch * args.new_tokens) as f64 / run.total_seconds);
                decodes[m].push((batch * (args.new_tokens - 1)) as f64 / run.decode_seconds);
            }
        }
        for (m, mix) in mixes.iter().enumerate() {
            let result = serde_json::json!({
                "batch": batch,
                "adapters": mix.len(),
                "tokens_per_second": median(totals[m].clone()),
                "tokens_per_second_all": totals[m],
                "decode_tokens_per_second": median(decodes[m].clone()),
                "decode_tokens_per_second_all": decodes[m],
            });
            println!("RESULT {result}");
        }
    }
    Ok(())
}
