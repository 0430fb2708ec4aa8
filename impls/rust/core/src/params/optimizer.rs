//! The job's top-level `optimizer` section (docs/protocol.md, "The optimiser"): its typed
//! form, defaults and range checks, beside the tasks' params; [`OptimizerSpec::build`] turns it
//! into the network's [`Optimizer`].

use crate::network::optim::{LayerSettings, Optimizer, Rule};
use crate::network::params::Params;

/// Per-layer overrides in the job's `optimizer.layers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerOverride {
    pub lr: Option<f64>,
    pub momentum: Option<f64>,
    pub l2: Option<f64>,
}

/// The job's `optimizer.layers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayersSpec {
    pub conv1: Option<LayerOverride>,
    pub conv2: Option<LayerOverride>,
    pub conv3: Option<LayerOverride>,
    pub conv4: Option<LayerOverride>,
    pub fc1: Option<LayerOverride>,
    pub out: Option<LayerOverride>,
}

/// The optimiser's name in the job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleName {
    #[default]
    Sgd,
    Adam,
}

/// The job's top-level `optimizer` section (docs/protocol.md, "The optimiser").
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerSpec {
    pub name: RuleName,
    pub lr: f64,
    pub momentum: f64,
    pub momentum_start: f64,
    pub momentum_epochs: u64,
    pub l2: f64,
    pub lr_decay: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub layers: Option<LayersSpec>,
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec {
            name: RuleName::Sgd,
            lr: 0.01,
            momentum: 0.9,
            momentum_start: 0.5,
            momentum_epochs: 10,
            l2: 2e-4,
            lr_decay: 0.01,
            betas: [0.9, 0.999],
            eps: 1e-8,
            layers: None,
        }
    }
}

fn in_range(field: &str, value: f64, low: f64, high: f64, open_low: bool) -> crate::Result<()> {
    let ok = if open_low { value > low } else { value >= low } && value <= high;
    if ok {
        Ok(())
    } else {
        let bracket = if open_low { "(" } else { "[" };
        Err(crate::Error::job(
            field,
            format!("got {value}, expected a number in {bracket}{low}, {high}]"),
        ))
    }
}

impl OptimizerSpec {
    /// Checks every value's range; the error names the field (`optimizer.layers.fc1.lr`).
    pub fn check(&self) -> crate::Result<()> {
        in_range("optimizer.lr", self.lr, 0.0, 10.0, true)?;
        in_range("optimizer.momentum", self.momentum, 0.0, 0.999, false)?;
        in_range(
            "optimizer.momentum_start",
            self.momentum_start,
            0.0,
            0.999,
            false,
        )?;
        in_range("optimizer.l2", self.l2, 0.0, 1.0, false)?;
        in_range("optimizer.lr_decay", self.lr_decay, 0.0, 0.999, false)?;
        in_range("optimizer.betas[0]", self.betas[0], 0.0, 0.9999, false)?;
        in_range("optimizer.betas[1]", self.betas[1], 0.0, 0.9999, false)?;
        in_range("optimizer.eps", self.eps, 1e-12, 1.0, false)?;
        for layer in crate::network::LAYERS {
            let o = self.layer_override(layer);
            let field = |key: &str| format!("optimizer.layers.{layer}.{key}");
            if let Some(v) = o.lr {
                in_range(&field("lr"), v, 0.0, 10.0, true)?;
            }
            if let Some(v) = o.momentum {
                in_range(&field("momentum"), v, 0.0, 0.999, false)?;
            }
            if let Some(v) = o.l2 {
                in_range(&field("l2"), v, 0.0, 1.0, false)?;
            }
        }
        Ok(())
    }

    fn layer_override(&self, layer: &str) -> LayerOverride {
        let Some(layers) = &self.layers else {
            return LayerOverride::default();
        };
        let found = match layer {
            "conv1" => layers.conv1,
            "conv2" => layers.conv2,
            "conv3" => layers.conv3,
            "conv4" => layers.conv4,
            "fc1" => layers.fc1,
            _ => layers.out,
        };
        found.unwrap_or_default()
    }

    /// The layer's settings: its override where given, else the defaults.
    pub fn layer_settings(&self, layer: &str) -> LayerSettings {
        let o = self.layer_override(layer);
        LayerSettings {
            lr: o.lr.unwrap_or(self.lr),
            momentum: o.momentum.unwrap_or(self.momentum),
            l2: o.l2.unwrap_or(self.l2),
        }
    }

    /// The update rule.
    pub fn rule(&self) -> Rule {
        match self.name {
            RuleName::Sgd => Rule::Sgd {
                momentum_start: self.momentum_start,
                momentum_epochs: self.momentum_epochs,
                lr_decay: self.lr_decay,
            },
            RuleName::Adam => Rule::Adam {
                beta1: self.betas[0],
                beta2: self.betas[1],
                eps: self.eps,
                lr_decay: self.lr_decay,
            },
        }
    }

    /// An optimiser for `params` at epoch 0.
    pub fn build(&self, params: &Params) -> Optimizer {
        Optimizer::new(params, self.rule(), |layer| self.layer_settings(layer))
    }
}
