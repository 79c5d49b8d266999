//! Resumable checkpoints: parameters, BatchNorm buffers, optimiser momentum, epoch, step, RNG
//! state and free-form metadata, encoded exactly (little-endian `f32`) in one byte buffer.
//!
//! Layout (version 1):
//! ```text
//! b"CDGCKPT\0" | u32 version | u64 header length | header (JSON) | tensor data | u64 FNV-1a of data
//! ```
//! The JSON header lists every tensor (name, role, shape) in data order, the epoch and step
//! counters, the ChaCha8 RNG state (seed, stream, word position) and the metadata. Writing
//! the bytes to disk (atomically) is the caller's job; this module does no I/O.

use crate::error::{Result, TrainError};
use crate::layers::Module;
use crate::optim::Sgd;
use ndarray::{ArrayD, IxDyn};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"CDGCKPT\0";
const VERSION: u32 = 1;

/// What a stored tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorRole {
    Param,
    Buffer,
    Momentum,
}

/// One stored tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub role: TensorRole,
    pub value: ArrayD<f32>,
}

/// The exact state of a `ChaCha8Rng`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    pub word_pos: u128,
}

impl RngState {
    pub fn of(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos(),
        }
    }
    /// A generator that continues exactly where the captured one was.
    pub fn to_rng(&self) -> ChaCha8Rng {
        use rand::SeedableRng;
        let mut r = ChaCha8Rng::from_seed(self.seed);
        r.set_stream(self.stream);
        r.set_word_pos(self.word_pos);
        r
    }
}

/// A decoded checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Completed epochs.
    pub epoch: usize,
    /// Completed optimiser steps.
    pub step: usize,
    pub rng: RngState,
    /// Free-form run description (the training plan), compared on resume by the caller.
    pub meta: serde_json::Value,
    pub tensors: Vec<NamedTensor>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    epoch: usize,
    step: usize,
    rng_seed: String,
    rng_stream: u64,
    rng_word_pos: String,
    meta: serde_json::Value,
    tensors: Vec<TensorEntry>,
}

#[derive(Serialize, Deserialize)]
struct TensorEntry {
    name: String,
    role: TensorRole,
    shape: Vec<usize>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Tensors of the SSL heads and the classifier: not part of a backbone.
fn is_head(name: &str) -> bool {
    ["projector.", "predictor.", "fc."]
        .iter()
        .any(|p| name.starts_with(p))
}

fn err(msg: impl Into<String>) -> TrainError {
    TrainError::Checkpoint(msg.into())
}

impl Checkpoint {
    /// Captures `modules` (parameters then buffers of each, in order) and the momentum of
    /// `optimizers`.
    pub fn capture(
        modules: &[&dyn Module<f32>],
        optimizers: &[&Sgd<f32>],
        epoch: usize,
        step: usize,
        rng: &ChaCha8Rng,
        meta: serde_json::Value,
    ) -> Self {
        let mut tensors = Vec::new();
        for m in modules {
            for p in m.params() {
                tensors.push(NamedTensor {
                    name: p.name().to_owned(),
                    role: TensorRole::Param,
                    value: p.value.clone(),
                });
            }
            for b in m.buffers() {
                tensors.push(NamedTensor {
                    name: b.name().to_owned(),
                    role: TensorRole::Buffer,
                    value: b.value.clone(),
                });
            }
        }
        for o in optimizers {
            for (name, v) in o.names().iter().zip(o.velocity()) {
                tensors.push(NamedTensor {
                    name: name.clone(),
                    role: TensorRole::Momentum,
                    value: v.clone(),
                });
            }
        }
        Checkpoint {
            epoch,
            step,
            rng: RngState::of(rng),
            meta,
            tensors,
        }
    }

    /// Loads the stored state into `modules` and `optimizers`, which must have the same
    /// structure as at capture (names and shapes are checked; the error names the tensor).
    pub fn restore(
        &self,
        modules: &mut [&mut dyn Module<f32>],
        optimizers: &mut [&mut Sgd<f32>],
    ) -> Result<()> {
        let mut it = self.tensors.iter();
        let mut next = |role: TensorRole, name: &str, shape: &[usize]| -> Result<&ArrayD<f32>> {
            let t = it
                .next()
                .ok_or_else(|| err(format!("ends before {role:?} `{name}`")))?;
            if t.role != role || t.name != name || t.value.shape() != shape {
                return Err(err(format!(
                    "expected {role:?} `{name}` {shape:?}, found {:?} `{}` {:?} (was it written by a different model or config?)",
                    t.role,
                    t.name,
                    t.value.shape()
                )));
            }
            Ok(&t.value)
        };
        for m in modules.iter_mut() {
            for p in m.params_mut() {
                let v = next(TensorRole::Param, p.name(), p.value.shape())?;
                p.value.assign(v);
            }
            for b in m.buffers_mut() {
                let v = next(TensorRole::Buffer, b.name(), b.value.shape())?;
                b.value.assign(v);
            }
        }
        for o in optimizers.iter_mut() {
            let names = o.names().to_vec();
            for (name, vel) in names.iter().zip(o.velocity_mut()) {
                let v = next(TensorRole::Momentum, name, vel.shape())?;
                vel.assign(v);
            }
        }
        if let Some(t) = it.next() {
            return Err(err(format!(
                "has an extra tensor `{}` the model does not have",
                t.name
            )));
        }
        Ok(())
    }

    /// Copies stored weights into `modules` by tensor name, for initialising one network from
    /// another's training (`--init-from`): parameters and buffers only (no momentum, epoch or
    /// RNG). Tensors of gate state (`*.gate.*`) and of heads (`projector.*`, `predictor.*`,
    /// `fc.*`) that the checkpoint lacks keep their fresh values, as do head tensors the
    /// model lacks; every other tensor must exist on both sides with the same shape, else
    /// the error names the tensor and both shapes. With `apply` false nothing is written
    /// (a check). Returns the names of the model's tensors that kept their fresh values.
    pub fn load_weights(
        &self,
        modules: &mut [&mut dyn Module<f32>],
        apply: bool,
    ) -> Result<Vec<String>> {
        use std::collections::BTreeMap;
        let stored: BTreeMap<&str, &NamedTensor> = self
            .tensors
            .iter()
            .filter(|t| t.role != TensorRole::Momentum)
            .map(|t| (t.name.as_str(), t))
            .collect();
        let optional = |name: &str| is_head(name) || name.contains(".gate.");
        let mut used = std::collections::BTreeSet::new();
        let mut fresh = Vec::new();
        let mut visit = |name: &str, value: &mut ArrayD<f32>| -> Result<()> {
            match stored.get(name) {
                Some(t) if t.value.shape() == value.shape() => {
                    used.insert(t.name.as_str());
                    if apply {
                        value.assign(&t.value);
                    }
                    Ok(())
                }
                Some(t) => Err(err(format!(
                    "tensor `{name}` has shape {:?} in the checkpoint but {:?} in this model \
                     (a different architecture or width?)",
                    t.value.shape(),
                    value.shape()
                ))),
                None if optional(name) => {
                    fresh.push(name.to_owned());
                    Ok(())
                }
                None => Err(err(format!(
                    "has no tensor `{name}` (shape {:?} in this model): it was written by a \
                     different architecture",
                    value.shape()
                ))),
            }
        };
        for m in modules.iter_mut() {
            for p in m.params_mut() {
                let name = p.name().to_owned();
                visit(&name, &mut p.value)?;
            }
            for b in m.buffers_mut() {
                let name = b.name().to_owned();
                visit(&name, &mut b.value)?;
            }
        }
        if let Some(t) = stored
            .values()
            .find(|t| !used.contains(t.name.as_str()) && !is_head(&t.name))
        {
            return Err(err(format!(
                "tensor `{}` {:?} has no counterpart in this model: it was written by a \
                 different architecture",
                t.name,
                t.value.shape()
            )));
        }
        Ok(fresh)
    }

    /// The parameters and buffers of the backbone alone (no heads, no momentum), with
    /// `meta`: a small checkpoint to initialise other runs from ([`Checkpoint::load_weights`]).
    pub fn backbone_weights(&self, meta: serde_json::Value) -> Checkpoint {
        Checkpoint {
            epoch: self.epoch,
            step: self.step,
            rng: self.rng,
            meta,
            tensors: self
                .tensors
                .iter()
                .filter(|t| t.role != TensorRole::Momentum && !is_head(&t.name))
                .cloned()
                .collect(),
        }
    }

    /// Encodes to bytes (see the module docs for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            epoch: self.epoch,
            step: self.step,
            rng_seed: self.rng.seed.iter().map(|b| format!("{b:02x}")).collect(),
            rng_stream: self.rng.stream,
            rng_word_pos: self.rng.word_pos.to_string(),
            meta: self.meta.clone(),
            tensors: self
                .tensors
                .iter()
                .map(|t| TensorEntry {
                    name: t.name.clone(),
                    role: t.role,
                    shape: t.value.shape().to_vec(),
                })
                .collect(),
        };
        let header = serde_json::to_vec(&header).expect("header serialises");
        let mut data = Vec::with_capacity(self.tensors.iter().map(|t| t.value.len() * 4).sum());
        for t in &self.tensors {
            for &v in t.value.iter() {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut out = Vec::with_capacity(8 + 4 + 8 + header.len() + data.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&data);
        out.extend_from_slice(&fnv1a(&data).to_le_bytes());
        out
    }

    /// Decodes bytes written by [`Checkpoint::to_bytes`]; errors give the byte offset.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(err("not a cdg checkpoint (bad magic at offset 0)"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(err(format!(
                "version {version} at offset 8, this build reads version {VERSION}"
            )));
        }
        let hlen = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
        let hend = 20usize
            .checked_add(hlen)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                err(format!(
                    "truncated: header of {hlen} bytes at offset 20 exceeds the {} bytes present",
                    bytes.len()
                ))
            })?;
        let header: Header = serde_json::from_slice(&bytes[20..hend])
            .map_err(|e| err(format!("header at offset 20: {e}")))?;
        let mut pos = hend;
        let mut tensors = Vec::with_capacity(header.tensors.len());
        for t in header.tensors {
            let n: usize = t.shape.iter().product();
            let end = pos + n * 4;
            if end + 8 > bytes.len() {
                return Err(err(format!(
                    "truncated: tensor `{}` at offset {pos} needs {} bytes",
                    t.name,
                    n * 4
                )));
            }
            let vals: Vec<f32> = bytes[pos..end]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            let value =
                ArrayD::from_shape_vec(IxDyn(&t.shape), vals).expect("length = product of shape");
            tensors.push(NamedTensor {
                name: t.name,
                role: t.role,
                value,
            });
            pos = end;
        }
        if pos + 8 != bytes.len() {
            return Err(err(format!(
                "{} unexpected trailing bytes at offset {}",
                bytes.len() - pos - 8,
                pos + 8
            )));
        }
        let stored = u64::from_le_bytes(bytes[pos..pos + 8].try_into().expect("8 bytes"));
        if stored != fnv1a(&bytes[hend..pos]) {
            return Err(err(format!(
                "checksum mismatch at offset {pos}: the tensor data is corrupt"
            )));
        }
        let seed_hex = header.rng_seed;
        if seed_hex.len() != 64 || !seed_hex.is_ascii() {
            return Err(err("header `rng_seed`: expected 64 hex digits"));
        }
        let mut seed = [0u8; 32];
        for (i, s) in seed.iter_mut().enumerate() {
            *s = u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16)
                .map_err(|_| err("header `rng_seed`: expected 64 hex digits"))?;
        }
        let word_pos = header
            .rng_word_pos
            .parse::<u128>()
            .map_err(|_| err("header `rng_word_pos`: expected an integer"))?;
        Ok(Checkpoint {
            epoch: header.epoch,
            step: header.step,
            rng: RngState {
                seed,
                stream: header.rng_stream,
                word_pos,
            },
            meta: header.meta,
            tensors,
        })
    }
}
