//! The optimisation loop: AdamW over the adapter's matrices, a warm-up + decay schedule,
//! gradient accumulation and clipping, a held-out loss before and after every epoch.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::TrainError;
use crate::data::Example;
use crate::model::{Adapter, CompletionLoss};

/// How the learning rate moves after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    Linear,
    Cosine,
}

/// Optimisation settings.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f64,
    pub schedule: Schedule,
    pub warmup_steps: usize,
    pub gradient_accumulation: usize,
    pub max_grad_norm: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl TrainOptions {
    /// Learning rate at optimizer step `step` (0-based) of `total`.
    pub fn learning_rate_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = total.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Linear => self.learning_rate * (1.0 - progress),
            Schedule::Cosine => self.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

/// One optimizer step, as logged.
#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub learning_rate: f64,
    pub grad_norm: f64,
    pub tokens: usize,
    pub elapsed_seconds: f64,
}

/// Held-out loss at the end of an epoch (epoch 0: before training).
#[derive(Debug, Clone, Serialize)]
pub struct EvalLog {
    pub epoch: usize,
    pub heldout_loss: Option<f64>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub train_examples: usize,
    pub heldout_examples: usize,
    pub trainable_parameters: usize,
    pub optimizer_steps: usize,
    pub first_loss: f64,
    pub last_loss: f64,
    pub evaluations: Vec<EvalLog>,
    /// Wall time of the run, held-out evaluations included.
    pub seconds: f64,
    /// Wall time of the optimisation alone (forward, backward, optimizer steps).
    pub train_seconds: f64,
    /// Tokens through forward and backward per second of `train_seconds` (prompt and
    /// completion tokens).
    pub tokens_per_second: f64,
    pub steps: Vec<StepLog>,
}

/// Mean completion loss over `examples` without dropout or gradients.
pub fn mean_loss(model: &dyn CompletionLoss, examples: &[Example]) -> Result<Option<f64>, TrainError> {
    if examples.is_empty() {
        return Ok(None);
    }
    let mut weighted = 0.0;
    let mut count = 0usize;
    for e in examples {
        let loss = model.loss(&e.tokens, &e.positions, &e.targets, false)?.detach().to_scalar::<f32>()?;
        weighted += f64::from(loss) * e.targets.len() as f64;
        count += e.targets.len();
    }
    Ok(Some(weighted / count.max(1) as f64))
}

/// Trains `adapter` on `train`; `on_step` sees every optimizer step (progress, logs).
pub fn train(
    model: &dyn CompletionLoss,
    adapter: &Adapter,
    train: &[Example],
    heldout: &[Example],
    options: &TrainOptions,
    mut on_step: impl FnMut(&StepLog),
) -> Result<TrainReport, TrainError> {
    if train.is_empty() {
        return Err(TrainError::Data("no training examples (all filtered, or the dataset is empty)".into()));
    }
    if options.epochs == 0 || options.gradient_accumulation == 0 {
        return Err(TrainError::Config("epochs and gradient accumulation must be at least 1".into()));
    }
    let vars = adapter.vars();
    if let Some(var) = vars.first() {
        adapter.seed_dropout(options.seed, var.device())?;
    }
    let mut optimizer = AdamW::new(
        vars.clone(),
        ParamsAdamW { lr: options.learning_rate, weight_decay: options.weight_decay, ..Default::default() },
    )?;
    let steps_per_epoch = train.len().div_ceil(options.gradient_accumulation);
    let total_steps = steps_per_epoch * options.epochs;
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let started = Instant::now();
    let mut tokens_seen = 0usize;
    let mut steps = Vec::with_capacity(total_steps);
    let mut evaluations = vec![EvalLog { epoch: 0, heldout_loss: mean_loss(model, heldout)? }];
    let mut evaluating = started.elapsed();
    let mut step = 0;
    for epoch in 1..=options.epochs {
        order.shuffle(&mut rng);
        for micro in order.chunks(options.gradient_accumulation) {
            let lr = options.learning_rate_at(step, total_steps);
            optimizer.set_learning_rate(lr);
            let mut sums: Vec<Option<Tensor>> = vec![None; vars.len()];
            let mut store = None;
            let mut loss_sum = 0.0;
            let mut tokens = 0;
            for &i in micro {
                let e = &train[i];
                let loss = model.loss(&e.tokens, &e.positions, &e.targets, true)?;
                loss_sum += f64::from(loss.to_scalar::<f32>()?);
                tokens += e.tokens.len();
                let grads = (loss / micro.len() as f64)?.backward()?;
                for (sum, var) in sums.iter_mut().zip(&vars) {
                    if let Some(g) = grads.get(var.as_tensor()) {
                        *sum = Some(match sum.take() {
                            Some(s) => (s + g)?,
                            None => g.clone(),
                        });
                    }
                }
                store = Some(grads);
            }
            let Some(mut store) = store else { continue };
            let grad_norm = global_norm(&sums)?;
            let clip = if options.max_grad_norm > 0.0 && grad_norm > options.max_grad_norm {
                options.max_grad_norm / (grad_norm + 1e-6)
            } else {
                1.0
            };
            for (sum, var) in sums.into_iter().zip(&vars) {
                if let Some(g) = sum {
                    store.insert(var.as_tensor(), (g * clip)?);
                }
            }
            optimizer.step(&store)?;
            tokens_seen += tokens;
            step += 1;
            let log = StepLog {
                step,
                epoch,
                loss: loss_sum / micro.len() as f64,
                learning_rate: lr,
                grad_norm,
                tokens,
                elapsed_seconds: started.elapsed().as_secs_f64(),
            };
            on_step(&log);
            steps.push(log);
        }
        let t = Instant::now();
        evaluations.push(EvalLog { epoch, heldout_loss: mean_loss(model, heldout)? });
        evaluating += t.elapsed();
    }
    let seconds = started.elapsed().as_secs_f64();
    let train_seconds = seconds - evaluating.as_secs_f64();
    let window = steps.len().clamp(1, 5);
    let mean = |logs: &[StepLog]| logs.iter().map(|l| l.loss).sum::<f64>() / logs.len().max(1) as f64;
    Ok(TrainReport {
        train_examples: train.len(),
        heldout_examples: heldout.len(),
        trainable_parameters: adapter.parameter_count(),
        optimizer_steps: step,
        first_loss: mean(&steps[..window.min(steps.len())]),
        last_loss: mean(&steps[steps.len().saturating_sub(window)..]),
        evaluations,
        seconds,
        train_seconds,
        tokens_per_second: tokens_seen as f64 / train_seconds.max(1e-9),
        steps,
    })
}

fn global_norm(grads: &[Option<Tensor>]) -> candle_core::Result<f64> {
    let mut total = 0.0;
    for g in grads.iter().flatten() {
        total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
    }
    Ok(total.sqrt())
}

/// The device a `--device` string names (`cpu`, `cuda`, `cuda:N`).
pub fn device(spec: &str) -> Result<Device, TrainError> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::new_cuda(0)?),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => Ok(Device::new_cuda(n)?),
            None => Err(TrainError::Config(format!("--device {other:?}: expected cpu, cuda or cuda:N"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(schedule: Schedule) -> TrainOptions {
        TrainOptions {
            epochs: 1,
            learning_rate: 1.0,
            schedule,
            warmup_steps: 2,
            gradient_accumulation: 1,
            max_grad_norm: 1.0,
            weight_decay: 0.0,
            seed: 0,
        }
    }

    #[test]
    fn schedules_warm_up_then_decay() {
        let cosine = options(Schedule::Cosine);
        assert_eq!(cosine.learning_rate_at(0, 12), 0.5);
        assert_eq!(cosine.learning_rate_at(1, 12), 1.0);
        assert_eq!(cosine.learning_rate_at(2, 12), 1.0);
        assert!((cosine.learning_rate_at(7, 12) - 0.5).abs() < 1e-12);
        assert!(cosine.learning_rate_at(12, 12).abs() < 1e-12);
        let linear = options(Schedule::Linear);
        assert!((linear.learning_rate_at(7, 12) - 0.5).abs() < 1e-12);
        assert_eq!(options(Schedule::Constant).learning_rate_at(11, 12), 1.0);
    }
}
