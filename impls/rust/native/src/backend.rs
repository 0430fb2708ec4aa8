//! [`NativeNet`]: the hand-written network as the `rust-native` back-end of the core's
//! [`Network`] trait: a [`SiameseNet`] with its [`Workspace`], updated in place by the core's
//! fused optimiser pass over the flat parameter buffer.

use oneshot_core::error::{Error, Result};
use oneshot_core::job::ConvAlgo;
use oneshot_core::network::guard::{check_capacity, copy_out};
use oneshot_core::network::optim::Optimizer;
use oneshot_core::network::params::{Params, OUT_WEIGHT};
use oneshot_core::network::{Network, Shape};
use serde_json::{Map, Value};

use crate::nn::model::{SiameseNet, Workspace};

/// The workspace of `net` for `(capacity, threads, train)`. Without training the weights
/// never change (only [`Network::update`] changes them, after `train_batch`), so an inference
/// network packs its operands and makes its FFT layers' weight spectra here, once, at build
/// (`setup_s` of `evaluate` and `serve` counts them); the seconds go to stderr.
fn workspace(net: &SiameseNet, (capacity, threads, train): (usize, usize, bool)) -> Workspace {
    if train {
        return net.workspace(capacity, threads, true);
    }
    let (ws, seconds) = net.inference_workspace(capacity, threads);
    if net.fft_layers().contains(&true) {
        eprintln!("rust-native: FFT weight spectra made at build in {seconds:.3} s");
    }
    ws
}

/// The rust-native network and its workspace.
pub struct NativeNet {
    net: SiameseNet,
    ws: Workspace,
    /// What the workspace was built for, to rebuild it when the conv algorithms change.
    built: (usize, usize, bool),
}

impl Network for NativeNet {
    const ID: &'static str = "rust-native";

    fn versions() -> Map<String, Value> {
        Map::new()
    }

    fn build(params: Params, capacity: usize, threads: usize, train: bool) -> Result<Self> {
        let net = SiameseNet::new(params)?;
        let built = (capacity.max(1), threads, train);
        let ws = workspace(&net, built);
        Ok(NativeNet { net, ws, built })
    }

    fn shape(&self) -> Shape {
        self.net.shape()
    }

    fn set_conv(&mut self, layers: [ConvAlgo; 4]) -> Result<()> {
        let fft = layers.map(|a| a == ConvAlgo::Fft);
        if fft != self.net.fft_layers() {
            self.net = self.net.clone().with_fft(fft);
            self.ws = workspace(&self.net, self.built);
        }
        Ok(())
    }

    fn set_inputs(&mut self, left: &[&[u8]], right: &[&[u8]]) -> Result<()> {
        check_capacity(left.len() + right.len(), self.ws.capacity())?;
        self.net.set_inputs(&mut self.ws, left, right);
        Ok(())
    }

    fn embed(&mut self, images: usize, out: &mut [f32]) -> Result<()> {
        check_capacity(images, self.ws.capacity())?;
        self.net.embed(&mut self.ws, images);
        copy_out(self.net.embeddings(&self.ws, images), out)
    }

    fn forward_pairs(&mut self, pairs: usize, emb: &mut [f32], logits: &mut [f32]) -> Result<()> {
        check_capacity(2 * pairs, self.ws.capacity())?;
        self.net.forward_pairs(&mut self.ws, pairs);
        copy_out(self.net.embeddings(&self.ws, 2 * pairs), emb)?;
        copy_out(self.net.logits(&self.ws, pairs), logits)
    }

    fn train_batch(&mut self, labels: &[f32]) -> Result<f64> {
        check_capacity(2 * labels.len(), self.ws.capacity())?;
        if self.ws.grads.is_empty() {
            return Err(Error::Runtime(
                "the network was built for inference, not training".into(),
            ));
        }
        Ok(self.net.train_batch(&mut self.ws, labels))
    }

    fn gradients(&self) -> Result<Vec<f32>> {
        Ok(self.ws.grads.clone())
    }

    fn update(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        optimizer.step(&mut self.net.params, &self.ws.grads);
        Ok(())
    }

    fn params(&self) -> Result<Params> {
        Ok(self.net.params.clone())
    }

    fn head(&self) -> Result<(Vec<f32>, f32)> {
        let params = &self.net.params;
        Ok((
            params.tensor(OUT_WEIGHT).to_vec(),
            params.tensor(OUT_WEIGHT + 1)[0],
        ))
    }
}
