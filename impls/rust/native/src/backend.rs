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
        let ws = net.workspace(built.0, built.1, built.2);
        Ok(NativeNet { net, ws, built })
    }

    fn shape(&self) -> Shape {
        self.net.shape()
    }

    fn set_conv(&mut self, layers: [ConvAlgo; 4]) -> Result<()> {
        let fft = layers.map(|a| a == ConvAlgo::Fft);
        if fft != self.net.fft_layers() {
            self.net = self.net.clone().with_fft(fft);
            let (capacity, threads, train) = self.built;
            self.ws = self.net.workspace(capacity, threads, train);
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
