//! The `mlx` backend: a real local model run with MLX on Apple Silicon (`--features mlx`).
//!
//! Owns: everything that names `mlx-rs` or `tokenizers` — reading a model directory, the
//! forward pass and greedy decoding. Must not touch: HTTP, faults, the cold load (the server
//! owns those for every backend alike).
//!
//! NOT VERIFIED: this file has never been compiled against the real mlx-rs, nor run. It was
//! written on Linux, where mlx-rs cannot build, from the sources of mlx-rs 0.33.0 and
//! tokenizers 0.22.2, and type-checked (with clippy) only against a hand-written stub of the
//! mlx-rs signatures it uses plus the real tokenizers crate. The first build on an Apple
//! Silicon Mac must be treated as its first test.
//!
//! What it runs, deliberately minimal: a Llama-family decoder (Llama, Mistral, Qwen2 — RMSNorm,
//! rotary attention with grouped KV heads, SwiGLU MLP) from a Hugging Face style directory:
//! `config.json`, `tokenizer.json` and unquantized `*.safetensors` weights. Quantized weights
//! and `rope_scaling` are refused at load rather than run wrongly. The conversation is given
//! as a plain `role: content` transcript, not through the model's own chat template; decoding
//! is greedy (deterministic, as a wall wants), without a KV cache, and bounded in tokens.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mlx_rs::error::Exception;
use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::ops::indexing::argmax;
use mlx_rs::{nn, Array};
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::{Backend, BackendError, BackendErrorKind, ChatMessage, Completion};

/// Every generation ends, even if the model never emits an end-of-sequence token.
const MAX_NEW_TOKENS: usize = 256;
/// Without a KV cache every step re-reads the whole sequence; longer prompts are refused.
const MAX_PROMPT_TOKENS: usize = 4096;

/// Loads the model in `path`, a directory; every missing tensor is reported here, at startup,
/// never in the middle of a chat request.
pub(super) fn load(path: Option<&Path>) -> Result<Arc<dyn Backend>, BackendError> {
    let dir = path.ok_or_else(|| {
        BackendError::new(
            BackendErrorKind::Config,
            "backend \"mlx\" needs `model_path`, the directory of the model to load",
        )
    })?;
    let load_error = |what: String| BackendError::new(BackendErrorKind::Load, what);

    let config_path = dir.join("config.json");
    let config_text = fs::read_to_string(&config_path)
        .map_err(|e| load_error(format!("cannot read {}: {e}", config_path.display())))?;
    let config: Config = serde_json::from_str(&config_text)
        .map_err(|e| load_error(format!("{}: {e}", config_path.display())))?;
    let shape = config
        .shape()
        .map_err(|e| load_error(format!("{}: {e}", config_path.display())))?;

    let tokenizer_path = dir.join("tokenizer.json");
    let tokenizer = Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| load_error(format!("cannot load {}: {e}", tokenizer_path.display())))?;

    let entries =
        fs::read_dir(dir).map_err(|e| load_error(format!("cannot list {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| load_error(format!("cannot list {}: {e}", dir.display())))?;
        let file = entry.path();
        if file.extension().is_some_and(|ext| ext == "safetensors") {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(load_error(format!(
            "{} has no *.safetensors weights",
            dir.display()
        )));
    }
    files.sort();
    let mut weights = HashMap::new();
    for file in &files {
        let tensors = Array::load_safetensors(file)
            .map_err(|e| load_error(format!("cannot load {}: {e}", file.display())))?;
        weights.extend(tensors);
    }
    if weights.keys().any(|name| name.ends_with(".scales")) {
        return Err(load_error(format!(
            "{} holds quantized weights, which this backend does not run; use an unquantized (f16/bf16) model",
            dir.display()
        )));
    }
    let model = Model { shape, weights };
    if let Some(missing) = model
        .required()
        .find(|name| !model.weights.contains_key(name))
    {
        return Err(load_error(format!(
            "{} is not a Llama-family model: tensor `{missing}` is missing",
            dir.display()
        )));
    }
    Ok(Arc::new(Mlx {
        inner: Mutex::new(Inner {
            tokenizer,
            model,
            eos: config
                .eos_token_id
                .map(EosTokens::into_vec)
                .unwrap_or_default(),
        }),
    }))
}

/// One generation at a time: the GPU gains nothing from interleaving them, and `Array` is
/// not `Sync`.
struct Mlx {
    inner: Mutex<Inner>,
}

struct Inner {
    tokenizer: Tokenizer,
    model: Model,
    eos: Vec<u32>,
}

impl Backend for Mlx {
    fn complete(&self, messages: &[ChatMessage]) -> Result<Completion, BackendError> {
        let inner = self.inner.lock().map_err(|_| {
            BackendError::new(
                BackendErrorKind::Inference,
                "an earlier generation panicked; restart the model server",
            )
        })?;
        let prompt = transcript(messages);
        let encoding = inner.tokenizer.encode(prompt.as_str(), true).map_err(|e| {
            BackendError::new(
                BackendErrorKind::Request,
                format!("cannot tokenize the conversation: {e}"),
            )
        })?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > MAX_PROMPT_TOKENS {
            return Err(BackendError::new(
                BackendErrorKind::Request,
                format!(
                    "the conversation is {} tokens long; this backend takes at most {MAX_PROMPT_TOKENS}",
                    ids.len()
                ),
            ));
        }
        let prompt_len = ids.len();
        for _ in 0..MAX_NEW_TOKENS {
            let next = inner.model.next_token(&ids).map_err(|e| {
                BackendError::new(
                    BackendErrorKind::Inference,
                    format!("the model failed while generating: {e}"),
                )
            })?;
            if inner.eos.contains(&next) {
                break;
            }
            ids.push(next);
        }
        let content = inner
            .tokenizer
            .decode(&ids[prompt_len..], true)
            .map_err(|e| {
                BackendError::new(
                    BackendErrorKind::Inference,
                    format!("cannot decode the answer: {e}"),
                )
            })?;
        Ok(Completion {
            content: content.trim().to_owned(),
        })
    }
}

fn transcript(messages: &[ChatMessage]) -> String {
    let mut text = String::new();
    for message in messages {
        text.push_str(&message.role);
        text.push_str(": ");
        text.push_str(&message.content);
        text.push('\n');
    }
    text.push_str("assistant:");
    text
}

/// The few keys of a Hugging Face `config.json` this backend reads. Unknown keys are
/// accepted: the file is the model's, not ours, and carries many we have no use for.
#[derive(Deserialize)]
struct Config {
    hidden_size: i32,
    num_hidden_layers: usize,
    num_attention_heads: i32,
    num_key_value_heads: Option<i32>,
    head_dim: Option<i32>,
    #[serde(default = "default_rms_norm_eps")]
    rms_norm_eps: f32,
    #[serde(default = "default_rope_theta")]
    rope_theta: f32,
    rope_scaling: Option<serde_json::Value>,
    eos_token_id: Option<EosTokens>,
}

fn default_rms_norm_eps() -> f32 {
    1e-6
}

fn default_rope_theta() -> f32 {
    10_000.0
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EosTokens {
    One(u32),
    Many(Vec<u32>),
}

impl EosTokens {
    fn into_vec(self) -> Vec<u32> {
        match self {
            EosTokens::One(id) => vec![id],
            EosTokens::Many(ids) => ids,
        }
    }
}

struct Shape {
    layers: usize,
    heads: i32,
    kv_heads: i32,
    head_dim: i32,
    eps: f32,
    rope_theta: f32,
}

impl Config {
    fn shape(&self) -> Result<Shape, String> {
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err("`rope_scaling` is not supported by this backend".to_owned());
        }
        let heads = self.num_attention_heads;
        let kv_heads = self.num_key_value_heads.unwrap_or(heads);
        if heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 {
            return Err(format!(
                "`num_attention_heads` ({heads}) must be a positive multiple of `num_key_value_heads` ({kv_heads})"
            ));
        }
        let head_dim = match self.head_dim {
            Some(dim) if dim > 0 => dim,
            Some(dim) => return Err(format!("`head_dim` must be positive, not {dim}")),
            None if self.hidden_size > 0 && self.hidden_size % heads == 0 => {
                self.hidden_size / heads
            }
            None => {
                let hidden = self.hidden_size;
                return Err(format!("`hidden_size` ({hidden}) must be a positive multiple of `num_attention_heads` ({heads})"));
            }
        };
        Ok(Shape {
            layers: self.num_hidden_layers,
            heads,
            kv_heads,
            head_dim,
            eps: self.rms_norm_eps,
            rope_theta: self.rope_theta,
        })
    }
}

struct Model {
    shape: Shape,
    weights: HashMap<String, Array>,
}

const EMBED: &str = "model.embed_tokens.weight";

impl Model {
    /// The tensors a forward pass reads; `lm_head` is optional (tied to the embedding).
    fn required(&self) -> impl Iterator<Item = String> + '_ {
        let per_layer = [
            "input_layernorm.weight",
            "self_attn.q_proj.weight",
            "self_attn.k_proj.weight",
            "self_attn.v_proj.weight",
            "self_attn.o_proj.weight",
            "post_attention_layernorm.weight",
            "mlp.gate_proj.weight",
            "mlp.up_proj.weight",
            "mlp.down_proj.weight",
        ];
        [EMBED.to_owned(), "model.norm.weight".to_owned()]
            .into_iter()
            .chain((0..self.shape.layers).flat_map(move |layer| {
                per_layer
                    .into_iter()
                    .map(move |name| format!("model.layers.{layer}.{name}"))
            }))
    }

    fn weight(&self, name: &str) -> Result<&Array, Exception> {
        self.weights
            .get(name)
            .ok_or_else(|| Exception::custom(format!("missing tensor `{name}`")))
    }

    /// `x @ W.T (+ b)`; Qwen2 has biases on q/k/v, Llama on nothing.
    fn linear(&self, x: &Array, name: &str) -> Result<Array, Exception> {
        let y = x.matmul(self.weight(&format!("{name}.weight"))?.transpose()?)?;
        match self.weights.get(&format!("{name}.bias")) {
            Some(bias) => y.add(bias),
            None => Ok(y),
        }
    }

    /// The greedy next token after `ids`, from a full forward pass.
    fn next_token(&self, ids: &[u32]) -> Result<u32, Exception> {
        let s = &self.shape;
        let len =
            i32::try_from(ids.len()).map_err(|_| Exception::custom("the sequence is too long"))?;
        let ids = ids
            .iter()
            .map(|&id| i32::try_from(id))
            .collect::<Result<Vec<i32>, _>>()
            .map_err(|_| Exception::custom("a token id does not fit in i32"))?;
        let tokens = Array::from_slice(&ids, &[len]);
        let mut h = self
            .weight(EMBED)?
            .take_axis(&tokens, 0)?
            .reshape(&[1, len, -1])?;
        for layer in 0..s.layers {
            let p = format!("model.layers.{layer}");
            let x = fast::rms_norm(
                &h,
                Some(self.weight(&format!("{p}.input_layernorm.weight"))?),
                s.eps,
            )?;
            h = h.add(self.attention(&x, &p, len)?)?;
            let x = fast::rms_norm(
                &h,
                Some(self.weight(&format!("{p}.post_attention_layernorm.weight"))?),
                s.eps,
            )?;
            let gate = nn::silu(self.linear(&x, &format!("{p}.mlp.gate_proj"))?)?;
            let up = self.linear(&x, &format!("{p}.mlp.up_proj"))?;
            h = h.add(self.linear(&gate.multiply(&up)?, &format!("{p}.mlp.down_proj"))?)?;
        }
        let h = fast::rms_norm(&h, Some(self.weight("model.norm.weight")?), s.eps)?;
        let last = h.take_axis(Array::from_slice(&[len - 1], &[1]), 1)?;
        let head = match self.weights.get("lm_head.weight") {
            Some(head) => head,
            None => self.weight(EMBED)?,
        };
        let logits = last.matmul(head.transpose()?)?;
        argmax(&logits, false)?
            .try_item_cast::<u32>()
            .map_err(|e| Exception::custom(e.to_string()))
    }

    fn attention(&self, x: &Array, p: &str, len: i32) -> Result<Array, Exception> {
        let s = &self.shape;
        let project = |name: &str, heads: i32| -> Result<Array, Exception> {
            self.linear(x, &format!("{p}.self_attn.{name}"))?
                .reshape(&[1, len, heads, s.head_dim])?
                .transpose_axes(&[0, 2, 1, 3])
        };
        let rope =
            |a: &Array| fast::rope(a, s.head_dim, false, s.rope_theta, 1.0, 0, None::<&Array>);
        let q = rope(&project("q_proj", s.heads)?)?;
        let k = rope(&project("k_proj", s.kv_heads)?)?;
        let v = project("v_proj", s.kv_heads)?;
        let scale = 1.0 / (s.head_dim as f32).sqrt();
        let out = fast::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            scale,
            ScaledDotProductAttentionMask::Causal,
            None::<&Array>,
        )?;
        let out = out
            .transpose_axes(&[0, 2, 1, 3])?
            .reshape(&[1, len, s.heads * s.head_dim])?;
        self.linear(&out, &format!("{p}.self_attn.o_proj"))
    }
}
