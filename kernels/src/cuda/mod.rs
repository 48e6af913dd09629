//! NetGPT's CUDA kernels (src/cuda/kernels.cu, compiled to PTX by build.rs) and their
//! launches, for the f16/bf16 decode path of the safetensors LLaMA model.
//!
//! The launches take raw device pointers from candle tensors: candle has no op that reads
//! a table of per-sequence caches, and custom ops take at most three inputs. Every input
//! must be contiguous, on the same CUDA device, and in the model's dtype (checked here).
//! Work is queued on candle's stream, so ordering with candle's own ops is preserved.

use std::ffi::c_void;
use std::sync::OnceLock;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaStream, DevicePtr, sys};
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
/// Threads of the fused decode attention: 128 cached positions loaded ahead of the wait.
const DECODE_ATTENTION_THREADS: u32 = 512;
const NORM_THREADS: u32 = 512;
/// Warps along each row in the `matvec` kernels (MV_SPLIT in kernels.cu).
const MATVEC_SPLIT: usize = 4;

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

/// A kernel argument: device addresses, sizes and scalars, as the kernels declare them.
#[derive(Debug, Clone, Copy)]
enum Arg {
    Ptr(u64),
    Int(i32),
    Float(f32),
}

/// Whether launches use programmatic dependent launch (on unless `NETGPT_CUDA_PDL=0`, a
/// switch for measuring and for ruling it out when debugging).
fn pdl_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("NETGPT_CUDA_PDL").map_or(true, |v| v != "0"))
}

/// Queues kernel `name` on candle's stream with the programmatic-stream-serialization
/// attribute: it may start while the kernel before it finishes (Hopper's programmatic
/// dependent launch), which hides the launch latency and lets it load weights early. Every
/// kernel in kernels.cu waits (`pdl_wait`) before it reads what earlier kernels wrote or
/// writes anything, so the order of results is that of the stream; candle's own launches
/// carry no attribute and wait for everything before them as usual.
///
/// # Safety
/// `args` must match the kernel's parameters, and the kernel must stay within the memory
/// they describe for `grid` × `block` threads.
unsafe fn launch(
    device: &CudaDevice,
    name: &str,
    grid: (u32, u32, u32),
    block: u32,
    args: &[Arg],
) -> candle_core::Result<()> {
    let func = device.get_or_load_custom_func(name, MODULE, PTX)?;
    let stream = device.cuda_stream();
    stream.context().bind_to_thread().w()?;
    let mut values = args.to_vec();
    let mut params: Vec<*mut c_void> = values
        .iter_mut()
        .map(|arg| match arg {
            Arg::Ptr(value) => value as *mut u64 as *mut c_void,
            Arg::Int(value) => value as *mut i32 as *mut c_void,
            Arg::Float(value) => value as *mut f32 as *mut c_void,
        })
        .collect();
    // SAFETY: a zeroed attribute is valid (plain C data); id and value are set below.
    let mut attribute: sys::CUlaunchAttribute = unsafe { std::mem::zeroed() };
    attribute.id = sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    attribute.value.programmaticStreamSerializationAllowed = 1;
    let config = sys::CUlaunchConfig {
        gridDimX: grid.0,
        gridDimY: grid.1,
        gridDimZ: grid.2,
        blockDimX: block,
        blockDimY: 1,
        blockDimZ: 1,
        sharedMemBytes: 0,
        hStream: stream.cu_stream(),
        attrs: &mut attribute,
        numAttrs: u32::from(pdl_enabled()),
    };
    // SAFETY: `params` points at `values`, alive until the call returns (the driver copies
    // them); the caller vouches for the arguments.
    unsafe { sys::cuLaunchKernelEx(&config, func.cu_function(), params.as_mut_ptr(), std::ptr::null_mut()) }
        .result()
        .w()
}

/// A fresh (uninitialised) tensor the kernel fills completely.
fn output(device: &CudaDevice, dtype: DType, dims: &[usize]) -> candle_core::Result<Tensor> {
    let len = dims.iter().product();
    // SAFETY: every kernel below writes each element of its output.
    let storage = unsafe {
        match dtype {
            DType::F16 => half::f16::wrap_cuda_slice(device.alloc::<half::f16>(len)?, device.clone()),
            DType::BF16 => half::bf16::wrap_cuda_slice(device.alloc::<half::bf16>(len)?, device.clone()),
            DType::F32 => f32::wrap_cuda_slice(device.alloc::<f32>(len)?, device.clone()),
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
    /// The cache arguments every attention kernel takes for `layer`: the layer's table of
    /// cache addresses, each row's position, each row's cache capacity.
    fn layer_args(&self, layer: usize, stream: &CudaStream) -> candle_core::Result<[Arg; 3]> {
        let table = address(&self.addresses, stream)? + (layer * 2 * self.rows * 8) as u64;
        let positions = address(&self.positions, stream)?;
        Ok([Arg::Ptr(table), Arg::Ptr(positions), Arg::Ptr(positions + (self.rows * 4) as u64)])
    }

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
    check_qkv(qkv, cos, sin, rows, heads)?;
    let q = output(device, qkv.dtype(), &[rows, heads.heads, heads.head_dim])?;
    let [table, positions, capacities] = tables.layer_args(layer, &stream)?;
    let args = [
        Arg::Ptr(address(qkv, &stream)?),
        Arg::Ptr(address(cos, &stream)?),
        Arg::Ptr(address(sin, &stream)?),
        table,
        positions,
        capacities,
        Arg::Ptr(address(&q, &stream)?),
        Arg::Int(rows as i32),
        Arg::Int(heads.heads as i32),
        Arg::Int(heads.kv_heads as i32),
        Arg::Int(heads.head_dim as i32),
    ];
    let grid = (rows as u32, (heads.heads + 2 * heads.kv_heads) as u32, 1);
    // SAFETY: the pointers are live tensors of the checked shapes; the caches hold each
    // row's position (the caller reserved capacity), which the table records.
    unsafe {
        launch(device, &format!("rope_append_{}", suffix(qkv.dtype())?), grid, heads.head_dim as u32 / 2, &args)
    }?;
    Ok(q)
}

fn check_qkv(qkv: &Tensor, cos: &Tensor, sin: &Tensor, rows: usize, heads: Heads) -> candle_core::Result<()> {
    let width = (heads.heads + 2 * heads.kv_heads) * heads.head_dim;
    if qkv.dims() != [rows, width] || cos.dtype() != DType::F32 || sin.dtype() != DType::F32 {
        bail!("rope: qkv {:?} for {rows} rows of width {width}", qkv.dims());
    }
    Ok(())
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
    let [table, positions, capacities] = tables.layer_args(layer, &stream)?;
    let args = [
        Arg::Ptr(address(q, &stream)?),
        table,
        positions,
        capacities,
        Arg::Ptr(address(&out, &stream)?),
        Arg::Int(rows as i32),
        Arg::Int(heads.heads as i32),
        Arg::Int(heads.kv_heads as i32),
        Arg::Float(1f32 / (HEAD_DIM as f32).sqrt()),
    ];
    let name = format!("attention_{}", suffix(q.dtype())?);
    // SAFETY: as for rope_append; rope_append already wrote each row's position.
    unsafe { launch(device, &name, (rows as u32, heads.heads as u32, 1), ATTENTION_THREADS, &args) }?;
    Ok(out)
}

/// [`rope_append`] and [`attention`] in one launch, for decode steps only: every row must
/// be its own sequence's single new token (no row may attend to a position another row of
/// the step writes). Takes the QKV projection `[rows, (heads + 2·kv_heads)·128]`, writes
/// the new keys and values into `layer`'s caches and returns `[rows, heads·128]`.
pub fn attention_decode(
    qkv: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    tables: &StepTables,
    layer: usize,
    heads: Heads,
) -> candle_core::Result<Tensor> {
    attention_decode_kernel(qkv, cos, sin, tables, layer, heads, None)
}

/// [`attention_decode`] for a step with adapters ([`LoraDecode`]): first adds each row's Q,
/// K and V updates (from the low-rank values [`matvec_lora_low`] computed) to its heads,
/// and adds each head's part of the output projection's `x·Aᵀ` to the step's
/// [`LoraGroup::Output`] values. `entries`: the table entries of Q, K, V and O (`None`
/// where no adapter of the step has that projection).
#[allow(clippy::too_many_arguments)]
pub fn attention_decode_lora(
    qkv: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    tables: &StepTables,
    layer: usize,
    heads: Heads,
    lora: &LoraDecode<'_>,
    entries: [Option<usize>; 4],
) -> candle_core::Result<Tensor> {
    let stream = cuda_device(qkv.device())?.cuda_stream();
    if lora.rows.rows != tables.rows || lora.heads != heads.heads {
        bail!(
            "attention_decode_lora: {} adapter rows and {} heads for {} step rows and {} heads",
            lora.rows.rows,
            lora.heads,
            tables.rows,
            heads.heads
        );
    }
    let (parts, counters) = lora.output_parts(&stream)?;
    let mut args = vec![
        Arg::Ptr(lora.by_row(&stream)?),
        Arg::Ptr(lora.group(LoraGroup::Qkv, &stream)?),
        Arg::Ptr(lora.group(LoraGroup::Output, &stream)?),
        Arg::Ptr(parts),
        Arg::Ptr(counters),
    ];
    args.extend(entries.map(entry_arg));
    attention_decode_kernel(qkv, cos, sin, tables, layer, heads, Some(Fused { form: "lora_", args, extra_blocks: 0 }))
}

fn attention_decode_kernel(
    qkv: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    tables: &StepTables,
    layer: usize,
    heads: Heads,
    fused: Option<Fused>,
) -> candle_core::Result<Tensor> {
    let device = cuda_device(qkv.device())?;
    let stream = device.cuda_stream();
    let rows = tables.rows;
    if heads.head_dim != HEAD_DIM {
        bail!("attention kernel: head_dim {} (needs {HEAD_DIM})", heads.head_dim);
    }
    check_qkv(qkv, cos, sin, rows, heads)?;
    let out = output(device, qkv.dtype(), &[rows, heads.heads * HEAD_DIM])?;
    let [table, positions, capacities] = tables.layer_args(layer, &stream)?;
    let args = [
        Arg::Ptr(address(qkv, &stream)?),
        Arg::Ptr(address(cos, &stream)?),
        Arg::Ptr(address(sin, &stream)?),
        table,
        positions,
        capacities,
        Arg::Ptr(address(&out, &stream)?),
        Arg::Int(rows as i32),
        Arg::Int(heads.heads as i32),
        Arg::Int(heads.kv_heads as i32),
        Arg::Float(1f32 / (HEAD_DIM as f32).sqrt()),
    ];
    let (form, args, _) = Fused::append(fused, args.to_vec());
    let name = format!("attention_decode_{form}{}", suffix(qkv.dtype())?);
    let grid = (rows as u32, heads.heads as u32, 1);
    // SAFETY: as for rope_append; the caller guarantees one row per sequence. With LoRA,
    // the LoraDecode tables were checked against the step's rows.
    unsafe { launch(device, &name, grid, DECODE_ATTENTION_THREADS, &args) }?;
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

/// Checks a matrix-vector product's operands; returns `(m, n, k)`.
fn check_gemv(
    x: &Tensor,
    w: &Tensor,
    k_multiple: usize,
    stream: &CudaStream,
) -> candle_core::Result<(usize, usize, usize)> {
    let (m, x_width) = x.dims2()?;
    let (n, k) = w.dims2()?;
    if x_width != k || !k.is_multiple_of(k_multiple) || m == 0 || m > GEMV_MAX_ROWS || x.dtype() != w.dtype() {
        bail!("gemv: x {:?} ({:?}), w {:?} ({:?})", x.dims(), x.dtype(), w.dims(), w.dtype());
    }
    if address(x, stream)? % 16 != 0 || address(w, stream)? % 16 != 0 {
        bail!("gemv: inputs must be 16-byte aligned for the vector loads");
    }
    Ok((m, n, k))
}

/// [`gemv`] with `split` (1, 2 or 4) warps per output row, each over `k / split`.
pub fn gemv_split(x: &Tensor, w: &Tensor, split: usize) -> candle_core::Result<Tensor> {
    gemv_kernel(x, w, split, None)
}

/// The output projection of a step with adapters ([`LoraDecode`]): [`gemv`] whose
/// epilogue adds each row's update from the step's [`LoraGroup::Output`] values (which
/// [`attention_decode_lora`] computed). `entry`: O's table entry.
pub fn gemv_lora_apply(
    x: &Tensor,
    w: &Tensor,
    lora: &LoraDecode<'_>,
    entry: Option<usize>,
) -> candle_core::Result<Tensor> {
    let fused = lora.fused(x, "apply_", LoraGroup::Output, &[entry], 0)?;
    let (n, k) = w.dims2()?;
    gemv_kernel(x, w, gemv_default_split(n, k), Some(fused))
}

/// The down projection of a step with adapters: [`gemv`] with extra blocks that compute
/// each row's `x·Aᵀ` into the step's [`LoraGroup::Down`] values, for
/// [`add_rms_norm_lora_apply`] to add the update. `entry`: the down projection's entry.
pub fn gemv_lora_low(
    x: &Tensor,
    w: &Tensor,
    lora: &LoraDecode<'_>,
    entry: Option<usize>,
) -> candle_core::Result<Tensor> {
    let fused = lora.fused_low(x, LoraGroup::Down, &[entry], lora.low_groups())?;
    let (n, k) = w.dims2()?;
    gemv_kernel(x, w, gemv_default_split(n, k), Some(fused))
}

fn gemv_kernel(x: &Tensor, w: &Tensor, split: usize, fused: Option<Fused>) -> candle_core::Result<Tensor> {
    let device = cuda_device(x.device())?;
    let stream = device.cuda_stream();
    // The LoRA forms exist for the splits gemv_default_split picks.
    if ![1, 2, 4].contains(&split) || (fused.is_some() && split == 4) {
        bail!("gemv: split {split} (1, 2 or 4; 1 or 2 with LoRA)");
    }
    let (m, n, k) = check_gemv(x, w, 8 * split, &stream)?;
    let out = output(device, x.dtype(), &[m, n])?;
    let args = [
        Arg::Ptr(address(x, &stream)?),
        Arg::Ptr(address(w, &stream)?),
        Arg::Ptr(address(&out, &stream)?),
        Arg::Int(k as i32),
        Arg::Int(n as i32),
    ];
    let (form, args, extra) = Fused::append(fused, args.to_vec());
    let name = format!("gemv_{form}{}_{m}_s{split}", suffix(x.dtype())?);
    let grid = (n.div_ceil(8 / split) as u32 + extra, 1, 1);
    // SAFETY: shapes checked above; the rows start 16-byte aligned and k / split is a
    // multiple of 8, so every 16-byte load is aligned and in bounds.
    unsafe { launch(device, &name, grid, 256, &args) }?;
    Ok(out)
}

/// `x · wᵀ` like [`gemv`], with four warps along each row: measured faster for the wide
/// projections (QKV, gate/up, the LM head) with programmatic dependent launch, while
/// [`gemv`]'s fewer registers win on the 4096-row output and down projections. `k` must
/// be a multiple of 32.
pub fn matvec(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    matvec_kernel(x, w, false, None)
}

/// The gate/up projection and SwiGLU in one launch: `w` is `[gate; up]` (`[2·inter, k]`),
/// the result `silu(x · gateᵀ) · (x · upᵀ)` `[m, inter]` (each rounded to the model dtype
/// first, as the separate projection stored them).
pub fn matvec_swiglu(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    matvec_kernel(x, w, true, None)
}

/// The QKV projection of a step with adapters ([`LoraDecode`]): [`matvec`] with extra
/// blocks that compute each row's `x·Aᵀ` for Q, K and V (`entries`) into the step's
/// [`LoraGroup::Qkv`] values, which [`attention_decode_lora`] turns into the updates.
pub fn matvec_lora_low(
    x: &Tensor,
    w: &Tensor,
    lora: &LoraDecode<'_>,
    entries: [Option<usize>; 3],
) -> candle_core::Result<Tensor> {
    let fused = lora.fused_low(x, LoraGroup::Qkv, &entries, lora.low_groups())?;
    matvec_kernel(x, w, false, Some(fused))
}

/// [`matvec_swiglu`] for a step with adapters: adds each row's gate and up updates
/// (`entries`, from the step's [`LoraGroup::GateUp`] values, which
/// [`add_rms_norm_lora_low`] computed) before SwiGLU.
pub fn matvec_swiglu_lora(
    x: &Tensor,
    w: &Tensor,
    lora: &LoraDecode<'_>,
    entries: [Option<usize>; 2],
) -> candle_core::Result<Tensor> {
    let fused = lora.fused(x, "apply_", LoraGroup::GateUp, &entries, 0)?;
    matvec_kernel(x, w, true, Some(fused))
}

fn matvec_kernel(x: &Tensor, w: &Tensor, swiglu: bool, fused: Option<Fused>) -> candle_core::Result<Tensor> {
    let device = cuda_device(x.device())?;
    let stream = device.cuda_stream();
    let (m, n, k) = check_gemv(x, w, 8 * MATVEC_SPLIT, &stream)?;
    if swiglu && !n.is_multiple_of(2) {
        bail!("matvec_swiglu: {n} gate/up rows");
    }
    let outputs = if swiglu { n / 2 } else { n };
    let out = output(device, x.dtype(), &[m, outputs])?;
    let args = [
        Arg::Ptr(address(x, &stream)?),
        Arg::Ptr(address(w, &stream)?),
        Arg::Ptr(address(&out, &stream)?),
        Arg::Int(k as i32),
        Arg::Int(outputs as i32),
    ];
    let (form, args, extra) = Fused::append(fused, args.to_vec());
    let name = format!("matvec_{}{form}{}_{m}", if swiglu { "glu_" } else { "" }, suffix(x.dtype())?);
    // Eight warps a block, MATVEC_SPLIT to a row (a gate/up pair for SwiGLU).
    let grid = (outputs.div_ceil(8 / MATVEC_SPLIT) as u32 + extra, 1, 1);
    // SAFETY: shapes checked above; k / MATVEC_SPLIT is a multiple of 8 and the rows start
    // 16-byte aligned, so every 16-byte load is aligned and in bounds.
    unsafe { launch(device, &name, grid, 256, &args) }?;
    Ok(out)
}

/// Residual connection and the next RMSNorm in one launch: returns `x + delta` and
/// `rms_norm(x + delta) · weight` (rows of `x`, `[rows, dim]`).
pub fn add_rms_norm(x: &Tensor, delta: &Tensor, weight: &Tensor, eps: f32) -> candle_core::Result<(Tensor, Tensor)> {
    add_rms_norm_kernel(x, delta, weight, eps, None)
}

/// [`add_rms_norm`] for a step with adapters ([`LoraDecode`]) before the gate/up
/// projection: extra blocks (per row, for gate and for up, one per 8 ranks) compute the
/// normed row's `x·Aᵀ` for gate and up (`entries`) into the step's [`LoraGroup::GateUp`]
/// values, for [`matvec_swiglu_lora`].
/// Rows must be at most 8192 wide, a multiple of 8.
pub fn add_rms_norm_lora_low(
    x: &Tensor,
    delta: &Tensor,
    weight: &Tensor,
    eps: f32,
    lora: &LoraDecode<'_>,
    entries: [Option<usize>; 2],
) -> candle_core::Result<(Tensor, Tensor)> {
    let dim = x.dim(1)?;
    if !dim.is_multiple_of(8) || dim > 8 * 2 * NORM_THREADS as usize {
        bail!("add_rms_norm_lora_low: rows of {dim} (a multiple of 8, at most 8192)");
    }
    // Eight ranks a block: the extra blocks hold their part of A in registers across the wait.
    let fused = lora.fused_low(x, LoraGroup::GateUp, &entries, lora.rows.max_rank.div_ceil(8))?;
    add_rms_norm_kernel(x, delta, weight, eps, Some(fused))
}

/// [`add_rms_norm`] after the down projection of a step with adapters: `delta` (the down
/// projection's output) first gets each row's update, from the step's
/// [`LoraGroup::Down`] values ([`gemv_lora_low`]). `entry`: the down projection's entry.
pub fn add_rms_norm_lora_apply(
    x: &Tensor,
    delta: &Tensor,
    weight: &Tensor,
    eps: f32,
    lora: &LoraDecode<'_>,
    entry: Option<usize>,
) -> candle_core::Result<(Tensor, Tensor)> {
    let fused = lora.fused(x, "apply_", LoraGroup::Down, &[entry], 0)?;
    add_rms_norm_kernel(x, delta, weight, eps, Some(fused))
}

fn add_rms_norm_kernel(
    x: &Tensor,
    delta: &Tensor,
    weight: &Tensor,
    eps: f32,
    fused: Option<Fused>,
) -> candle_core::Result<(Tensor, Tensor)> {
    let device = cuda_device(x.device())?;
    let stream = device.cuda_stream();
    let (rows, dim) = x.dims2()?;
    if delta.dims() != x.dims() || weight.dims() != [dim] || delta.dtype() != x.dtype() || weight.dtype() != x.dtype() {
        bail!("add_rms_norm: x {:?}, delta {:?}, weight {:?}", x.dims(), delta.dims(), weight.dims());
    }
    let sum = output(device, x.dtype(), &[rows, dim])?;
    let normed = output(device, x.dtype(), &[rows, dim])?;
    let args = [
        Arg::Ptr(address(x, &stream)?),
        Arg::Ptr(address(delta, &stream)?),
        Arg::Ptr(address(weight, &stream)?),
        Arg::Ptr(address(&sum, &stream)?),
        Arg::Ptr(address(&normed, &stream)?),
        Arg::Int(dim as i32),
        Arg::Float(eps),
    ];
    // The LoRA forms take the step's row count before their own arguments.
    let mut args = args.to_vec();
    if fused.is_some() {
        args.push(Arg::Int(rows as i32));
    }
    let (form, args, extra) = Fused::append(fused, args);
    let name = format!("add_rms_norm_{form}{}", suffix(x.dtype())?);
    // SAFETY: shapes checked above; one block per row writes every element of both outputs
    // (extra LoRA blocks write only the step's low-rank values).
    unsafe { launch(device, &name, (rows as u32 + extra, 1, 1), NORM_THREADS, &args) }?;
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
    let args = [
        Arg::Ptr(address(gate_up, &stream)?),
        Arg::Ptr(address(&out, &stream)?),
        Arg::Int(rows as i32),
        Arg::Int(inter as i32),
    ];
    let blocks = (rows * inter).div_ceil(256).min(1 << 16) as u32;
    let name = format!("silu_mul_{}", suffix(gate_up.dtype())?);
    // SAFETY: the kernel strides over exactly rows·inter outputs.
    unsafe { launch(device, &name, (blocks, 1, 1), 256, &args) }?;
    Ok(out)
}

/// The largest adapter rank [`lora_bgmv`] applies (its per-row low-rank vector lives in
/// shared memory); adapters of higher rank are refused when they are loaded.
pub const LORA_MAX_RANK: usize = 64;
/// Threads and output columns of a [`lora_bgmv`] block (LORA_THREADS, LORA_COLS in
/// kernels.cu).
const LORA_THREADS: u32 = 256;
const LORA_COLS: usize = 2048;

/// An adapter's table on the device, for [`lora_bgmv`]: for each entry (a projection of a
/// layer, numbered by the caller) the addresses of `A` (`[rank, in]`) and of `s·B`
/// (`[out, rank]`), 0 where the adapter has none; returned with its host copy. The
/// matrices must outlive the table (the caller keeps both together).
pub fn lora_table(
    device: &Device,
    entries: usize,
    matrices: &[(usize, &Tensor, &Tensor)],
) -> candle_core::Result<(Tensor, Vec<i64>)> {
    let stream = cuda_device(device)?.cuda_stream();
    let mut table = vec![0i64; 2 * entries];
    for &(entry, a, b) in matrices {
        let (rank, inputs) = a.dims2()?;
        let (_, b_rank) = b.dims2()?;
        if entry >= entries || rank != b_rank || rank == 0 || rank > LORA_MAX_RANK || !inputs.is_multiple_of(8) {
            bail!("lora table: entry {entry} of {entries}, A {:?}, B {:?}", a.dims(), b.dims());
        }
        let (a_at, b_at) = (address(a, &stream)?, address(b, &stream)?);
        if a.dtype() != b.dtype() || a_at % 16 != 0 || b_at % 16 != 0 {
            bail!("lora table: A and B must share the model dtype and be 16-byte aligned");
        }
        table[2 * entry] = a_at as i64;
        table[2 * entry + 1] = b_at as i64;
    }
    Ok((Tensor::from_vec(table.clone(), 2 * entries, device)?, table))
}

/// Which adapter each row of a step uses, for [`lora_bgmv`] and [`LoraDecode`]; built once
/// per step.
pub struct LoraRows {
    /// `[slots]` table addresses, `[slots]` ranks, `[slots + 1]` group starts, then the
    /// rows with an adapter, grouped by slot.
    info: Tensor,
    /// For steps of up to [`GEMV_MAX_ROWS`] rows ([`LoraDecode`]): `[rows]` each row's rank
    /// (0: no adapter), then `[entries, rows, 2]` the addresses of each row's A and s·B.
    by_row: Option<Tensor>,
    rows: usize,
    slots: usize,
    /// The most rows one adapter has in the step (the grid's third dimension).
    most: usize,
    /// The highest rank of the step's adapters.
    max_rank: usize,
}

impl LoraRows {
    /// `row_slots[row]` names the slot of the row's adapter (`None`: the row has none);
    /// `adapters[slot]` is that adapter's [`lora_table`], the table's host copy and the
    /// adapter's rank.
    pub fn new(
        device: &Device,
        row_slots: &[Option<usize>],
        adapters: &[(&Tensor, &[i64], usize)],
    ) -> candle_core::Result<Self> {
        let stream = cuda_device(device)?.cuda_stream();
        let slots = adapters.len();
        let mut groups: Vec<Vec<i64>> = vec![Vec::new(); slots];
        for (row, slot) in row_slots.iter().enumerate() {
            if let Some(slot) = slot {
                let Some(group) = groups.get_mut(*slot) else { bail!("lora rows: slot {slot} of {slots}") };
                group.push(row as i64);
            }
        }
        let mut info = Vec::with_capacity(3 * slots + 1 + row_slots.len());
        for (table, _, _) in adapters {
            info.push(address(table, &stream)? as i64);
        }
        for &(_, _, rank) in adapters {
            if rank == 0 || rank > LORA_MAX_RANK {
                bail!("lora rows: rank {rank} (1 to {LORA_MAX_RANK})");
            }
            info.push(rank as i64);
        }
        let by_row = if row_slots.is_empty() || row_slots.len() > GEMV_MAX_ROWS {
            None
        } else {
            let rows = row_slots.len();
            let entries = adapters.iter().map(|(_, host, _)| host.len() / 2).max().unwrap_or(0);
            let mut by_row = vec![0i64; rows + entries * rows * 2];
            for (row, slot) in row_slots.iter().enumerate() {
                let Some(&(_, host, rank)) = slot.and_then(|slot| adapters.get(slot)) else { continue };
                by_row[row] = rank as i64;
                for (entry, pair) in host.chunks_exact(2).enumerate() {
                    let at = rows + (entry * rows + row) * 2;
                    by_row[at..at + 2].copy_from_slice(pair);
                }
            }
            let len = by_row.len();
            Some(Tensor::from_vec(by_row, len, device)?)
        };
        let most = groups.iter().map(Vec::len).max().unwrap_or(0);
        let mut start = 0i64;
        for group in &groups {
            info.push(start);
            start += group.len() as i64;
        }
        info.push(start);
        info.extend(groups.into_iter().flatten());
        let len = info.len();
        let max_rank = adapters.iter().map(|&(_, _, rank)| rank).max().unwrap_or(0);
        Ok(Self { info: Tensor::from_vec(info, len, device)?, by_row, rows: row_slots.len(), slots, most, max_rank })
    }
}

/// One part of a projection's output columns for [`lora_bgmv`]: its table entry (`None`:
/// leave these columns alone) and its width.
#[derive(Debug, Clone, Copy)]
pub struct LoraSegment {
    pub entry: Option<usize>,
    pub columns: usize,
}

/// Adds each row's LoRA update to `y` (`[rows, Σ columns]`) **in place**: for each segment
/// (consecutive columns, at most three: the parts of a fused projection), row `r` gets
/// `(x[r] · Aᵀ) · (s·B)ᵀ` of its adapter's matrices for that segment's entry. `x` is the
/// projection's input `[rows, in]` (`in` a multiple of 8). `y` must be a tensor no one else
/// reads yet (the projection's fresh output). Up to [`GEMV_MAX_ROWS`] rows take one launch
/// (each block computes its row's `x·Aᵀ`); more take two (`x·Aᵀ` once per row and
/// segment, then the update), so A is not re-read for every column block of every row.
pub fn lora_bgmv(x: &Tensor, y: &Tensor, rows: &LoraRows, segments: &[LoraSegment]) -> candle_core::Result<()> {
    let device = cuda_device(x.device())?;
    let stream = device.cuda_stream();
    let (m, inputs) = x.dims2()?;
    let (y_rows, stride) = y.dims2()?;
    let width: usize = segments.iter().map(|s| s.columns).sum();
    if m != rows.rows || y_rows != m || width != stride || segments.is_empty() || segments.len() > 3 {
        bail!("lora_bgmv: x {:?}, y {:?}, {} step rows, segments {segments:?}", x.dims(), y.dims(), rows.rows);
    }
    if !inputs.is_multiple_of(8) || x.dtype() != y.dtype() || address(x, &stream)? % 16 != 0 {
        bail!("lora_bgmv: x {:?} ({:?}) must be 16-byte aligned rows of a multiple of 8", x.dims(), x.dtype());
    }
    if m == 0 || rows.most == 0 || segments.iter().all(|s| s.entry.is_none()) {
        return Ok(());
    }
    let part = |i: usize| segments.get(i).copied().unwrap_or(LoraSegment { entry: None, columns: 0 });
    let entry = |i: usize| Arg::Int(part(i).entry.map_or(-1, |e| e as i32));
    let blocks = |i: usize| part(i).columns.div_ceil(LORA_COLS);
    let columns = [
        Arg::Int(part(0).columns as i32),
        Arg::Int(part(1).columns as i32),
        Arg::Int(part(2).columns as i32),
        Arg::Int(blocks(0) as i32),
        Arg::Int(blocks(1) as i32),
    ];
    let grid = ((blocks(0) + blocks(1) + blocks(2)) as u32, rows.slots as u32, rows.most as u32);
    let info = Arg::Ptr(address(&rows.info, &stream)?);
    let slots = Arg::Int(rows.slots as i32);
    let suffix = suffix(x.dtype())?;
    if m <= GEMV_MAX_ROWS {
        let mut args = vec![
            Arg::Ptr(address(x, &stream)?),
            Arg::Ptr(address(y, &stream)?),
            info,
            slots,
            Arg::Int(inputs as i32),
            Arg::Int(stride as i32),
            entry(0),
            entry(1),
            entry(2),
        ];
        args.extend(columns);
        // SAFETY: shapes checked above; the tables were built by lora_table (every address
        // a live matrix of the rank recorded beside it, `in` columns for A, rank columns
        // for B) and LoraRows (every listed row below `rows`), and the segments cover y's
        // columns exactly. Blocks write disjoint (row, column) ranges.
        return unsafe { launch(device, &format!("lora_bgmv_{suffix}"), grid, LORA_THREADS, &args) };
    }
    // x·Aᵀ per row and segment: [rows, 3, LORA_MAX_RANK] f32, written for exactly the
    // (row, segment) pairs the update reads.
    let low = output(device, DType::F32, &[m, 3, LORA_MAX_RANK])?;
    let shrink = [
        Arg::Ptr(address(x, &stream)?),
        Arg::Ptr(address(&low, &stream)?),
        info,
        slots,
        Arg::Int(inputs as i32),
        entry(0),
        entry(1),
        entry(2),
    ];
    let shrink_grid = (segments.len() as u32, rows.slots as u32, rows.most as u32);
    // SAFETY: as above; each block writes the rank values of its own (row, segment).
    unsafe { launch(device, &format!("lora_shrink_{suffix}"), shrink_grid, LORA_THREADS, &shrink) }?;
    let mut expand =
        vec![Arg::Ptr(address(&low, &stream)?), Arg::Ptr(address(y, &stream)?), info, slots, Arg::Int(stride as i32)];
    expand.extend([entry(0), entry(1), entry(2)]);
    expand.extend(columns);
    // SAFETY: as above; it reads the low-rank values lora_shrink wrote for the same blocks'
    // (row, segment) pairs (same tables, same skipping rules).
    unsafe { launch(device, &format!("lora_expand_{suffix}"), grid, LORA_THREADS, &expand) }
}

/// The projection groups of a layer; each has its own part of [`LoraDecode`]'s buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoraGroup {
    Qkv = 0,
    Output = 1,
    GateUp = 2,
    Down = 3,
}

const LORA_GROUPS: usize = 4;
/// Floats of one segment's low-rank values: 8 rows × [`LORA_MAX_RANK`] (LORA_ROWS in
/// kernels.cu is [`GEMV_MAX_ROWS`]); a group has up to 3 segments.
const LORA_SEGMENT_FLOATS: usize = GEMV_MAX_ROWS * LORA_MAX_RANK;
const LORA_GROUP_FLOATS: usize = 3 * LORA_SEGMENT_FLOATS;

/// LoRA fused into a decode step's kernels (steps of at most [`GEMV_MAX_ROWS`] rows): no
/// launch of its own. Each group's `x·Aᵀ` is computed by the kernel that has `x` (or extra
/// blocks of its launch) and the update added by the kernel that next touches the
/// projection's output; see the notes in kernels.cu. Holds the step's low-rank values, one
/// layer's worth reused by every layer (each kernel writes only after the one before it
/// has finished), each head's part of the output projection's, and per row a count of
/// heads done (zero between layers).
pub struct LoraDecode<'a> {
    rows: &'a LoraRows,
    low: Tensor,
    heads: usize,
}

impl<'a> LoraDecode<'a> {
    /// `None` for steps of more than [`GEMV_MAX_ROWS`] rows (they take [`lora_bgmv`]);
    /// `heads`: the model's query heads.
    pub fn new(rows: &'a LoraRows, heads: usize) -> candle_core::Result<Option<Self>> {
        if rows.rows == 0 || rows.rows > GEMV_MAX_ROWS || rows.by_row.is_none() {
            return Ok(None);
        }
        let floats = LORA_GROUPS * LORA_GROUP_FLOATS + heads * LORA_SEGMENT_FLOATS + GEMV_MAX_ROWS;
        let low = Tensor::zeros(floats, DType::F32, rows.info.device())?;
        Ok(Some(Self { rows, low, heads }))
    }

    /// Extra blocks per (segment, row) of a projection launch that computes `x·Aᵀ`:
    /// LORA_LOW_RANKS (4) ranks each.
    fn low_groups(&self) -> usize {
        self.rows.max_rank.div_ceil(4)
    }

    fn by_row(&self, stream: &CudaStream) -> candle_core::Result<u64> {
        match &self.rows.by_row {
            Some(by_row) => address(by_row, stream),
            None => bail!("lora: no per-row table for a step of {} rows", self.rows.rows),
        }
    }

    /// The device address of `group`'s values.
    fn group(&self, group: LoraGroup, stream: &CudaStream) -> candle_core::Result<u64> {
        self.at(group as usize * LORA_GROUP_FLOATS, stream)
    }

    /// Where each head's part of the output projection's values starts, and the per-row
    /// counters (u32, after them).
    fn output_parts(&self, stream: &CudaStream) -> candle_core::Result<(u64, u64)> {
        let parts = LORA_GROUPS * LORA_GROUP_FLOATS;
        Ok((self.at(parts, stream)?, self.at(parts + self.heads * LORA_SEGMENT_FLOATS, stream)?))
    }

    fn at(&self, floats: usize, stream: &CudaStream) -> candle_core::Result<u64> {
        Ok(address(&self.low, stream)? + (floats * std::mem::size_of::<f32>()) as u64)
    }

    /// The arguments a fused launch for `group` appends (`x` is the launch's input, whose
    /// rows must be the step's).
    fn fused(
        &self,
        x: &Tensor,
        form: &'static str,
        group: LoraGroup,
        entries: &[Option<usize>],
        extra_blocks: u32,
    ) -> candle_core::Result<Fused> {
        let stream = cuda_device(x.device())?.cuda_stream();
        if x.dim(0)? != self.rows.rows {
            bail!("lora: {} input rows for a step of {}", x.dim(0)?, self.rows.rows);
        }
        let mut args = vec![Arg::Ptr(self.by_row(&stream)?), Arg::Ptr(self.group(group, &stream)?)];
        args.extend(entries.iter().copied().map(entry_arg));
        Ok(Fused { form, args, extra_blocks })
    }

    /// The arguments of a launch whose extra blocks compute `group`'s `x·Aᵀ`: `groups`
    /// blocks (of the kernel's ranks each) per row and entry, their count appended last.
    fn fused_low(
        &self,
        x: &Tensor,
        group: LoraGroup,
        entries: &[Option<usize>],
        groups: usize,
    ) -> candle_core::Result<Fused> {
        let extra_blocks = (entries.len() * self.rows.rows * groups) as u32;
        let mut fused = self.fused(x, "low_", group, entries, extra_blocks)?;
        fused.args.push(Arg::Int(groups as i32));
        Ok(fused)
    }
}

/// A table entry as the kernels take it (-1: none).
fn entry_arg(entry: Option<usize>) -> Arg {
    Arg::Int(entry.and_then(|e| i32::try_from(e).ok()).unwrap_or(-1))
}

/// The LoRA form of a launch: the kernel name's infix, the arguments it appends, and the
/// extra blocks it launches before the projection's.
struct Fused {
    form: &'static str,
    args: Vec<Arg>,
    extra_blocks: u32,
}

impl Fused {
    /// The kernel name infix ("" without LoRA), the full argument list and the extra blocks.
    fn append(fused: Option<Fused>, mut args: Vec<Arg>) -> (&'static str, Vec<Arg>, u32) {
        match fused {
            None => ("", args, 0),
            Some(fused) => {
                args.extend(fused.args);
                (fused.form, args, fused.extra_blocks)
            }
        }
    }
}
