//! The trainer's gradients are the loss's: every adapter matrix of every projection gets
//! a gradient, and for the query and key projections (whose only path to the loss runs
//! through the attention softmax) the analytic gradient agrees with a finite difference
//! of the loss. A forward pass with an operation that has no backward pass makes candle
//! silently treat its output as a constant; this is what catches it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use netgpt_train::family::TrainBase;
use netgpt_train::model::{Adapter, CompletionLoss, LoraSpec};
use rand::SeedableRng;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../inference-server/tests/fixtures").join(name)
}

fn all_targets(base: &TrainBase) -> LoraSpec {
    let targets = base.sites().target_names().into_iter().map(String::from).collect();
    LoraSpec { rank: 2, alpha: 4.0, dropout: 0.0, targets }
}

/// B starts at zero in training (so A's gradient is zero too); give both matrices values
/// so that every gradient is informative. Seeded: the same values every run.
fn randomize(adapter: &Adapter, device: &Device) {
    use rand::Rng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    for (i, pair) in adapter.pairs.values().enumerate() {
        for (j, var) in [&pair.a, &pair.b].into_iter().enumerate() {
            let values: Vec<f32> = (0..var.elem_count()).map(|_| rng.random_range(-0.35f32..0.35)).collect();
            let value = Tensor::from_vec(values, var.shape(), device).expect("values");
            var.set(&value).unwrap_or_else(|e| panic!("pair {i} matrix {j}: {e}"));
        }
    }
}

fn loss(model: &dyn CompletionLoss, tokens: &[u32], positions: &[u32], targets: &[u32]) -> f64 {
    f64::from(model.loss(tokens, positions, targets, false).expect("loss").to_scalar::<f32>().expect("scalar"))
}

/// The element of `grad` (flattened) within `within` with the largest gradient, and that
/// gradient.
fn largest(grad: &Tensor, within: Range<usize>) -> (usize, f64) {
    let values = grad.flatten_all().expect("flatten").to_vec1::<f32>().expect("values");
    values
        .iter()
        .enumerate()
        .filter(|(i, _)| within.contains(i))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(i, v)| (i, f64::from(*v)))
        .expect("non-empty")
}

fn nudge(var: &Var, index: usize, delta: f32) {
    let mut values = var.as_tensor().flatten_all().expect("flatten").to_vec1::<f32>().expect("values");
    values[index] += delta;
    let tensor = Tensor::from_vec(values, var.shape(), var.device()).expect("tensor");
    var.set(&tensor).expect("set");
}

/// `query_key`: the projections whose gradient reaches the loss only through the
/// attention softmax, as (site index, rows of B that are query or key outputs).
fn check(base_path: &Path, query_key: impl Fn(&TrainBase) -> Vec<(usize, Range<usize>)>) {
    let device = Device::Cpu;
    let base = TrainBase::load(base_path, &device).expect("base");
    let sites = base.sites();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let adapter = Adapter::new(&sites, all_targets(&base), &mut rng, &device).expect("adapter");
    randomize(&adapter, &device);
    let tokens: Vec<u32> = (0..12u32).map(|i| (i * 37 + 5) % 250).collect();
    let positions: Vec<u32> = (5..11).collect();
    let targets: Vec<u32> = positions.iter().map(|&p| tokens[p as usize + 1]).collect();
    let model = base.model(&adapter, tokens.len(), &device).expect("model");
    let model = model.as_ref();

    let grads = model.loss(&tokens, &positions, &targets, false).expect("loss").backward().expect("backward");
    for (&(layer, index), pair) in &adapter.pairs {
        for (name, var) in [("A", &pair.a), ("B", &pair.b)] {
            let grad = grads.get(var.as_tensor());
            let norm = grad.map(|g| g.sqr().and_then(|s| s.sum_all()).and_then(|s| s.to_scalar::<f32>()));
            let norm = norm.transpose().expect("norm").unwrap_or(0.0);
            let module = sites.projections[index].module;
            assert!(norm > 0.0, "{}: layer {layer} {module} {name} got no gradient", base_path.display());
        }
    }

    // Central differences for the query and key matrices of the first and last layer.
    for layer in [0, sites.layers - 1] {
        for (index, rows) in query_key(&base) {
            let pair = &adapter.pairs[&(layer, index)];
            let rank = pair.a.dims()[0];
            for (name, var) in [("A", &pair.a), ("B", &pair.b)] {
                // Every element of A feeds the query/key outputs; of B, only those rows.
                let within = if name == "A" { 0..var.elem_count() } else { rows.start * rank..rows.end * rank };
                let (element, analytic) = largest(grads.get(var.as_tensor()).expect("gradient"), within);
                // Small enough that the loss is close to linear over the step, large
                // enough that f32 rounding of the loss (~1e-6) stays far below the change.
                let eps = 2e-3f32;
                nudge(var, element, eps);
                let up = loss(model, &tokens, &positions, &targets);
                nudge(var, element, -2.0 * eps);
                let down = loss(model, &tokens, &positions, &targets);
                nudge(var, element, eps);
                let numeric = (up - down) / (2.0 * f64::from(eps));
                // 5 % of the gradient, plus the f32 rounding of the loss over 2·eps
                // (about 1e-6 / 4e-3) for the last layer's much smaller gradients.
                let module = sites.projections[index].module;
                if layer == 0 {
                    assert!(analytic.abs() > 1e-3, "{module} {name}: gradient {analytic} too small to check");
                }
                assert!(
                    (numeric - analytic).abs() <= 0.05 * analytic.abs() + 3e-4,
                    "{}: layer {layer} {module} {name}[{element}]: analytic {analytic:.6}, finite difference {numeric:.6}",
                    base_path.display()
                );
            }
        }
    }
}

/// LLaMA: `q_proj` and `k_proj` (sites 0 and 1), all their rows.
fn llama_query_key(base: &TrainBase) -> Vec<(usize, Range<usize>)> {
    let sites = base.sites();
    (0..2).map(|i| (i, 0..sites.projections[i].outputs)).collect()
}

#[test]
fn query_and_key_adapters_get_the_loss_gradient_safetensors_base() {
    check(&fixture("tiny-llama"), llama_query_key);
}

/// The default model: a GGUF base, whose query and key rows are in llama.cpp's order.
#[test]
fn query_and_key_adapters_get_the_loss_gradient_gguf_base() {
    check(&netgpt_train::base_model_path(None).expect("default model"), llama_query_key);
}

/// GPT-2, the paper's edge model: the fused `c_attn` (site 0), whose first two thirds of
/// rows are the query and the key.
#[test]
fn query_and_key_adapters_get_the_loss_gradient_gpt2_base() {
    check(&fixture("tiny-gpt2"), |base| vec![(0, 0..2 * base.sites().projections[0].inputs)]);
}
