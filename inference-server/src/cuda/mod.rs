//! NetGPT's CUDA kernels (src/cuda/kernels.cu, compiled to PTX by build.rs) and their
//! launches, for the f16/bf16 decode path of the safetensors LLaMA model.
//!
//! The launches take raw device pointers from candle tensors: candle has no op that reads
//! a table of per-sequence caches, and custom ops take at most three inputs. Every input
//! must be contiguous, on the same CUDA device, and in the model's dtype (checked here).
//! Work is queued on candle's stream, so ordering with candle's own ops is preserved.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaStream, DevicePtr, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::{CudaDType, WrapErr};
use candle_core::op::BackpropOp;
use candle_core::{CudaDevice, CudaStorage, DType, Device, Storage, Tensor, bail};

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/netgpt_kernels.ptx"));
const MODULE: &str = "netgpt_kernels";

/// Rows up to which projections use [`gemv`] instead of cuBLAS.
pub const GEMV_MAX_ROWS: usize = 8;
/// The head size the attention kernel is written for.
pub const HEAD_DIM: usize = 128;
const ATTENTION_THREADS: u32 = 256;
const NORM_THREADS: u32 = 512;

fn suffix(dtype: DType) -> candle_core::Result<&'static str> {
    match dtype {
        DType::F16 => Ok("f16"),
        DType::BF16 => Ok("bf16"),
        other => bail!("the CUDA kernels take f16 or bf16, not {other:?}"),
    }
}

fn cuda_device(device: &Device) -> candle_core::Result<&CudaDevice> {
    match device {
        Device::Cuda(device) => Ok(device),
        _ => bail!("expected a CUDA tensor"),
    }
}

/// The device address of a contiguous tensor's first element.
fn address(tensor: &Tensor, stream: &CudaStream) -> candle_core::Result<u64> {
    if !tensor.is_contiguous() {
        bail!("CUDA kernel input must be contiguous, got strides {:?}", tensor.stride());
    }
    let (storage, layout) = tensor.storage_and_layout();
    let Storage::Cuda(storage) = &*storage else { bail!("expected a CUDA tensor") };
    fn base<T: CudaDType>(storage: &CudaStorage, stream: &CudaStream) -> candle_core::Result<u64> {
        Ok(T::as_cuda_slice(storage)?.device_ptr(stream).0)
    }
    let base = match storage.dtype() {
        DType::F16 => base::<half::f16>(storage, stream)?,
        DType::BF16 => base::<half::bf16>(storage, stream)?,
        DType::F32 => base::<f32>(storage, stream)?,
        DType::U32 => base::<u32>(storage, stream)?,
        DType::I64 => base::<i64>(storage, stream)?,
        other => bail!("no CUDA kernel takes {other:?}"),
    };
    Ok(base + (layout.start_offset() * storage.dtype().size_in_bytes()) as u64)
}

/// A fresh (uninitialised) tensor the kernel fills completely.
fn output(device: &CudaDevice, dtype: DType, dims: &[usize]) -> candle_core::Result<Tensor> {
    let len = dims.iter().product();
    // SAFETY: every kernel below writes each element of its output.
    let storage = unsafe {
        match dtype {
            DType::F16 => half::f16::wrap_cuda_slice(device.alloc::<half::f16>(len)?, device.clone()),
            DType::BF16 => half::bf16::wrap_cuda_slice(device.alloc::<half::bf16>(len)?, device.clone()),
            other => bail!("the CUDA kernels take f16 or bf16, not {other:?}"),
        }
    };
    Ok(Tensor::from_storage(Storage::Cuda(storage), dims, BackpropOp::none(), false))
}

/// Per-step tables for the attention kernels: for each layer, the key then the value cache
/// address of every row (`[layers, 2, rows]`), and each row's position then its cache
/// capacity (`[2, rows]`). Built once per step, shared by all layers.
pub struct StepTables {
    pub addresses: Tensor,
    pub positions: Tensor,
    pub rows: usize,
}

impl StepTables {
    /// `caches[layer][sequence]` holds a sequence's key and value cache tensors for that
    /// layer (`[1, kv_heads, capacity, head_dim]`), `lens[sequence]` its rows in the step
    /// (consecutive); `positions`/`capacities` are per row.
    pub fn new(
        device: &Device,
        caches: &[Vec<(Tensor, Tensor)>],
        lens: &[usize],
        positions: &[u32],
        capacities: &[u32],
    ) -> candle_core::Result<Self> {
        let stream = cuda_device(device)?.cuda_stream();
        let rows = positions.len();
        if lens.iter().sum::<usize>() != rows || capacities.len() != rows {
            bail!("step tables: {lens:?} rows for {rows} positions");
        }
        let mut addresses = Vec::with_capacity(caches.len() * 2 * rows);
        for layer in caches {
            if layer.len() != lens.len() {
                bail!("{} caches for {} sequences", layer.len(), lens.len());
            }
            let keys = layer.iter().map(|(k, _)| address(k, &stream)).collect::<candle_core::Result<Vec<_>>>()?;
            let values = layer.iter().map(|(_, v)| address(v, &stream)).collect::<candle_core::Result<Vec<_>>>()?;
            for per_sequence in [keys, values] {
                for (&address, &len) in per_sequence.iter().zip(lens) {
                    addresses.extend(std::iter::repeat_n(address as i64, len));
                }
            }
        }
        let addresses = Tensor::from_vec(addresses, (caches.len(), 2, rows), device)?;
        let positions = Tensor::from_vec([positions, capacities].concat(), (2, rows), device)?;
        Ok(Self { addresses, positions, rows })
    }
}

/// Attention geometry for [`rope_append`] and [`attention`].
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// RoPE on the Q and K parts of `qkv` (`[rows, (heads + 2·kv_heads)·head_dim]`) at each
/// row's position, the rotated keys and the values written into `layer`'s caches in
/// place. Returns the rotated queries `[rows, heads, head_dim]`.
pub fn rope_append(
    qkv: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    tables: &StepTables,
    layer: usize,
    heads: Heads,
) -> candle_core::Result<Tensor> {
    let device = cuda_device(qkv.device())?;
    let stream = device.cuda_stream();
    let rows = tables.rows;
    let width = (heads.heads + 2 * heads.kv_heads) * heads.head_dim;
    if qkv.dims() != [rows, width] || cos.dtype() != DType::F32 || sin.dtype() != DType::F32 {
        bail!("rope_append: qkv {:?} for {rows} rows of width {width}", qkv.dims());
    }
    let q = output(device, qkv.dtype(), &[rows, heads.heads, heads.head_dim])?;
    let func = device.get_or_load_custom_func(&format!("rope_append_{}", suffix(qkv.dtype())?), MODULE, PTX)?;
    let table = address(&tables.addresses, &stream)? + (layer * 2 * rows * 8) as u64;
    let positions = address(&tables.positions, &stream)?;
    let args = (
        address(qkv, &stream)?,
        address(cos, &stream)?,
        address(sin, &stream)?,
        table,
        positions,
        positions + (rows * 4) as u64,
        address(&q, &stream)?,
    );
    let ints = [rows as i32, heads.heads as i32, heads.kv_heads as i32, heads.head_dim as i32];
    let mut builder = func.builder();
    builder.arg(&args.0).arg(&args.1).arg(&args.2).arg(&args.3).arg(&args.4).arg(&args.5).arg(&args.6);
    for value in &ints {
        builder.arg(value);
    }
    let config = LaunchConfig {
        grid_dim: (rows as u32, (heads.heads + 2 * heads.kv_heads) as u32, 1),
        block_dim: (heads.head_dim as u32 / 2, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: the pointers are live tensors of the checked shapes; the caches hold each
    // row's position (the caller reserved capacity), which the table records.
    unsafe { builder.launch(config) }.w()?;
    Ok(q)
}

/// Causal attention of each row's query (`[rows, heads, 128]`, at the row's position) over
/// positions `0..=position` of its sequence's cache for `layer`. Returns
/// `[rows, heads·128]`.
pub fn attention(q: &Tensor, tables: &StepTables, layer: usize, heads: Heads) -> candle_core::Result<Tensor> {
    let device = cuda_device(q.device())?;
    let stream = device.cuda_stream();
    let rows = tables.rows;
    if heads.head_dim != HEAD_DIM || q.dims() != [rows, heads.heads, HEAD_DIM] {
        bail!("attention kernel: q {:?}, head_dim {} (needs {HEAD_DIM})", q.dims(), heads.head_dim);
    }
    let out = output(device, q.dtype(), &[rows, heads.heads * HEAD_DIM])?;
    let func = device.get_or_load_custom_func(&format!("attention_{}", suffix(q.dtype())?), MODULE, PTX)?;
    let table = address(&tables.addresses, &stream)? + (layer * 2 * rows * 8) as u64;
    let positions = address(&tables.positions, &stream)?;
    let ptrs = [address(q, &stream)?, table, positions, positions + (rows * 4) as u64, address(&out, &stream)?];
    let ints = [rows as i32, heads.heads as i32, heads.kv_heads as i32];
    let scale = 1f32 / (HEAD_DIM as f32).sqrt();
    let mut builder = func.builder();
    for ptr in &ptrs {
        builder.arg(ptr);
    }
    for value in &ints {
        builder.arg(value);
    }
    builder.arg(&scale);
    let config = LaunchConfig {
        grid_dim: (rows as u32, heads.heads as u32, 1),
        block_dim: (ATTENTION_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: as for rope_append; rope_append already wrote each row's position.
    unsafe { builder.launch(config) }.w()?;
    Ok(out)
}

/// `x · wᵀ` for `x` `[m, k]` with `m <= GEMV_MAX_ROWS` and `w` `[n, k]` (`k` a multiple of 8).
pub fn gemv(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (n, k) = w.dims2()?;
    gemv_split(x, w, gemv_default_split(n, k))
}

/// Warps per output row: 2 for long rows (the down projection) and small matrices (the
/// output projection), whose single-warp rows leave too few loads in flight; else 1.
pub fn gemv_default_split(n: usize, k: usize) -> usize {
    if (k > 8192 || n <= 4096) && k.is_multiple_of(16) { 2 } else { 1 }
}

/// [`gemv`] with `split` (1, 2 or 4) warps per output row, each over `k / split`.
pub fn gemv_split(x: &Tensor, w: &Tensor, split: usize) -> candle_core::Result<Tensor> {
    let device = cuda_device(x.device())?;
    let stream = device.cuda_stream();
    let (m, x_width) = x.dims2()?;
    let (n, k) = w.dims2()?;
    if x_width != k
        || ![1, 2, 4].contains(&split)
        || !k.is_multiple_of(8 * split)
        || m == 0
        || m > GEMV_MAX_ROWS
        || x.dtype() != w.dtype()
    {
        bail!("gemv: x {:?} ({:?}), w {:?} ({:?})", x.dims(), x.dtype(), w.dims(), w.dtype());
    }
    let out = output(device, x.dtype(), &[m, n])?;
    let func = device.get_or_load_custom_func(&format!("gemv_{}_{m}_s{split}", suffix(x.dtype())?), MODULE, PTX)?;
    let ptrs = [address(x, &stream)?, address(w, &stream)?, address(&out, &stream)?];
    if ptrs[..2].iter().any(|p| p % 16 != 0) {
        bail!("gemv: inputs must be 16-byte aligned for the vector loads");
    }
    let ints = [k as i32, n as i32];
    let mut builder = func.builder();
    for ptr in &ptrs {
        builder.arg(ptr);
    }
    for value in &ints {
        builder.arg(value);
    }
    let rows_per_block = 8 / split;
    let config = LaunchConfig {
        grid_dim: (n.div_ceil(rows_per_block) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: shapes checked above; the rows start 16-byte aligned and k / split is a
    // multiple of 8, so every 16-byte load is aligned and in bounds.
    unsafe { builder.launch(config) }.w()?;
    Ok(out)
}

/// Residual connection and the next RMSNorm in one launch: returns `x + delta` and
/// `rms_norm(x + delta) · weight` (rows of `x`, `[rows, dim]`).
pub fn add_rms_norm(x: &Tensor, delta: &Tensor, weight: &Tensor, eps: f32) -> candle_core::Result<(Tensor, Tensor)> {
    let device = cuda_device(x.device())?;
    let stream = device.cuda_stream();
    let (rows, dim) = x.dims2()?;
    if delta.dims() != x.dims() || weight.dims() != [dim] || delta.dtype() != x.dtype() || weight.dtype() != x.dtype() {
        bail!("add_rms_norm: x {:?}, delta {:?}, weight {:?}", x.dims(), delta.dims(), weight.dims());
    }
    let sum = output(device, x.dtype(), &[rows, dim])?;
    let normed = output(device, x.dtype(), &[rows, dim])?;
    let func = device.get_or_load_custom_func(&format!("add_rms_norm_{}", suffix(x.dtype())?), MODULE, PTX)?;
    let ptrs = [
        address(x, &stream)?,
        address(delta, &stream)?,
        address(weight, &stream)?,
        address(&sum, &stream)?,
        address(&normed, &stream)?,
    ];
    let mut builder = func.builder();
    for ptr in &ptrs {
        builder.arg(ptr);
    }
    let dim = dim as i32;
    builder.arg(&dim).arg(&eps);
    let config = LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (NORM_THREADS, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: shapes checked above; one block per row writes every element of both outputs.
    unsafe { builder.launch(config) }.w()?;
    Ok((sum, normed))
}

/// SwiGLU on a fused projection: `gate_up` `[rows, 2·inter]` (gate first) to
/// `silu(gate)·up` `[rows, inter]`.
pub fn silu_mul(gate_up: &Tensor) -> candle_core::Result<Tensor> {
    let device = cuda_device(gate_up.device())?;
    let stream = device.cuda_stream();
    let (rows, width) = gate_up.dims2()?;
    let inter = width / 2;
    let out = output(device, gate_up.dtype(), &[rows, inter])?;
    let func = device.get_or_load_custom_func(&format!("silu_mul_{}", suffix(gate_up.dtype())?), MODULE, PTX)?;
    let ptrs = [address(gate_up, &stream)?, address(&out, &stream)?];
    let ints = [rows as i32, inter as i32];
    let mut builder = func.builder();
    for ptr in &ptrs {
        builder.arg(ptr);
    }
    for value in &ints {
        builder.arg(value);
    }
    let blocks = (rows * inter).div_ceil(256).min(1 << 16) as u32;
    let config = LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: the kernel strides over exactly rows·inter outputs.
    unsafe { builder.launch(config) }.w()?;
    Ok(out)
}
