//! A decoder-only transformer in fp32 with ndarray, for timing real per-layer execution on the
//! local CPU (the weights are random: latency does not depend on their values).
//!
//! Layers follow the cost table's rows: the embedding (token lookup, plus learned positions for
//! GPT-2-style models), pre-norm blocks (norm, attention with RoPE or learned positions, a KV
//! cache and grouped-query heads, residual; norm, SwiGLU or GELU MLP, residual), and the head
//! (final norm and the vocabulary projection of the last token only, then the arg-max token).
//!
//! Weights of a linear layer are stored `(out, in)` row-major. Matrix products split the output
//! features across the threads of a rayon pool: a batch of tokens is a GEMM per chunk
//! (`matrixmultiply` through ndarray), a single token (decode) a GEMV that streams each weight
//! row once. Attention runs one query head per task. RoPE uses base 10 000 for every model (the
//! base does not change the work).

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayViewMut2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::costs::arch::{ArchConfig, MlpKind, NormKind};
use crate::costs::table::LayerKind;

/// RoPE frequency base.
pub const ROPE_BASE: f32 = 10_000.0;

/// Epsilon of the norms.
pub const NORM_EPS: f32 = 1e-5;

/// The shapes of a model, from its architecture config.
#[derive(Debug, Clone, PartialEq)]
pub struct Dims {
    /// Transformer blocks.
    pub blocks: usize,
    /// Model width.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (a divisor of `heads`).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// MLP inner width.
    pub intermediate: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// MLP type.
    pub mlp: MlpKind,
    /// Norm type.
    pub norm: NormKind,
    /// Learned absolute positions (rows); 0 for RoPE.
    pub positions: usize,
    /// Biases on q, k, v.
    pub qkv_bias: bool,
    /// Bias on the attention output.
    pub o_bias: bool,
    /// Biases in the MLP.
    pub mlp_bias: bool,
}

impl Dims {
    /// The shapes of `arch` (dense models only: a mixture of experts is refused).
    pub fn from_arch(arch: &ArchConfig) -> Result<Dims, String> {
        if arch.experts > 1 {
            return Err("mixture-of-experts models are not supported by the profiler".into());
        }
        let head_dim = arch.head_dim.unwrap_or(arch.hidden / arch.heads.max(1));
        if arch.heads == 0 || arch.kv_heads == 0 || !arch.heads.is_multiple_of(arch.kv_heads) {
            return Err(format!(
                "heads ({}) must be a positive multiple of kv_heads ({})",
                arch.heads, arch.kv_heads
            ));
        }
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim must be even and positive, got {head_dim}"
            ));
        }
        Ok(Dims {
            blocks: arch.layers,
            hidden: arch.hidden,
            heads: arch.heads,
            kv_heads: arch.kv_heads,
            head_dim,
            intermediate: arch.intermediate,
            vocab: arch.vocab,
            mlp: arch.mlp,
            norm: arch.norm,
            positions: arch.position_embeddings,
            qkv_bias: arch.qkv_bias,
            o_bias: arch.o_bias,
            mlp_bias: arch.mlp_bias,
        })
    }

    /// Rows of the cost table: embed, blocks, head.
    pub fn layers(&self) -> usize {
        self.blocks + 2
    }

    /// The kind of table row `layer`.
    pub fn kind(&self, layer: usize) -> LayerKind {
        if layer == 0 {
            LayerKind::Embed
        } else if layer == self.blocks + 1 {
            LayerKind::Head
        } else {
            LayerKind::Block
        }
    }
}

/// Uniform random values in `[-scale, scale]`, filled in parallel chunks each seeded from
/// `seed` and its index (the same seed gives the same values for any thread count).
fn random_vec(len: usize, scale: f32, seed: u64) -> Vec<f32> {
    const CHUNK: usize = 1 << 16;
    let mut data = vec![0f32; len];
    data.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| {
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for v in chunk {
                *v = rng.gen_range(-scale..=scale);
            }
        });
    data
}

fn random_matrix(rows: usize, cols: usize, scale: f32, seed: u64) -> Array2<f32> {
    Array2::from_shape_vec((rows, cols), random_vec(rows * cols, scale, seed))
        .expect("the vector has rows x cols elements")
}

/// Runs `work` on every item, on the current rayon pool when `parallel` (else in this thread,
/// without the pool's overhead).
fn for_each<T: Send>(items: Vec<T>, parallel: bool, work: impl Fn(T) + Send + Sync) {
    if parallel {
        items.into_par_iter().for_each(work);
    } else {
        items.into_iter().for_each(work);
    }
}

/// A linear layer `y = x W^T + b` with `W` of shape `(out, in)`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Weights, `(out, in)`.
    pub weight: Array2<f32>,
    /// Bias, `out`.
    pub bias: Option<Array1<f32>>,
}

impl Linear {
    /// Random weights of scale `1/sqrt(in)`, random bias when `bias`.
    pub fn random(out: usize, inp: usize, bias: bool, seed: u64) -> Linear {
        let scale = 1.0 / (inp as f32).sqrt();
        Linear {
            weight: random_matrix(out, inp, scale, seed),
            bias: bias.then(|| Array1::from(random_vec(out, 0.1, seed ^ 0xB1A5))),
        }
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.nrows()
    }

    /// `x` (tokens x in) times `W^T`, plus the bias.
    pub fn forward(&self, x: ArrayView2<f32>, threads: usize) -> Array2<f32> {
        let n = x.nrows();
        let out = self.out_features();
        let mut y = Array2::<f32>::zeros((n, out));
        let parts = if threads <= 1 { 1 } else { threads * 2 };
        let chunk = out.div_ceil(parts).max(16);
        if n == 1 {
            // GEMV: each output is one contiguous dot product over a weight row.
            let xr = x.row(0);
            let mut yr = y.row_mut(0);
            let work = |(mut ys, ws): (ndarray::ArrayViewMut1<f32>, ArrayView2<f32>)| {
                for (yv, w) in ys.iter_mut().zip(ws.rows()) {
                    *yv = w.dot(&xr);
                }
            };
            let pieces: Vec<_> = yr
                .axis_chunks_iter_mut(Axis(0), chunk)
                .zip(self.weight.axis_chunks_iter(Axis(0), chunk))
                .collect();
            for_each(pieces, parts > 1, work);
        } else {
            let work = |(mut ys, ws): (ArrayViewMut2<f32>, ArrayView2<f32>)| {
                general_mat_mul(1.0, &x, &ws.t(), 0.0, &mut ys);
            };
            let pieces: Vec<_> = y
                .axis_chunks_iter_mut(Axis(1), chunk)
                .zip(self.weight.axis_chunks_iter(Axis(0), chunk))
                .collect();
            for_each(pieces, parts > 1, work);
        }
        if let Some(b) = &self.bias {
            y += b;
        }
        y
    }
}

/// A norm layer's parameters.
#[derive(Debug, Clone)]
pub struct Norm {
    kind: NormKind,
    weight: Array1<f32>,
    bias: Array1<f32>,
}

impl Norm {
    /// Weights near 1 (random, so that a wrong index shows in the tests).
    pub fn random(kind: NormKind, width: usize, seed: u64) -> Norm {
        let weight = Array1::from(random_vec(width, 0.1, seed)) + 1.0;
        let bias = Array1::from(random_vec(width, 0.1, seed ^ 0x5EED));
        Norm { kind, weight, bias }
    }

    /// Normalises each row of `x`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut y = x.to_owned();
        for mut row in y.rows_mut() {
            let n = row.len() as f32;
            match self.kind {
                NormKind::Rmsnorm => {
                    let ms = row.iter().map(|v| v * v).sum::<f32>() / n;
                    let r = 1.0 / (ms + NORM_EPS).sqrt();
                    row.zip_mut_with(&self.weight, |v, w| *v *= r * w);
                }
                NormKind::Layernorm => {
                    let mean = row.sum() / n;
                    let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
                    let r = 1.0 / (var + NORM_EPS).sqrt();
                    for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                        *v = (*v - mean) * r * w + b;
                    }
                }
            }
        }
        y
    }
}

/// Keys and values of one block for the tokens seen so far.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// Keys, `(kv_heads, capacity, head_dim)`.
    pub keys: Array3<f32>,
    /// Values, same shape.
    pub values: Array3<f32>,
    /// Tokens cached.
    pub len: usize,
}

impl KvCache {
    /// An empty cache for `capacity` tokens.
    pub fn new(dims: &Dims, capacity: usize) -> KvCache {
        let shape = (dims.kv_heads, capacity, dims.head_dim);
        KvCache {
            keys: Array3::zeros(shape),
            values: Array3::zeros(shape),
            len: 0,
        }
    }

    /// A cache holding `len` random tokens (for timing a decode step at context `len`).
    pub fn random(dims: &Dims, capacity: usize, len: usize, seed: u64) -> KvCache {
        let shape = (dims.kv_heads, capacity, dims.head_dim);
        let n = shape.0 * shape.1 * shape.2;
        KvCache {
            keys: Array3::from_shape_vec(shape, random_vec(n, 1.0, seed)).expect("shape"),
            values: Array3::from_shape_vec(shape, random_vec(n, 1.0, seed ^ 1)).expect("shape"),
            len: len.min(capacity),
        }
    }

    /// Token capacity.
    pub fn capacity(&self) -> usize {
        self.keys.dim().1
    }
}

/// Rotates pairs `(i, i + d/2)` of each head of `x` (tokens x heads*d) by `pos * base^(-2i/d)`,
/// token `t` at position `pos0 + t` (the "rotate half" layout of Llama-style models).
pub fn apply_rope(x: &mut Array2<f32>, heads: usize, head_dim: usize, pos0: usize) {
    let half = head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| ROPE_BASE.powf(-2.0 * i as f32 / head_dim as f32))
        .collect();
    for (t, mut row) in x.rows_mut().into_iter().enumerate() {
        let pos = (pos0 + t) as f32;
        let (sin, cos): (Vec<f32>, Vec<f32>) = inv_freq.iter().map(|f| (pos * f).sin_cos()).unzip();
        for h in 0..heads {
            let base = h * head_dim;
            for i in 0..half {
                let (a, b) = (row[base + i], row[base + i + half]);
                row[base + i] = a * cos[i] - b * sin[i];
                row[base + i + half] = b * cos[i] + a * sin[i];
            }
        }
    }
}

/// Causal grouped-query attention of `q` (tokens x heads*d, at positions `cache.len - tokens ..`)
/// over the cache (which already holds these tokens' keys and values). Query head `h` reads
/// key/value head `h / (heads / kv_heads)`.
pub fn attention(q: ArrayView2<f32>, cache: &KvCache, dims: &Dims, threads: usize) -> Array2<f32> {
    let (n, d) = (q.nrows(), dims.head_dim);
    let len = cache.len;
    let first = len - n;
    let group = dims.heads / dims.kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = Array2::<f32>::zeros((n, dims.heads * d));
    let work = |(h, mut out_h): (usize, ArrayViewMut2<f32>)| {
        let g = h / group;
        let keys = cache.keys.slice(s![g, ..len, ..]);
        let values = cache.values.slice(s![g, ..len, ..]);
        let q_h = q.slice(s![.., h * d..(h + 1) * d]);
        let mut scores = q_h.dot(&keys.t());
        for (t, mut row) in scores.rows_mut().into_iter().enumerate() {
            let visible = first + t + 1;
            let max = row
                .iter()
                .take(visible)
                .fold(f32::NEG_INFINITY, |m, &v| m.max(v * scale));
            let mut sum = 0.0;
            for (j, v) in row.iter_mut().enumerate() {
                *v = if j < visible {
                    (*v * scale - max).exp()
                } else {
                    0.0
                };
                sum += *v;
            }
            row /= sum;
        }
        general_mat_mul(1.0, &scores, &values, 0.0, &mut out_h);
    };
    let heads: Vec<_> = out.axis_chunks_iter_mut(Axis(1), d).enumerate().collect();
    for_each(heads, threads > 1, work);
    out
}

/// The weights of one transformer block.
#[derive(Debug, Clone)]
pub struct Block {
    norm1: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm2: Norm,
    /// SwiGLU: gate; GELU: the first matrix.
    up: Linear,
    /// SwiGLU only.
    gate: Option<Linear>,
    down: Linear,
}

fn gelu(x: f32) -> f32 {
    // The tanh approximation GPT-2 uses.
    0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044_715 * x * x * x)).tanh())
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl Block {
    /// Random weights.
    pub fn random(dims: &Dims, seed: u64) -> Block {
        let (h, d) = (dims.hidden, dims.head_dim);
        Block {
            norm1: Norm::random(dims.norm, h, seed ^ 1),
            q: Linear::random(dims.heads * d, h, dims.qkv_bias, seed ^ 2),
            k: Linear::random(dims.kv_heads * d, h, dims.qkv_bias, seed ^ 3),
            v: Linear::random(dims.kv_heads * d, h, dims.qkv_bias, seed ^ 4),
            o: Linear::random(h, dims.heads * d, dims.o_bias, seed ^ 5),
            norm2: Norm::random(dims.norm, h, seed ^ 6),
            up: Linear::random(dims.intermediate, h, dims.mlp_bias, seed ^ 7),
            gate: (dims.mlp == MlpKind::Swiglu)
                .then(|| Linear::random(dims.intermediate, h, dims.mlp_bias, seed ^ 8)),
            down: Linear::random(h, dims.intermediate, dims.mlp_bias, seed ^ 9),
        }
    }

    /// The block on `x` (tokens x hidden), appending the tokens to `cache`.
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        cache: &mut KvCache,
        dims: &Dims,
        threads: usize,
    ) -> Array2<f32> {
        let n = x.nrows();
        assert!(
            cache.len + n <= cache.capacity(),
            "KV cache of {} tokens is full",
            cache.capacity()
        );
        let pos0 = cache.len;
        let a = self.norm1.forward(x);
        let mut q = self.q.forward(a.view(), threads);
        let mut k = self.k.forward(a.view(), threads);
        let v = self.v.forward(a.view(), threads);
        if dims.positions == 0 {
            apply_rope(&mut q, dims.heads, dims.head_dim, pos0);
            apply_rope(&mut k, dims.kv_heads, dims.head_dim, pos0);
        }
        let d = dims.head_dim;
        for g in 0..dims.kv_heads {
            cache
                .keys
                .slice_mut(s![g, pos0..pos0 + n, ..])
                .assign(&k.slice(s![.., g * d..(g + 1) * d]));
            cache
                .values
                .slice_mut(s![g, pos0..pos0 + n, ..])
                .assign(&v.slice(s![.., g * d..(g + 1) * d]));
        }
        cache.len += n;
        let att = attention(q.view(), cache, dims, threads);
        let mut x = x.to_owned() + self.o.forward(att.view(), threads);
        let b = self.norm2.forward(x.view());
        let mut inner = self.up.forward(b.view(), threads);
        match &self.gate {
            Some(gate) => {
                let g = gate.forward(b.view(), threads);
                inner.zip_mut_with(&g, |u, &g| *u *= silu(g));
            }
            None => inner.mapv_inplace(gelu),
        }
        x += &self.down.forward(inner.view(), threads);
        x
    }
}

/// The token embedding (and learned positions).
#[derive(Debug, Clone)]
pub struct Embedding {
    tokens: Array2<f32>,
    positions: Option<Array2<f32>>,
}

impl Embedding {
    /// Random tables.
    pub fn random(dims: &Dims, seed: u64) -> Embedding {
        Embedding {
            tokens: random_matrix(dims.vocab, dims.hidden, 1.0, seed),
            positions: (dims.positions > 0)
                .then(|| random_matrix(dims.positions, dims.hidden, 0.1, seed ^ 7)),
        }
    }

    /// Rows for `ids` at positions `pos0..`; ids wrap modulo the vocabulary.
    pub fn forward(&self, ids: &[u32], pos0: usize) -> Array2<f32> {
        let mut x = Array2::<f32>::zeros((ids.len(), self.tokens.ncols()));
        for (t, (&id, mut row)) in ids.iter().zip(x.rows_mut()).enumerate() {
            row.assign(&self.tokens.row(id as usize % self.tokens.nrows()));
            if let Some(p) = &self.positions {
                row += &p.row((pos0 + t) % p.nrows());
            }
        }
        x
    }
}

/// The final norm and the vocabulary projection.
#[derive(Debug, Clone)]
pub struct Head {
    norm: Norm,
    lm: Linear,
}

impl Head {
    /// Random weights.
    pub fn random(dims: &Dims, seed: u64) -> Head {
        Head {
            norm: Norm::random(dims.norm, dims.hidden, seed ^ 1),
            lm: Linear::random(dims.vocab, dims.hidden, false, seed ^ 2),
        }
    }

    /// Logits of the last row of `x`.
    pub fn logits(&self, x: ArrayView2<f32>, threads: usize) -> Array1<f32> {
        let last = x.slice(s![x.nrows() - 1.., ..]);
        let a = self.norm.forward(last);
        self.lm.forward(a.view(), threads).row(0).to_owned()
    }

    /// The arg-max token of the last row of `x`.
    pub fn next_token(&self, x: ArrayView2<f32>, threads: usize) -> u32 {
        argmax(self.logits(x, threads).view())
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: ArrayView1<f32>) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// One row of the cost table with its weights.
#[derive(Debug, Clone)]
pub enum Layer {
    /// Row 0.
    Embed(Embedding),
    /// A block.
    Block(Box<Block>),
    /// The last row.
    Head(Head),
}

/// What flows between layers.
#[derive(Debug, Clone, PartialEq)]
pub enum Activation {
    /// Token ids (into the embedding).
    Tokens(Vec<u32>),
    /// Hidden states, tokens x hidden.
    Hidden(Array2<f32>),
    /// The sampled token (out of the head).
    Sampled(u32),
}

impl Activation {
    /// Bytes of the payload as it crosses a link: 4 per token id, 4 per fp32 value.
    pub fn bytes(&self) -> usize {
        match self {
            Activation::Tokens(ids) => 4 * ids.len(),
            Activation::Hidden(x) => 4 * x.len(),
            Activation::Sampled(_) => 4,
        }
    }
}

impl Layer {
    /// Random weights of table row `layer` of `dims`, seeded from `seed` and the row.
    pub fn random(dims: &Dims, layer: usize, seed: u64) -> Layer {
        let seed = seed ^ (layer as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        match dims.kind(layer) {
            LayerKind::Embed => Layer::Embed(Embedding::random(dims, seed)),
            LayerKind::Head => Layer::Head(Head::random(dims, seed)),
            _ => Layer::Block(Box::new(Block::random(dims, seed))),
        }
    }

    /// Runs the layer. `pos0` is the position of the first token (the embedding's learned
    /// positions); a block appends to `cache` (which must be `Some`).
    ///
    /// # Panics
    /// On an input of the wrong kind for the layer (a programming error, not user data).
    pub fn forward(
        &self,
        input: &Activation,
        cache: Option<&mut KvCache>,
        dims: &Dims,
        pos0: usize,
        threads: usize,
    ) -> Activation {
        match (self, input) {
            (Layer::Embed(e), Activation::Tokens(ids)) => Activation::Hidden(e.forward(ids, pos0)),
            (Layer::Block(b), Activation::Hidden(x)) => Activation::Hidden(b.forward(
                x.view(),
                cache.expect("a block needs its KV cache"),
                dims,
                threads,
            )),
            (Layer::Head(h), Activation::Hidden(x)) => {
                Activation::Sampled(h.next_token(x.view(), threads))
            }
            (layer, input) => panic!(
                "layer {} cannot take {}",
                match layer {
                    Layer::Embed(_) => "embed",
                    Layer::Block(_) => "block",
                    Layer::Head(_) => "head",
                },
                match input {
                    Activation::Tokens(_) => "token ids",
                    Activation::Hidden(_) => "hidden states",
                    Activation::Sampled(_) => "a sampled token",
                }
            ),
        }
    }
}

/// Runs `threads`-way work on a pool of that many threads (rayon's work inside uses it).
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .expect("a rayon pool of a few threads can be built")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(heads: usize, kv_heads: usize, mlp: MlpKind, norm: NormKind, positions: usize) -> Dims {
        Dims {
            blocks: 2,
            hidden: 32,
            heads,
            kv_heads,
            head_dim: 8,
            intermediate: 48,
            vocab: 50,
            mlp,
            norm,
            positions,
            qkv_bias: true,
            o_bias: true,
            mlp_bias: false,
        }
    }

    fn close(a: &Array2<f32>, b: &Array2<f32>, tol: f32) -> bool {
        a.shape() == b.shape()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
    }

    /// Naive attention: explicit loops over heads, queries and keys, the causal mask written out,
    /// and the key/value head of query head `h` computed as `h * kv_heads / heads`.
    fn naive_attention(q: &Array2<f32>, cache: &KvCache, dims: &Dims) -> Array2<f32> {
        let (n, d) = (q.nrows(), dims.head_dim);
        let first = cache.len - n;
        let mut out = Array2::zeros((n, dims.heads * d));
        for h in 0..dims.heads {
            let g = h * dims.kv_heads / dims.heads;
            for t in 0..n {
                let pos = first + t;
                let mut weights = Vec::new();
                for j in 0..=pos {
                    let mut dot = 0.0;
                    for i in 0..d {
                        dot += q[[t, h * d + i]] * cache.keys[[g, j, i]];
                    }
                    weights.push(dot / (d as f32).sqrt());
                }
                let max = weights.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = weights.iter().map(|w| (w - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                for i in 0..d {
                    out[[t, h * d + i]] = (0..=pos)
                        .map(|j| exp[j] / sum * cache.values[[g, j, i]])
                        .sum();
                }
            }
        }
        out
    }

    /// Attention equals the naive reference for multi-head, grouped-query and multi-query
    /// layouts, in prefill (several new tokens after a cached prefix) and decode (one token), on
    /// one and on two threads.
    #[test]
    fn attention_matches_the_naive_reference() {
        for (heads, kv) in [(4, 4), (4, 2), (4, 1)] {
            let dims = tiny(heads, kv, MlpKind::Swiglu, NormKind::Rmsnorm, 0);
            for (cached, new) in [(0, 5), (3, 4), (9, 1)] {
                let mut cache = KvCache::random(&dims, 16, cached + new, 11);
                cache.len = cached + new;
                let q = random_matrix(new, heads * 8, 1.0, 5);
                let expected = naive_attention(&q, &cache, &dims);
                for threads in [1, 2] {
                    let got = pool(threads).install(|| attention(q.view(), &cache, &dims, threads));
                    assert!(close(&got, &expected, 1e-5), "{heads}/{kv} {cached}+{new}");
                }
            }
        }
    }

    /// The parallel GEMM and GEMV equal a plain triple loop (with the bias).
    #[test]
    fn linear_matches_the_naive_product() {
        let lin = Linear::random(37, 19, true, 3);
        for n in [1, 6] {
            let x = random_matrix(n, 19, 1.0, 4);
            let mut expected = Array2::zeros((n, 37));
            for t in 0..n {
                for o in 0..37 {
                    expected[[t, o]] = (0..19).map(|i| x[[t, i]] * lin.weight[[o, i]]).sum::<f32>()
                        + lin.bias.as_ref().unwrap()[o];
                }
            }
            for threads in [1, 2, 3] {
                let got = pool(threads).install(|| lin.forward(x.view(), threads));
                assert!(close(&got, &expected, 1e-5), "n {n} threads {threads}");
            }
        }
    }

    /// RoPE preserves norms and makes the query-key product depend only on the distance between
    /// positions: <R(m) q, R(n) k> = <R(m+s) q, R(n+s) k>.
    #[test]
    fn rope_is_relative() {
        let q = random_matrix(1, 8, 1.0, 1);
        let k = random_matrix(1, 8, 1.0, 2);
        let dot_at = |m: usize, n: usize| {
            let (mut a, mut b) = (q.clone(), k.clone());
            apply_rope(&mut a, 1, 8, m);
            apply_rope(&mut b, 1, 8, n);
            assert!((a.row(0).dot(&a.row(0)) - q.row(0).dot(&q.row(0))).abs() < 1e-4);
            a.row(0).dot(&b.row(0))
        };
        for (m, n, s) in [(3, 1, 7), (0, 5, 100), (12, 12, 3)] {
            assert!(
                (dot_at(m, n) - dot_at(m + s, n + s)).abs() < 1e-3,
                "{m} {n} {s}"
            );
        }
        assert!(
            (dot_at(3, 1) - dot_at(1, 3)).abs() > 1e-4,
            "rotation direction matters"
        );
    }

    /// A prompt processed at once, then one decode step with the KV cache, gives the same hidden
    /// state for the new token as recomputing the whole sequence without a cache, for both block
    /// styles (Llama: RMSNorm, RoPE, GQA, SwiGLU; GPT-2: LayerNorm, learned positions, GELU).
    #[test]
    fn kv_cache_decode_equals_full_recomputation() {
        for dims in [
            tiny(4, 2, MlpKind::Swiglu, NormKind::Rmsnorm, 0),
            tiny(4, 4, MlpKind::Gelu, NormKind::Layernorm, 64),
        ] {
            let layers: Vec<Layer> = (0..dims.layers())
                .map(|l| Layer::random(&dims, l, 9))
                .collect();
            let ids: Vec<u32> = vec![3, 17, 5, 42, 8, 1, 29];
            let run = |chunks: &[&[u32]]| -> (Array2<f32>, u32) {
                let mut caches: Vec<KvCache> =
                    (0..dims.blocks).map(|_| KvCache::new(&dims, 16)).collect();
                let mut pos = 0;
                let mut last = None;
                for chunk in chunks {
                    let mut x = Activation::Tokens(chunk.to_vec());
                    for (l, layer) in layers.iter().enumerate().take(dims.blocks + 1) {
                        let cache = (l >= 1).then(|| &mut caches[l - 1]);
                        x = layer.forward(&x, cache, &dims, pos, 1);
                    }
                    pos += chunk.len();
                    last = Some(x);
                }
                let Some(Activation::Hidden(h)) = last else {
                    panic!("hidden expected")
                };
                let token = match layers[dims.blocks + 1].forward(
                    &Activation::Hidden(h.clone()),
                    None,
                    &dims,
                    0,
                    1,
                ) {
                    Activation::Sampled(t) => t,
                    _ => panic!("token expected"),
                };
                (h, token)
            };
            let (full, token_full) = run(&[&ids]);
            let (step, token_step) = run(&[&ids[..6], &ids[6..]]);
            let last_full = full.slice(s![6..7, ..]).to_owned();
            assert!(close(&step, &last_full, 1e-4), "{:?}", dims.norm);
            assert_eq!(token_full, token_step);
            // Three decode steps after a prompt of four tokens, too.
            let (steps, _) = run(&[&ids[..4], &ids[4..5], &ids[5..6], &ids[6..]]);
            assert!(close(&steps, &last_full, 1e-4));
        }
    }

    /// Norms: RMSNorm of a constant row is the weight times its sign; LayerNorm output has zero
    /// mean before the affine map.
    #[test]
    fn norms() {
        let mut n = Norm::random(NormKind::Rmsnorm, 4, 1);
        n.weight = Array1::from(vec![1.0, 2.0, 3.0, 4.0]);
        let y = n.forward(Array2::from_elem((1, 4), -2.0).view());
        for (i, v) in y.iter().enumerate() {
            assert!((v + (i as f32 + 1.0)).abs() < 1e-4);
        }
        let mut l = Norm::random(NormKind::Layernorm, 4, 1);
        l.weight = Array1::ones(4);
        l.bias = Array1::zeros(4);
        let y = l.forward(
            Array2::from_shape_vec((1, 4), vec![1.0, 2.0, 3.0, 6.0])
                .unwrap()
                .view(),
        );
        assert!(y.sum().abs() < 1e-5);
        assert!((y.mapv(|v| v * v).sum() / 4.0 - 1.0).abs() < 1e-3);
    }
}
