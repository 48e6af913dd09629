//! Loads a PEFT adapter directory and fits it onto a base model's projections.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

use super::config::AdapterConfig;
use super::target::Target;

/// File names of the PEFT layout.
pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Errors loading an adapter. Messages name the file, tensor or module at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path} is not a readable safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("tensor {name}: {reason}")]
    Tensor { name: String, reason: String },
    #[error(
        "tensor {name} has shape {actual:?} but the base model's {module} needs {expected:?} (adapter trained for a different base?)"
    )]
    Shape { name: String, module: String, expected: Vec<usize>, actual: Vec<usize> },
    #[error("adapter rank {rank} exceeds the limit of {max}")]
    RankTooLarge { rank: usize, max: usize },
    #[error("adapter is {bytes} bytes, more than the limit of {max}")]
    TooLarge { bytes: u64, max: u64 },
    #[error("{0} holds no LoRA weights")]
    Empty(PathBuf),
}

/// The largest rank applied on CUDA (the kernel keeps a row's low-rank vector in shared
/// memory; `netgpt_kernels::cuda::LORA_MAX_RANK`).
pub const CUDA_MAX_RANK: usize = 64;

/// What a server accepts (its limits) and how it keeps adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdapterOptions {
    /// Adapters loaded at once.
    pub max_adapters: usize,
    /// Highest rank accepted.
    pub max_rank: usize,
    /// Memory of all loaded adapters together (bytes, as prepared).
    pub max_bytes: u64,
    /// The type of the matrices of adapters applied on the CPU (a CUDA base keeps them in
    /// its own half type).
    pub host_precision: HostPrecision,
}

impl Default for AdapterOptions {
    fn default() -> Self {
        Self { max_adapters: 16, max_rank: 256, max_bytes: 1 << 30, host_precision: HostPrecision::default() }
    }
}

/// How adapters applied on the CPU keep their matrices; the arithmetic is f32 either way.
///
/// f16 by default, as llama.cpp converts adapters and as vLLM keeps them in the model's
/// half type: a decode step is bound by the bytes it reads, and a step mixing several
/// adapters reads every one of them (measured with `lora_bench`, 2 threads, batch 4 with
/// four adapters: +14–15 % per step in f16 against +16–17.5 % in f32). f16 rounds each
/// value of `A` and `s·B` to 11 significant bits; `f32` keeps them as loaded, and matches
/// merged weights to 10⁻⁴ (`tests/lora_reference.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HostPrecision {
    #[default]
    F16,
    F32,
}

/// A projection of the base an adapter may target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleShape {
    pub target: Target,
    /// Path inside a layer, as PEFT names it (`self_attn.q_proj`, `attn.c_proj`).
    pub path: &'static str,
    pub in_dim: usize,
    pub out_dim: usize,
}

impl ModuleShape {
    /// The module's own name (`q_proj`, `c_proj`): what `target_modules` lists.
    pub fn short_name(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }
}

/// llama.cpp's converter reorders the rows of Q and K (per head, from HF's half-split
/// RoPE layout to adjacent pairs), and candle's quantized LLaMA consumes that order. A
/// PEFT adapter's `lora_B` rows for q/k are in HF order and need the same reordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QkPermutation {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// What a base model offers adapters: its layers and their projections, and where it
/// applies them.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraLayout {
    /// `llama` or `gpt2`, for messages.
    pub family: &'static str,
    pub layers: usize,
    pub modules: Vec<ModuleShape>,
    pub qk_permutation: Option<QkPermutation>,
    pub device: AdapterDevice,
}

/// Where a base applies adapters, and so where and in which type their matrices are kept.
#[derive(Debug, Clone, Default)]
pub enum AdapterDevice {
    /// The CPU forward paths, in f32.
    #[default]
    Host,
    /// A CUDA model, in its half type: the matrices live on the GPU and are applied by the
    /// gathered low-rank kernel (`lora::gpu`).
    Cuda { device: Device, dtype: DType },
}

impl PartialEq for AdapterDevice {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Host, Self::Host) => true,
            (Self::Cuda { device: a, dtype: x }, Self::Cuda { device: b, dtype: y }) => x == y && a.same_device(b),
            _ => false,
        }
    }
}

impl LoraLayout {
    /// The seven LLaMA projections; `qk_permutation` for a GGUF (llama.cpp layout) base.
    pub fn llama(
        layers: usize,
        hidden: usize,
        intermediate: usize,
        heads: usize,
        kv_heads: usize,
        head_dim: usize,
        gguf_rope_layout: bool,
    ) -> Self {
        let module = |target, path, in_dim, out_dim| ModuleShape { target, path, in_dim, out_dim };
        Self {
            family: "llama",
            layers,
            modules: vec![
                module(Target::Q, "self_attn.q_proj", hidden, heads * head_dim),
                module(Target::K, "self_attn.k_proj", hidden, kv_heads * head_dim),
                module(Target::V, "self_attn.v_proj", hidden, kv_heads * head_dim),
                module(Target::O, "self_attn.o_proj", heads * head_dim, hidden),
                module(Target::Gate, "mlp.gate_proj", hidden, intermediate),
                module(Target::Up, "mlp.up_proj", hidden, intermediate),
                module(Target::Down, "mlp.down_proj", intermediate, hidden),
            ],
            qk_permutation: gguf_rope_layout.then_some(QkPermutation { heads, kv_heads, head_dim }),
            device: AdapterDevice::Host,
        }
    }

    /// The same layout for a base that applies adapters on `device` (a CUDA model).
    pub fn on(self, device: AdapterDevice) -> Self {
        Self { device, ..self }
    }

    /// GPT-2's four `Conv1D` projections.
    pub fn gpt2(layers: usize, hidden: usize, inner: usize) -> Self {
        let module = |target, path, in_dim, out_dim| ModuleShape { target, path, in_dim, out_dim };
        Self {
            family: "gpt2",
            layers,
            modules: vec![
                module(Target::CAttn, "attn.c_attn", hidden, 3 * hidden),
                module(Target::AttnProj, "attn.c_proj", hidden, hidden),
                module(Target::CFc, "mlp.c_fc", hidden, inner),
                module(Target::MlpProj, "mlp.c_proj", inner, hidden),
            ],
            qk_permutation: None,
            device: AdapterDevice::Host,
        }
    }

    /// The module a PEFT module path (after the layer index) names: the exact path, or
    /// an unambiguous module name alone.
    fn module(&self, path: &str) -> Option<&ModuleShape> {
        if let Some(module) = self.modules.iter().find(|m| m.path == path) {
            return Some(module);
        }
        let last = path.rsplit('.').next().unwrap_or(path);
        let mut candidates = self.modules.iter().filter(|m| m.short_name() == last);
        match (candidates.next(), candidates.next()) {
            (Some(module), None) if path.ends_with(module.path) || path == last => Some(module),
            _ => None,
        }
    }

    /// Whether a `target_modules` entry names a projection of this base.
    fn knows_target(&self, name: &str) -> bool {
        self.modules.iter().any(|m| {
            name == m.short_name()
                || name == m.path
                || name.ends_with(&format!(".{}", m.path))
                || name.ends_with(&format!(".{}", m.short_name()))
        })
    }

    fn module_names(&self) -> String {
        let mut names: Vec<&str> = self.modules.iter().map(ModuleShape::short_name).collect();
        names.dedup();
        names.join(", ")
    }
}

/// One adapted projection, prepared for the bypass: `delta(x) = (x·Aᵀ)·(s·B)ᵀ`.
///
/// The matrices are plain host memory with their shape inline, not candle tensors: a
/// decode step reads the shape and matrices of every adapter in the step for every
/// projection, and a tensor's shape, storage lock and data sit behind separate pointers
/// that the base weights have pushed out of the caches. Measured with `lora_bench`
/// (batch 4, four adapters per step, updates' arithmetic switched off): reaching the
/// matrices through tensors cost 6 µs per projection group, long enough for the sibling
/// pool thread to fall asleep, and the attention after it paid the wake-up.
#[derive(Debug, Clone)]
pub struct LoraWeights {
    inputs: usize,
    rank: usize,
    outputs: usize,
    /// `Aᵀ` (`[in, r]`) followed by `(s·B)ᵀ` (`[r, out]`, q/k columns already in the base's
    /// order), in one allocation so that a row's update reads one stretch of memory.
    values: HostValues,
}

/// The matrices of a [`LoraWeights`] in the precision the host keeps them in.
#[derive(Debug, Clone)]
enum HostValues {
    F32(Box<[f32]>),
    F16(Box<[half::f16]>),
}

impl LoraWeights {
    /// Prepares `Aᵀ` (`[in, r]`) and `(s·B)ᵀ` (`[r, out]`) for the host, in `precision`.
    fn new(a_t: &Tensor, b_t: &Tensor, precision: HostPrecision) -> candle_core::Result<Self> {
        let (inputs, rank) = a_t.dims2()?;
        let (b_rank, outputs) = b_t.dims2()?;
        if b_rank != rank {
            candle_core::bail!("lora_A has rank {rank} but lora_B has rank {b_rank}");
        }
        let joined = Tensor::cat(&[a_t.flatten_all()?, b_t.flatten_all()?], 0)?;
        let values = match precision {
            HostPrecision::F32 => HostValues::F32(joined.to_dtype(DType::F32)?.to_vec1::<f32>()?.into()),
            HostPrecision::F16 => HostValues::F16(joined.to_dtype(DType::F16)?.to_vec1::<half::f16>()?.into()),
        };
        Ok(Self { inputs, rank, outputs, values })
    }

    /// The update for `x` (`[tokens, in]`), `[tokens, out]`, with candle's GEMMs (prompt
    /// chunks; decode steps use [`LoraWeights::add_row_on_host`]).
    pub fn delta(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (a_t, b_t) = match &self.values {
            HostValues::F32(v) => self.tensors(v)?,
            HostValues::F16(v) => self.tensors(v)?,
        };
        let on_x = |t: Tensor| t.to_dtype(x.dtype())?.to_device(x.device());
        x.matmul(&on_x(a_t)?)?.matmul(&on_x(b_t)?)
    }

    /// `Aᵀ` and `(s·B)ᵀ` as CPU tensors (copies of `values`).
    fn tensors<T: candle_core::WithDType>(&self, values: &[T]) -> candle_core::Result<(Tensor, Tensor)> {
        let split = self.inputs * self.rank;
        Ok((
            Tensor::from_slice(&values[..split], (self.inputs, self.rank), &Device::Cpu)?,
            Tensor::from_slice(&values[split..], (self.rank, self.outputs), &Device::Cpu)?,
        ))
    }

    /// Outputs of the update (the projection's output width).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Inputs of the update (the projection's input width).
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Bytes of the matrices as kept.
    fn bytes(&self) -> usize {
        match &self.values {
            HostValues::F32(v) => v.len() * 4,
            HostValues::F16(v) => v.len() * 2,
        }
    }

    /// Adds columns `columns` of the update for one input row `x` (`in` values) to `y`
    /// (those columns of the output row): `y += (x·Aᵀ)·(s·B)ᵀ[.., columns]`. `columns`
    /// starts at a multiple of [`netgpt_kernels::CHUNK`] or at 0.
    pub fn add_row_on_host(
        &self,
        x: &[f32],
        y: &mut [f32],
        columns: std::ops::Range<usize>,
    ) -> candle_core::Result<()> {
        let (inputs, rank, outputs) = (self.inputs, self.rank, self.outputs);
        if x.len() != inputs || y.len() != columns.len() || columns.end > outputs {
            candle_core::bail!(
                "LoRA update of {inputs} → {outputs} given {} inputs for columns {columns:?} ({} outputs)",
                x.len(),
                y.len()
            );
        }
        let mut low = [0f32; MAX_HOST_RANK];
        let mut low_vec;
        let low: &mut [f32] = if rank <= MAX_HOST_RANK {
            &mut low[..rank]
        } else {
            low_vec = vec![0f32; rank];
            &mut low_vec
        };
        let split = inputs * rank;
        match &self.values {
            HostValues::F32(v) => {
                down_project(x, &v[..split], low);
                up_project_add(low, &v[split..], outputs, columns.start, y);
            }
            HostValues::F16(v) => {
                down_project_f16(x, &v[..split], low);
                up_project_add(low, &v[split..], outputs, columns.start, y);
            }
        }
        Ok(())
    }
}

/// Ranks whose low-rank vector lives on the stack in [`LoraWeights::add_row_on_host`].
const MAX_HOST_RANK: usize = 64;

/// Lanes of the register accumulators below (one AVX2 register of f32).
const LANES: usize = 8;

/// `low = x·Aᵀ` for one row (`a_t` is `[in, rank]`, f32 or f16 widened value by value). Eight ranks at a time in registers,
/// four inputs per step in separate partial sums: one accumulator updated in memory per
/// input made this a chain of dependent loads and stores (most of an adapter's cost).
fn down_project<T: HostValue>(x: &[f32], a_t: &[T], low: &mut [f32]) {
    let rank = low.len();
    if rank == 0 || !rank.is_multiple_of(LANES) {
        low.fill(0.0);
        for (&xi, a_row) in x.iter().zip(a_t.chunks_exact(rank.max(1))) {
            for (l, &a) in low.iter_mut().zip(a_row) {
                *l += xi * a.widen();
            }
        }
        return;
    }
    let whole = x.len() - x.len() % 4;
    for c in (0..rank).step_by(LANES) {
        let mut acc = [[0f32; LANES]; 4];
        for (xs, a_rows) in x[..whole].chunks_exact(4).zip(a_t.chunks_exact(4 * rank)) {
            for (k, acc) in acc.iter_mut().enumerate() {
                let a = &a_rows[k * rank + c..k * rank + c + LANES];
                for l in 0..LANES {
                    acc[l] += xs[k] * a[l].widen();
                }
            }
        }
        for (i, &xi) in x.iter().enumerate().skip(whole) {
            let a = &a_t[i * rank + c..i * rank + c + LANES];
            for l in 0..LANES {
                acc[0][l] += xi * a[l].widen();
            }
        }
        for l in 0..LANES {
            low[c + l] = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]);
        }
    }
}

/// A value type the host keeps `s·B` in, with its register kernel.
trait HostValue: Copy {
    fn widen(self) -> f32;
    /// [`netgpt_kernels::accumulate_rows`] over rows of this type.
    fn accumulate(low: &[f32], rows: &[Self], row_len: usize, start: usize, acc: &mut [f32; netgpt_kernels::CHUNK]);
}

impl HostValue for f32 {
    fn widen(self) -> f32 {
        self
    }
    fn accumulate(low: &[f32], rows: &[f32], row_len: usize, start: usize, acc: &mut [f32; netgpt_kernels::CHUNK]) {
        netgpt_kernels::accumulate_rows(low, rows, row_len, start, acc);
    }
}

impl HostValue for half::f16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn accumulate(low: &[f32], rows: &[Self], row_len: usize, start: usize, acc: &mut [f32; netgpt_kernels::CHUNK]) {
        netgpt_kernels::accumulate_rows_f16(low, rows, row_len, start, acc);
    }
}

/// `y += low·B[.., first..first + y.len()]` for one row (`b_t` is `[rank, outputs]`): 64
/// outputs at a time held in registers over all ranks, so `y` is read and written once.
fn up_project_add<T: HostValue>(low: &[f32], b_t: &[T], outputs: usize, first: usize, y: &mut [f32]) {
    use netgpt_kernels::CHUNK;
    let mut done = 0;
    while done + CHUNK <= y.len() {
        let Ok(chunk) = <&mut [f32; CHUNK]>::try_from(&mut y[done..done + CHUNK]) else { break };
        T::accumulate(low, b_t, outputs, first + done, chunk);
        done += CHUNK;
    }
    let (from, to) = (first + done, first + y.len());
    for (l, &lv) in low.iter().enumerate() {
        for (o, &b) in y[done..].iter_mut().zip(&b_t[l * outputs + from..l * outputs + to]) {
            *o += lv * b.widen();
        }
    }
}

/// [`down_project`] for `Aᵀ` kept in f16 with F16C where the build has it: eight ranks at
/// a time widened to f32 in registers, four inputs per step in separate partial sums.
fn down_project_f16(x: &[f32], a_t: &[half::f16], low: &mut [f32]) {
    let rank = low.len();
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma", target_feature = "f16c"))]
    if rank > 0 && rank.is_multiple_of(LANES) && a_t.len() >= x.len() * rank {
        use std::arch::x86_64::*;
        let whole = x.len() - x.len() % 4;
        for c in (0..rank).step_by(LANES) {
            // SAFETY: the build enables AVX2, FMA and F16C (this block's cfg); row i of
            // `a_t` holds `rank` values, so its ranks c..c + 8 lie inside (length checked
            // above), and `low` holds `rank` values.
            unsafe {
                let at = |i: usize| _mm256_cvtph_ps(_mm_loadu_si128(a_t.as_ptr().add(i * rank + c).cast()));
                let mut acc = [_mm256_setzero_ps(); 4];
                for i in (0..whole).step_by(4) {
                    for (k, acc) in acc.iter_mut().enumerate() {
                        *acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i + k]), at(i + k), *acc);
                    }
                }
                for (i, &xi) in x.iter().enumerate().skip(whole) {
                    acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(xi), at(i), acc[0]);
                }
                let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
                _mm256_storeu_ps(low.as_mut_ptr().add(c), sum);
            }
        }
        return;
    }
    down_project(x, a_t, low);
}

/// Where projection `target` of `layer` sits in [`LoraAdapter`]'s table.
fn slot(layer: usize, target: Target) -> usize {
    layer * Target::COUNT + target as usize
}

/// A loaded adapter, bound to the base layout it was fitted to. Immutable: replacing an
/// adapter creates a new one.
#[derive(Debug)]
pub struct LoraAdapter {
    pub name: String,
    pub path: PathBuf,
    pub config: AdapterConfig,
    /// The prepared matrices for the CPU paths, at [`slot`] (empty for a CUDA base).
    /// A flat table rather than a map: a decode step looks up every adapter of the step
    /// for every projection, and one layer's entries share a few cache lines.
    weights: Vec<Option<LoraWeights>>,
    /// The matrices on the GPU, for a CUDA base.
    #[cfg(feature = "cuda")]
    gpu: Option<super::gpu::GpuAdapter>,
    modules: usize,
    /// Memory of the prepared matrices.
    pub bytes: u64,
    pub load_duration: Duration,
}

impl LoraAdapter {
    /// The update of projection `target` in `layer`, if the adapter has one.
    pub fn weights(&self, layer: usize, target: Target) -> Option<&LoraWeights> {
        self.weights.get(slot(layer, target))?.as_ref()
    }

    /// Number of adapted projections (over all layers).
    pub fn module_count(&self) -> usize {
        self.modules
    }

    /// The adapter's matrices on the GPU (loaded for a CUDA base).
    #[cfg(feature = "cuda")]
    pub(crate) fn gpu(&self) -> Option<&super::gpu::GpuAdapter> {
        self.gpu.as_ref()
    }

    /// Loads the PEFT adapter in `dir` and fits it onto `layout`.
    pub fn load(name: &str, dir: &Path, layout: &LoraLayout, options: &AdapterOptions) -> Result<Self, LoraError> {
        let started = Instant::now();
        let config = read_config(dir)?;
        if config.r > options.max_rank {
            return Err(LoraError::RankTooLarge { rank: config.r, max: options.max_rank });
        }
        if let Some(unknown) = config.target_names().iter().find(|n| !layout.knows_target(n)) {
            return Err(LoraError::Unsupported(format!(
                "target module {unknown:?} does not exist in this {} base (its modules: {})",
                layout.family,
                layout.module_names()
            )));
        }
        let tensors = read_weights(dir, options)?;
        let scale = config.scale();
        let mut halves: HashMap<(usize, Target), (Option<Tensor>, Option<Tensor>)> = HashMap::new();
        for (name, tensor) in tensors {
            let (layer, module, is_a) = parse_name(&name, layout)?;
            let (a_shape, b_shape) = ([config.r, module.in_dim], [module.out_dim, config.r]);
            let expected = if is_a { a_shape } else { b_shape };
            if tensor.dims() != expected {
                return Err(LoraError::Shape {
                    name,
                    module: format!("layer {layer} {}", module.path),
                    expected: expected.to_vec(),
                    actual: tensor.dims().to_vec(),
                });
            }
            let entry = halves.entry((layer, module.target)).or_default();
            let slot = if is_a { &mut entry.0 } else { &mut entry.1 };
            if slot.replace(tensor.to_dtype(DType::F32).map_err(|e| tensor_error(&name, e))?).is_some() {
                return Err(LoraError::Tensor { name, reason: "appears twice (several adapters in one file?)".into() });
            }
        }
        if let AdapterDevice::Cuda { .. } = layout.device
            && config.r > CUDA_MAX_RANK
        {
            return Err(LoraError::Unsupported(format!(
                "rank {} on CUDA: the GPU kernel applies ranks up to {CUDA_MAX_RANK}",
                config.r
            )));
        }
        let mut weights: Vec<Option<LoraWeights>> = Vec::new();
        let mut scaled = Vec::with_capacity(halves.len());
        let mut bytes = 0u64;
        for ((layer, target), pair) in halves {
            let label = format!("layer {layer} {target:?}");
            let (Some(a), Some(b)) = pair else {
                return Err(LoraError::Tensor { name: label, reason: "has only one of lora_A and lora_B".into() });
            };
            let b = match (layout.qk_permutation, target) {
                (Some(p), Target::Q) => permute_rows(&b, p.heads, p.head_dim),
                (Some(p), Target::K) => permute_rows(&b, p.kv_heads, p.head_dim),
                _ => Ok(b),
            }
            .map_err(|e| tensor_error(&label, e))?;
            if let AdapterDevice::Cuda { .. } = layout.device {
                // Kept as PEFT stores them (A `[r, in]`, s·B `[out, r]`): the GPU kernel
                // reads both along the rank-contiguous rows.
                scaled.push(((layer, target), a, (b * scale).map_err(|e| tensor_error(&label, e))?));
                continue;
            }
            let prepared = (|| LoraWeights::new(&a.t()?, &(b * scale)?.t()?, options.host_precision))()
                .map_err(|e| tensor_error(&label, e))?;
            bytes += prepared.bytes() as u64;
            let at = slot(layer, target);
            if weights.len() <= at {
                weights.resize(at + 1, None);
            }
            weights[at] = Some(prepared);
        }
        let modules = weights.iter().flatten().count() + scaled.len();
        if modules == 0 {
            return Err(LoraError::Empty(dir.to_path_buf()));
        }
        #[cfg(feature = "cuda")]
        let gpu = match &layout.device {
            AdapterDevice::Cuda { device, dtype } => {
                let gpu = super::gpu::GpuAdapter::new(&scaled, config.r, layout.layers, device, *dtype)
                    .map_err(|e| tensor_error(&format!("adapter {name} on the GPU"), e))?;
                bytes += gpu.bytes();
                Some(gpu)
            }
            AdapterDevice::Host => None,
        };
        #[cfg(not(feature = "cuda"))]
        if !scaled.is_empty() {
            return Err(LoraError::Unsupported("a CUDA base in a build without the `cuda` feature".into()));
        }
        Ok(Self {
            name: name.to_string(),
            path: dir.to_path_buf(),
            config,
            weights,
            #[cfg(feature = "cuda")]
            gpu,
            modules,
            bytes,
            load_duration: started.elapsed(),
        })
    }
}

fn tensor_error(name: &str, error: candle_core::Error) -> LoraError {
    LoraError::Tensor { name: name.to_string(), reason: error.to_string() }
}

fn read_config(dir: &Path) -> Result<AdapterConfig, LoraError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| LoraError::Read { path: path.clone(), source })?;
    AdapterConfig::parse(&text).map_err(|message| LoraError::Config { path, message })
}

fn read_weights(dir: &Path, options: &AdapterOptions) -> Result<HashMap<String, Tensor>, LoraError> {
    let path = dir.join(WEIGHTS_FILE);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(source) if dir.join("adapter_model.bin").is_file() => {
            let _ = source;
            return Err(LoraError::Unsupported(format!(
                "{} has only adapter_model.bin (pickle); save the adapter with safe_serialization",
                dir.display()
            )));
        }
        Err(source) => return Err(LoraError::Read { path, source }),
    };
    // Checked before reading, so an oversized file costs no memory.
    if metadata.len() > options.max_bytes {
        return Err(LoraError::TooLarge { bytes: metadata.len(), max: options.max_bytes });
    }
    candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| LoraError::Safetensors { path, message: e.to_string() })
}

/// Splits a PEFT tensor name into (layer, module, is `lora_A`). Accepts
/// `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` (LLaMA),
/// `base_model.model.transformer.h.3.mlp.c_fc.lora_B.weight` (GPT-2), and the same with an
/// adapter name before `.weight` (`lora_A.default.weight`) or without the prefixes.
fn parse_name<'l>(name: &str, layout: &'l LoraLayout) -> Result<(usize, &'l ModuleShape, bool), LoraError> {
    let error = |reason: String| LoraError::Tensor { name: name.to_string(), reason };
    let parts: Vec<&str> = name.split('.').collect();
    let Some(lora_at) = parts.iter().position(|p| *p == "lora_A" || *p == "lora_B") else {
        return Err(error(
            "is not a lora_A/lora_B weight (embedding adapters, DoRA magnitudes and biases are not supported)".into(),
        ));
    };
    let tail = &parts[lora_at + 1..];
    if !(tail == ["weight"] || (tail.len() == 2 && tail[1] == "weight")) {
        return Err(error("is not a lora_A/lora_B weight".into()));
    }
    let is_a = parts[lora_at] == "lora_A";
    let module_parts = &parts[..lora_at];
    let Some(layer_at) = module_parts
        .windows(2)
        .position(|w| matches!(w[0], "layers" | "h" | "blocks") && w[1].parse::<usize>().is_ok())
    else {
        return Err(error("names no layer (only per-layer projections can be adapted)".into()));
    };
    let layer: usize = module_parts[layer_at + 1].parse().map_err(|_| error("has an invalid layer index".into()))?;
    if layer >= layout.layers {
        return Err(error(format!(
            "targets layer {layer} but the base has {} layers (adapter trained for a different base?)",
            layout.layers
        )));
    }
    let path = module_parts[layer_at + 2..].join(".");
    let module = layout.module(&path).ok_or_else(|| {
        error(format!(
            "targets module {path:?}, which this {} base does not have (its modules: {})",
            layout.family,
            layout.module_names()
        ))
    })?;
    Ok((layer, module, is_a))
}

/// Reorders the rows of `b` (`[heads * head_dim, r]`) the way llama.cpp's converter
/// reorders Q/K weights: per head, rows `(2, head_dim/2)` become `(head_dim/2, 2)`.
pub fn permute_rows(b: &Tensor, heads: usize, head_dim: usize) -> candle_core::Result<Tensor> {
    let (out, rank) = b.dims2()?;
    if heads == 0 || out != heads * head_dim || !head_dim.is_multiple_of(2) {
        candle_core::bail!("cannot permute {out} rows into {heads} heads of {head_dim}");
    }
    b.reshape((heads, 2, head_dim / 2, rank))?.transpose(1, 2)?.contiguous()?.reshape((out, rank))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_layers_and_modules() {
        let llama = LoraLayout::llama(2, 8, 16, 2, 1, 4, false);
        let (layer, module, is_a) =
            parse_name("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", &llama).expect("name");
        assert_eq!((layer, module.target, is_a), (1, Target::Q, true));
        let (_, module, is_a) = parse_name("model.layers.0.mlp.down_proj.lora_B.default.weight", &llama).expect("name");
        assert_eq!((module.target, is_a), (Target::Down, false));
        assert!(parse_name("base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight", &llama).is_err());
        assert!(parse_name("base_model.model.model.layers.0.self_attn.rotary.lora_A.weight", &llama).is_err());
        assert!(parse_name("base_model.model.model.embed_tokens.lora_embedding_A", &llama).is_err());

        let gpt2 = LoraLayout::gpt2(2, 8, 32);
        let (_, module, _) =
            parse_name("base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight", &gpt2).expect("name");
        assert_eq!(module.target, Target::MlpProj);
        let (_, module, _) =
            parse_name("base_model.model.transformer.h.1.attn.c_proj.lora_B.weight", &gpt2).expect("name");
        assert_eq!(module.target, Target::AttnProj);
        assert!(gpt2.knows_target("c_proj") && !gpt2.knows_target("q_proj"));
    }

    /// The host update, whole and in column parts, in f32 and in f16, against the same
    /// arithmetic in f64 (rank 16: two register rounds of the down-projection; 200 outputs:
    /// three register chunks and a tail).
    #[test]
    fn host_updates_match_plain_arithmetic() {
        let (inputs, rank, outputs) = (70, 16, 200);
        let value = |i: usize| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.2;
        let a_t: Vec<f32> = (0..inputs * rank).map(value).collect();
        let b_t: Vec<f32> = (0..rank * outputs).map(|i| value(i + 13)).collect();
        let x: Vec<f32> = (0..inputs).map(|i| value(i + 101) * 10.0).collect();
        let expected: Vec<f64> = (0..outputs)
            .map(|o| {
                (0..rank)
                    .map(|r| {
                        let low: f64 = (0..inputs).map(|i| x[i] as f64 * a_t[i * rank + r] as f64).sum();
                        low * b_t[r * outputs + o] as f64
                    })
                    .sum()
            })
            .collect();
        for (dtype, tolerance) in [(HostPrecision::F32, 1e-5), (HostPrecision::F16, 2e-3)] {
            let a = Tensor::from_vec(a_t.clone(), (inputs, rank), &Device::Cpu).expect("A");
            let b = Tensor::from_vec(b_t.clone(), (rank, outputs), &Device::Cpu).expect("B");
            let weights = LoraWeights::new(&a, &b, dtype).expect("weights");
            assert_eq!((weights.inputs(), weights.outputs()), (inputs, outputs));
            // Column bounds: the whole row, then three parts.
            for bounds in [&[0, outputs][..], &[0, 64, 192, outputs]] {
                let mut y = vec![1f32; outputs];
                for part in bounds.windows(2).map(|w| w[0]..w[1]) {
                    weights.add_row_on_host(&x, &mut y[part.clone()], part).expect("update");
                }
                let worst = y.iter().zip(&expected).map(|(&y, &e)| (y as f64 - 1.0 - e).abs()).fold(0.0, f64::max);
                let scale = expected.iter().map(|e| e.abs()).fold(0.0, f64::max);
                assert!(worst < tolerance * scale, "{dtype:?}: worst {worst} of {scale}");
            }
            let mut short = vec![0f32; 10];
            assert!(weights.add_row_on_host(&x[1..], &mut short, 0..10).is_err(), "a short input row is refused");
        }
    }

    #[test]
    fn permutation_matches_llama_cpp() {
        // One head of 4 rows: llama.cpp maps HF rows [0, 1, 2, 3] to [0, 2, 1, 3].
        let b = Tensor::from_vec(vec![0f32, 1., 2., 3.], (4, 1), &Device::Cpu).expect("tensor");
        let permuted = permute_rows(&b, 1, 4).expect("permute");
        assert_eq!(permuted.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("vec"), [0., 2., 1., 3.]);
    }
}
