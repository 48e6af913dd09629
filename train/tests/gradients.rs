//! The trainer's gradients are the loss's: every adapter matrix of every projection gets
//! a gradient, and for the query and key projections (whose only path to the loss runs
//! through the attention softmax) the analytic gradient agrees with a finite difference
//! of the loss. A forward pass with an operation that has no backward pass makes candle
//! silently treat its output as a constant; this is what catches it.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use netgpt_train::base::{Base, PROJECTIONS};
use netgpt_train::model::{Adapter, LoraSpec, TrainableModel};
use rand::SeedableRng;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../inference-server/tests/fixtures").join(name)
}

fn all_targets() -> LoraSpec {
    LoraSpec { rank: 2, alpha: 4.0, dropout: 0.0, targets: PROJECTIONS.iter().map(|p| p.to_string()).collect() }
}

/// B starts at zero in training (so A's gradient is zero too); give both matrices values
/// so that every gradient is informative.
fn randomize(adapter: &Adapter, device: &Device) {
    for (i, pair) in adapter.pairs.values().enumerate() {
        for (j, var) in [&pair.a, &pair.b].into_iter().enumerate() {
            let value = Tensor::randn(0f32, 0.3, var.shape(), device).expect("randn");
            var.set(&value).unwrap_or_else(|e| panic!("pair {i} matrix {j}: {e}"));
        }
    }
}

fn loss(model: &TrainableModel, tokens: &[u32], positions: &[u32], targets: &[u32]) -> f64 {
    f64::from(model.loss(tokens, positions, targets, false).expect("loss").to_scalar::<f32>().expect("scalar"))
}

/// The element of `var` with the largest gradient, and that gradient.
fn largest(grad: &Tensor) -> (usize, f64) {
    let values = grad.flatten_all().expect("flatten").to_vec1::<f32>().expect("values");
    let (index, value) = values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(i, v)| (i, f64::from(*v)))
        .expect("non-empty");
    (index, value)
}

fn nudge(var: &Var, index: usize, delta: f32) {
    let mut values = var.as_tensor().flatten_all().expect("flatten").to_vec1::<f32>().expect("values");
    values[index] += delta;
    let tensor = Tensor::from_vec(values, var.shape(), var.device()).expect("tensor");
    var.set(&tensor).expect("set");
}

fn check(base_path: &Path) {
    let device = Device::Cpu;
    let base = Base::load(base_path, &device).expect("base");
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let adapter = Adapter::new(&base, all_targets(), &mut rng, &device).expect("adapter");
    randomize(&adapter, &device);
    let tokens: Vec<u32> = (0..12u32).map(|i| (i * 37 + 5) % 250).collect();
    let positions: Vec<u32> = (5..11).collect();
    let targets: Vec<u32> = positions.iter().map(|&p| tokens[p as usize + 1]).collect();
    let model = TrainableModel::new(&base, &adapter, tokens.len(), &device).expect("model");

    let grads = model.loss(&tokens, &positions, &targets, false).expect("loss").backward().expect("backward");
    for (&(layer, index), pair) in &adapter.pairs {
        for (name, var) in [("A", &pair.a), ("B", &pair.b)] {
            let grad = grads.get(var.as_tensor());
            let norm = grad.map(|g| g.sqr().and_then(|s| s.sum_all()).and_then(|s| s.to_scalar::<f32>()));
            let norm = norm.transpose().expect("norm").unwrap_or(0.0);
            assert!(norm > 0.0, "{}: layer {layer} {} {name} got no gradient", base_path.display(), PROJECTIONS[index]);
        }
    }

    // Central differences for the query and key matrices of the first and last layer.
    let last = base.config.layers - 1;
    for (layer, index) in [(0, 0), (0, 1), (last, 0), (last, 1)] {
        let pair = &adapter.pairs[&(layer, index)];
        for (name, var) in [("A", &pair.a), ("B", &pair.b)] {
            let (element, analytic) = largest(grads.get(var.as_tensor()).expect("gradient"));
            let eps = 1e-2f32;
            nudge(var, element, eps);
            let up = loss(&model, &tokens, &positions, &targets);
            nudge(var, element, -2.0 * eps);
            let down = loss(&model, &tokens, &positions, &targets);
            nudge(var, element, eps);
            let numeric = (up - down) / (2.0 * f64::from(eps));
            let error = (numeric - analytic).abs() / analytic.abs().max(1e-6);
            assert!(
                error < 0.05,
                "{}: layer {layer} {} {name}[{element}]: analytic {analytic:.6}, finite difference {numeric:.6}",
                base_path.display(),
                PROJECTIONS[index]
            );
        }
    }
}

#[test]
fn query_and_key_adapters_get_the_loss_gradient_safetensors_base() {
    check(&fixture("tiny-llama"));
}

/// The default model: a GGUF base, whose query and key rows are in llama.cpp's order.
#[test]
fn query_and_key_adapters_get_the_loss_gradient_gguf_base() {
    check(&netgpt_train::base_model_path(None).expect("default model"));
}
