using MLNetLlmClassifier.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetLlmClassifier.Qwen3;

// Qwen3 decoder, a port of transformers' modeling_qwen3.py (v4.57) to TorchSharp.
// Field names are the Hugging Face parameter names, so the state dict keys are exactly those of a Qwen3
// checkpoint: model.embed_tokens.weight, model.layers.0.self_attn.q_proj.weight, ..., model.norm.weight,
// lm_head.weight (absent when tie_word_embeddings). Shapes, with D = hidden_size, Hq/Hkv = query/key-value
// heads, d = head_dim, V = vocab_size, I = intermediate_size:
//
//   ids [B,T] -> embed_tokens [V,D] -> N x Qwen3DecoderLayer -> norm -> lm_head [V,D] -> logits [B,T,V]
//   Qwen3DecoderLayer: x = x + o_proj(attention(rope(q_norm(q_proj(rms(x)))), rope(k_norm(k_proj(rms(x)))), v_proj(rms(x))))
//                      x = x + down_proj(silu(gate_proj(rms(x))) * up_proj(rms(x)))

/// <summary>
/// Root-mean-square layer norm as Hugging Face's <c>Qwen3RMSNorm</c>: <c>weight * (x / sqrt(mean(x^2) + eps))</c>,
/// normalised in float32 whatever the input dtype and cast back to it <b>before</b> the weight multiply.
/// Its only parameter is <c>weight</c> (initialised to ones).
/// </summary>
public sealed class Qwen3RMSNorm : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    private readonly double eps;

    /// <summary>Creates the norm over the last dimension of size <paramref name="size"/>.</summary>
    public Qwen3RMSNorm(long size, double eps, Device? device = null, ScalarType dtype = ScalarType.Float32) : base(nameof(Qwen3RMSNorm))
    {
        weight = new Parameter(torch.ones(size, dtype: dtype, device: device));
        this.eps = eps;
        RegisterComponents();
    }

    /// <summary>Normalises <paramref name="x"/> over its last dimension.</summary>
    public override Tensor forward(Tensor x)
    {
        using var phase = StepProfiler.Measure("rms norm");
        using var scope = NewDisposeScope();
        var h = x.to(ScalarType.Float32);
        h = h * torch.rsqrt(h.pow(2).mean([-1], keepdim: true) + eps);
        return (weight * h.to(x.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>Grouped-query self-attention with per-head q/k RMSNorm (Qwen3's addition to Qwen2) and rotary embeddings.</summary>
public sealed class Qwen3Attention : nn.Module<Tensor, Tensor, Tensor, Tensor?, Tensor>
{
    public Linear q_proj, k_proj, v_proj, o_proj;
    public Qwen3RMSNorm q_norm, k_norm;
    private readonly int numHeads, numKvHeads, headDim;
    private readonly double dropout;

    internal Qwen3Attention(Qwen3Config c, Device? device, ScalarType dtype) : base(nameof(Qwen3Attention))
    {
        (numHeads, numKvHeads, headDim, dropout) = (c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.AttentionDropout);
        // Note o_proj maps Hq*d back to D, and Hq*d need not equal D (0.6B: 16*128 = 2048 vs 1024).
        q_proj = nn.Linear(c.HiddenSize, numHeads * headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
        k_proj = nn.Linear(c.HiddenSize, numKvHeads * headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
        v_proj = nn.Linear(c.HiddenSize, numKvHeads * headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
        o_proj = nn.Linear(numHeads * headDim, c.HiddenSize, hasBias: c.AttentionBias, device: device, dtype: dtype);
        q_norm = new Qwen3RMSNorm(headDim, c.RmsNormEps, device, dtype);
        k_norm = new Qwen3RMSNorm(headDim, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B,T,D] normalised input.</param>
    /// <param name="cos">[B,T,d] rotary cosines.</param>
    /// <param name="sin">[B,T,d] rotary sines.</param>
    /// <param name="mask">[B,1,T,T] boolean (true = may attend), or null for plain causal attention.</param>
    /// <returns>[B,T,D].</returns>
    public override Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask)
    {
        using var phase = StepProfiler.Measure("attention (q/k/v/o projections)");
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var (q, k, v) = Project(x, cos, sin);
        // GQA: query head h uses key/value head h / (Hq/Hkv), i.e. HF's repeat_kv = repeat_interleave on the head axis.
        int groups = numHeads / numKvHeads;
        if (groups > 1)
        {
            using var gqa = StepProfiler.Measure("attention (GQA key/value repeat)");
            k = k.repeat_interleave(groups, dim: 1);
            v = v.repeat_interleave(groups, dim: 1);
        }
        // Scale 1/sqrt(d) (SDPA's default = HF's head_dim**-0.5). Fused kernels accumulate the softmax in float32 for bf16 inputs.
        Tensor y;
        using (StepProfiler.Measure("attention (SDPA)"))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask: mask, p: training ? dropout : 0.0, is_casual: mask is null)
                .transpose(1, 2).reshape(b, t, numHeads * headDim);
        return o_proj.call(y).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Attention of x's positions over the keys and values of the positions before them (a prompt prefix shared by the batch,
    /// from <see cref="Qwen3Model.PrefixKeysValues"/>) followed by their own. Keys and values stay in key/value-head form: for GQA
    /// the G query heads that share a key/value head are stacked along the query axis instead of copying keys and values G times.
    /// </summary>
    /// <param name="x">[B,T,D] normalised input at positions P..P+T-1.</param>
    /// <param name="cos">[B,T,d] rotary cosines of those positions.</param>
    /// <param name="sin">[B,T,d] rotary sines.</param>
    /// <param name="mask">[B or 1,1,T,P+T] boolean over the keys [past ; own], true = may attend.</param>
    /// <param name="past">Keys and values [1 or B,Hkv,P,d] of positions 0..P-1 (after k_norm and rotary), or null when P = 0.</param>
    /// <returns>[B,T,D], and x's own keys and values [B,Hkv,T,d] (what a later row would attend to).</returns>
    internal (Tensor Output, Tensor Keys, Tensor Values) ForwardAfter(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor Keys, Tensor Values)? past)
    {
        using var phase = StepProfiler.Measure("attention (q/k/v/o projections)");
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var (q, k, v) = Project(x, cos, sin);
        var (keys, values) = (k, v);
        if (past is var (pastKeys, pastValues))
        {
            keys = torch.cat([pastKeys.expand(b, -1, -1, -1), k], 2);                                  // [B,Hkv,P+T,d]
            values = torch.cat([pastValues.expand(b, -1, -1, -1), v], 2);
        }
        int groups = numHeads / numKvHeads;
        var grouped = q.reshape(b, numKvHeads, groups * t, headDim);                                  // [B,Hkv,G*T,d]: head h = kv*G + g
        Tensor y;
        using (StepProfiler.Measure("attention (SDPA)"))
            y = F.scaled_dot_product_attention(grouped, keys, values, attn_mask: mask.repeat(1, 1, groups, 1), p: training ? dropout : 0.0)
                .view(b, numHeads, t, headDim).transpose(1, 2).reshape(b, t, numHeads * headDim);
        return (o_proj.call(y).MoveToOuterDisposeScope(), k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope());
    }

    // q [B,Hq,T,d] and k, v [B,Hkv,T,d] of x: projected, q and k normalised per head and rotated.
    private (Tensor Q, Tensor K, Tensor V) Project(Tensor x, Tensor cos, Tensor sin)
    {
        long b = x.shape[0], t = x.shape[1];
        // q_norm/k_norm normalise each head's d values, BEFORE the rotation (HF: q_norm(q_proj(x).view(...)).transpose(1, 2)).
        var q = q_norm.call(q_proj.call(x).view(b, t, numHeads, headDim)).transpose(1, 2);      // [B,Hq,T,d]
        var k = k_norm.call(k_proj.call(x).view(b, t, numKvHeads, headDim)).transpose(1, 2);    // [B,Hkv,T,d]
        var v = v_proj.call(x).view(b, t, numKvHeads, headDim).transpose(1, 2);                  // [B,Hkv,T,d]
        using (StepProfiler.Measure("rotary (apply)"))
            return (ApplyRotary(q, cos, sin), ApplyRotary(k, cos, sin), v);
    }

    // HF apply_rotary_pos_emb with the rotate_half convention: the first and second halves of each head form the pairs.
    private static Tensor ApplyRotary(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var rotated = torch.cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
    }
}

/// <summary>The gated MLP: <c>down_proj(silu(gate_proj(x)) * up_proj(x))</c>, no biases.</summary>
public sealed class Qwen3MLP : nn.Module<Tensor, Tensor>
{
    public Linear gate_proj, up_proj, down_proj;

    internal Qwen3MLP(Qwen3Config c, Device? device, ScalarType dtype) : base(nameof(Qwen3MLP))
    {
        gate_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        up_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        down_proj = nn.Linear(c.IntermediateSize, c.HiddenSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>[...,D] to [...,D].</summary>
    public override Tensor forward(Tensor x)
    {
        using var phase = StepProfiler.Measure("mlp");
        using var scope = NewDisposeScope();
        return down_proj.call(F.silu(gate_proj.call(x)) * up_proj.call(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>One pre-norm decoder block: attention and MLP, each with a residual connection.</summary>
public sealed class Qwen3DecoderLayer : nn.Module<Tensor, Tensor, Tensor, Tensor?, Tensor>
{
    public Qwen3Attention self_attn;
    public Qwen3MLP mlp;
    public Qwen3RMSNorm input_layernorm, post_attention_layernorm;

    internal Qwen3DecoderLayer(Qwen3Config c, Device? device, ScalarType dtype) : base(nameof(Qwen3DecoderLayer))
    {
        self_attn = new Qwen3Attention(c, device, dtype);
        mlp = new Qwen3MLP(c, device, dtype);
        input_layernorm = new Qwen3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        post_attention_layernorm = new Qwen3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    /// <summary>[B,T,D] to [B,T,D]; see <see cref="Qwen3Attention.forward"/> for the other arguments.</summary>
    public override Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.call(input_layernorm.call(x), cos, sin, mask);
        return (h + mlp.call(post_attention_layernorm.call(h))).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="forward"/> after a shared prefix (see <see cref="Qwen3Attention.ForwardAfter"/>); also returns x's keys and values.</summary>
    internal (Tensor Output, Tensor Keys, Tensor Values) ForwardAfter(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor Keys, Tensor Values)? past)
    {
        using var scope = NewDisposeScope();
        var (a, k, v) = self_attn.ForwardAfter(input_layernorm.call(x), cos, sin, mask, past);
        var h = x + a;
        return ((h + mlp.call(post_attention_layernorm.call(h))).MoveToOuterDisposeScope(), k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope());
    }
}

/// <summary>The transformer body (HF <c>Qwen3Model</c>, prefix <c>model.</c>): embeddings, decoder layers and the final norm.</summary>
public sealed class Qwen3Model : nn.Module<Tensor, Tensor?, Tensor>, ICheckpointableModule
{
    public Embedding embed_tokens;
    public ModuleList<Qwen3DecoderLayer> layers;
    public Qwen3RMSNorm norm;
    private readonly int headDim, vocabSize;
    private readonly double ropeTheta;
    private readonly double attentionDropout;
    private bool checkpointing;

    // Off by default; the training loop sets it from TransformerTrainerOptions.GradientCheckpointing.
    bool ICheckpointableModule.GradientCheckpointing { get => checkpointing; set => checkpointing = value; }

    internal Qwen3Model(Qwen3Config c, Device? device, ScalarType dtype) : base(nameof(Qwen3Model))
    {
        vocabSize = c.VocabSize;
        // HF passes pad_token_id as padding_idx (no gradient to that row; zero at init). Qwen3 configs have no pad_token_id.
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize, padding_idx: c.PadTokenId, device: device, dtype: dtype);
        layers = new ModuleList<Qwen3DecoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new Qwen3DecoderLayer(c, device, dtype)).ToArray());
        norm = new Qwen3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        (headDim, ropeTheta, attentionDropout) = (c.HeadDim, c.RopeTheta, c.AttentionDropout);
        RegisterComponents();
    }

    /// <summary>Final-norm hidden states.</summary>
    /// <param name="inputIds">[B,T] int64 token ids.</param>
    /// <param name="attentionMask">[B,T] with 1 (or true) on real tokens and 0 on padding, or null when no row is padded.</param>
    /// <returns>[B,T,D] in the model's dtype.</returns>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], t = inputIds.shape[1];
        var device = inputIds.device;
        var maskPhase = StepProfiler.Measure("mask, positions, rotary table");
        Tensor positionIds;
        Tensor? mask = null;
        if (attentionMask is null)
        {
            positionIds = torch.arange(t, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(b, t);
        }
        else
        {
            (positionIds, var own) = PositionsAndMask(attentionMask.ne(0), offset: 0);
            mask = own;
        }
        var (cos, sin) = RotaryCosSin(positionIds, embed_tokens.weight!.dtype);
        maskPhase.Dispose();

        Tensor h;
        using (StepProfiler.Measure("embedding"))
            h = embed_tokens.call(inputIds);
        // Gradient checkpointing keeps only each layer's input and recomputes the layer in backward (training with gradients only).
        bool checkpoint = checkpointing && training && torch.is_grad_enabled();
        foreach (var layer in layers)
        {
            var next = checkpoint
                ? ActivationCheckpoint.Run(layer, (x, c) => layer.call(x, c[0]!, c[1]!, c[2]), h, attentionDropout > 0, cos, sin, mask)
                : layer.call(h, cos, sin, mask);
            h.Dispose(); // autograd keeps what it needs; this only frees the handle early
            h = next;
        }
        return norm.call(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="forward"/> after checking the inputs (the entry point of the task models, <see cref="Qwen3ForCausalLM"/> and
    /// <see cref="Qwen3ForSequenceClassification"/>): int32 ids are converted, and ids and mask are moved to the embedding's device.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong rank or dtype, mismatched mask, or a token id outside the vocabulary (the message names row and position).</exception>
    internal Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        if (inputIds.dim() != 2) throw new ArgumentException($"inputIds must be [batch, time], got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        if (inputIds.shape[1] == 0) throw new ArgumentException("inputIds has no positions (time = 0).", nameof(inputIds));
        if (inputIds.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"inputIds must hold int64 token ids, got {inputIds.dtype}.", nameof(inputIds));
        var device = embed_tokens.weight!.device;
        var ids = inputIds.to(ScalarType.Int64).to(device);
        CheckIndices(ids, vocabSize, "inputIds", "token id");
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"attentionMask shape [{string.Join(", ", attentionMask.shape)}] differs from inputIds shape [{string.Join(", ", inputIds.shape)}].", nameof(attentionMask));
        return call(ids, attentionMask?.to(device)).MoveToOuterDisposeScope();
    }

    /// <summary>Position ids and the boolean attention mask [B,1,T,T] of rows whose real tokens are <paramref name="real"/> [B,T].</summary>
    /// <remarks>Positions count real tokens only, from <paramref name="offset"/>, so a row gets the positions it would get alone, whether
    /// it is padded on the right or on the left (HF's generate() does the same; its forward uses 0..T-1). The mask is causal and not
    /// padding; the diagonal is always allowed so that a padding query (left padding: no real key before it) gets a finite, ignored
    /// output instead of a NaN from an all-masked softmax row.</remarks>
    private static (Tensor PositionIds, Tensor Mask) PositionsAndMask(Tensor real, long offset)
    {
        long b = real.shape[0], t = real.shape[1];
        var positionIds = (real.to(ScalarType.Int64).cumsum(1) - 1).clamp_min(0);
        if (offset != 0) positionIds += offset;
        var causal = torch.ones(t, t, dtype: ScalarType.Bool, device: real.device).tril();
        return (positionIds, (causal & real.view(b, 1, 1, t)) | torch.eye(t, dtype: ScalarType.Bool, device: real.device));
    }

    /// <summary>
    /// Every layer's keys and values of one unpadded prefix at positions 0..P-1 (after k_norm and rotary, in key/value-head form):
    /// what the rows that start with it attend to in <see cref="HiddenStatesAfter"/>, computed once for the batch.
    /// </summary>
    /// <param name="prefixIds">[1,P] int64 token ids on the model's device.</param>
    internal PrefixKeysValues PrefixKeysValues(Tensor prefixIds)
    {
        using var phase = StepProfiler.Measure("prompt prefix keys/values");
        using var scope = NewDisposeScope();
        long p = prefixIds.shape[1];
        var device = prefixIds.device;
        var (cos, sin) = RotaryCosSin(torch.arange(p, dtype: ScalarType.Int64, device: device).unsqueeze(0), embed_tokens.weight!.dtype);
        var causal = torch.ones(p, p, dtype: ScalarType.Bool, device: device).tril().view(1, 1, p, p);
        var h = embed_tokens.call(prefixIds);
        var (keys, values) = (new Tensor[layers.Count], new Tensor[layers.Count]);
        for (int i = 0; i < layers.Count; i++)
        {
            (h, keys[i], values[i]) = layers[i].ForwardAfter(h, cos, sin, causal, past: null);
            keys[i].MoveToOuterDisposeScope();
            values[i].MoveToOuterDisposeScope();
        }
        return new PrefixKeysValues(keys, values);
    }

    /// <summary>
    /// Final-norm hidden states of rows that continue <paramref name="prefix"/>: each row's tokens are at positions P, P+1, … and
    /// attend to the prefix's keys and values (shared by the batch) and causally to their own. Row b's hidden state i equals
    /// <see cref="forward"/>'s at position P + i over the prefix followed by the row.
    /// </summary>
    /// <param name="prefix">From <see cref="PrefixKeysValues"/>: P positions.</param>
    /// <param name="inputIds">[B,S] int64 ids of what follows the prefix, right-padded, on the model's device.</param>
    /// <param name="attentionMask">[B,S], 1 on real tokens and 0 on (right) padding, or null when nothing is padded.</param>
    /// <returns>[B,S,D] in the model's dtype.</returns>
    internal Tensor HiddenStatesAfter(PrefixKeysValues prefix, Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], s = inputIds.shape[1], p = prefix.Length;
        var device = inputIds.device;
        var maskPhase = StepProfiler.Measure("mask, positions, rotary table");
        var (positionIds, own) = PositionsAndMask(attentionMask?.ne(0) ?? torch.ones(b, s, dtype: ScalarType.Bool, device: device), offset: p);
        // Every prefix key, then causal and not padding within the row.
        var mask = torch.cat([torch.ones(b, 1, s, p, dtype: ScalarType.Bool, device: device), own], -1);         // [B,1,S,P+S]
        var (cos, sin) = RotaryCosSin(positionIds, embed_tokens.weight!.dtype);
        maskPhase.Dispose();

        Tensor h;
        using (StepProfiler.Measure("embedding"))
            h = embed_tokens.call(inputIds);
        for (int i = 0; i < layers.Count; i++)
        {
            var next = layers[i].ForwardAfter(h, cos, sin, mask, (prefix.Keys[i], prefix.Values[i])).Output;
            h.Dispose(); // autograd keeps what it needs; this only frees the handle early
            h = next;
        }
        return norm.call(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Hugging Face's <c>_init_weights</c> on every submodule of <paramref name="root"/> (a task model: the backbone and its head):
    /// Linear and Embedding weights ~ N(0, initializer_range), Linear biases 0, RMSNorm weights 1, the padding_idx row (if any) 0.
    /// Values are drawn on the CPU in float32 from a generator seeded with <paramref name="seed"/>, one parameter at a time in
    /// module order, then copied (and rounded) into the parameter, so peak extra memory is one float32 tensor.
    /// </summary>
    internal static void InitializeWeights(nn.Module root, Qwen3Config config, int seed)
    {
        using var noGrad = torch.no_grad();
        using var generator = new Generator((ulong)seed);
        foreach (var (_, module) in root.named_modules())
        {
            switch (module)
            {
                case Linear linear:
                    Normal(linear.weight!);
                    linear.bias?.zero_();
                    break;
                case Embedding embedding:
                    Normal(embedding.weight!);
                    if (config.PadTokenId is int pad) embedding.weight![pad].zero_();
                    break;
                case Qwen3RMSNorm rms:
                    rms.weight.fill_(1.0);
                    break;
            }
        }

        void Normal(Tensor weight)
        {
            using var values = torch.empty(weight.shape, dtype: ScalarType.Float32).normal_(0.0, config.InitializerRange, generator);
            weight.copy_(values);
        }
    }

    // Out-of-range indices would surface as an opaque libtorch error (a device-side assert on CUDA): name the culprit instead.
    internal static void CheckIndices(Tensor indices, long upper, string argument, string what)
    {
        using var phase = StepProfiler.Measure("input checks (host sync)");
        if (indices.numel() == 0) return;
        if (indices.min().item<long>() >= 0 && indices.max().item<long>() < upper) return;
        var bad = (indices.lt(0) | indices.ge(upper)).nonzero()[0].cpu().data<long>().ToArray();
        long value = indices[bad.Select(i => TensorIndex.Single(i)).ToArray()].item<long>();
        throw new ArgumentException($"{argument}[{string.Join(", ", bad)}] = {value}: {what} outside [0, {upper}).", argument);
    }

    // HF Qwen3RotaryEmbedding (rope_type "default"): inv_freq[i] = 1 / theta^(2i/d), angle = position * inv_freq, computed in
    // float32 whatever the model dtype; each angle appears twice (cat(freqs, freqs)) to match rotate_half. cos/sin [B,T,d].
    private (Tensor cos, Tensor sin) RotaryCosSin(Tensor positionIds, ScalarType dtype)
    {
        var exponent = torch.arange(0, headDim, 2, dtype: ScalarType.Int64, device: positionIds.device).to(ScalarType.Float32) / headDim;
        var invFreq = torch.full_like(exponent, ropeTheta).pow(exponent).reciprocal();
        var freqs = positionIds.to(ScalarType.Float32).unsqueeze(-1) * invFreq;   // [B,T,d/2]
        var emb = torch.cat([freqs, freqs], -1);
        return (emb.cos().to(dtype), emb.sin().to(dtype));
    }
}

/// <summary>
/// Qwen3 causal language model with Hugging Face semantics and parameter names (<c>model.*</c>, <c>lm_head.weight</c>),
/// so that a Hugging Face <c>Qwen3ForCausalLM</c> checkpoint loads strictly and gives the same outputs.
/// </summary>
/// <remarks>
/// Works in float32 and bfloat16 (<c>model.to(ScalarType.BFloat16)</c> or the <c>dtype</c> argument): RMSNorm statistics and
/// rotary angles are computed in float32 inside. Padded batches (right or left padding, attention mask 1 = real token) give each
/// row the result it would have alone. The forward returns full logits; classifiers should call <see cref="HiddenStates"/> then
/// <see cref="LogitsAt"/>, which projects only the positions and vocabulary rows asked for.
/// </remarks>
public sealed partial class Qwen3ForCausalLM : nn.Module<Tensor, Tensor>
{
    public Qwen3Model model;
    /// <summary>The LM head; null when <see cref="Qwen3Config.TieWordEmbeddings"/>, in which case the head is <c>model.embed_tokens.weight</c>
    /// and the state dict has no <c>lm_head.weight</c> (as in HF checkpoints).</summary>
    public Linear? lm_head;

    /// <summary>A copy of the configuration the model was built from.</summary>
    public Qwen3Config Config { get; }

    /// <summary>Builds a model with Hugging Face's initialisation, drawn from <paramref name="seed"/>.</summary>
    /// <param name="config">The architecture; validated (clear errors for unsupported settings).</param>
    /// <param name="seed">Seed of the weight initialisation (same weights for the same seed on every device and dtype, up to rounding to the dtype).</param>
    /// <param name="device">Where the parameters live (default CPU).</param>
    /// <param name="dtype">Parameter dtype: Float32 (default), BFloat16 or Float16.</param>
    public Qwen3ForCausalLM(Qwen3Config config, int seed, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : this(config, device, dtype)
    {
        InitializeWeights(seed);
    }

    // Leaves TorchSharp's default initialisation in place: for callers that load every parameter right after.
    private Qwen3ForCausalLM(Qwen3Config config, Device? device, ScalarType dtype) : base(nameof(Qwen3ForCausalLM))
    {
        config.Validate();
        _ = Qwen3Config.DtypeName(dtype);
        if (device is null || device.type == DeviceType.CPU)
            CheckFitsInMemory(config, dtype, "Qwen3Config");
        Config = config.Clone();
        model = new Qwen3Model(Config, device, dtype);
        if (!Config.TieWordEmbeddings)
            lm_head = nn.Linear(Config.HiddenSize, Config.VocabSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Refuses a model whose parameters in <paramref name="dtype"/> exceed the memory available (CPU builds).</summary>
    internal static void CheckFitsInMemory(Qwen3Config config, ScalarType dtype, string source) =>
        Checkpoints.ModelSizeGuard.CheckFitsInMemory(source, config.SizeTerms(), dtype == ScalarType.Float32 ? 4 : 2, Qwen3Config.DtypeName(dtype));

    /// <summary>The [V,D] matrix that maps final hidden states to logits: <c>lm_head.weight</c>, or <c>model.embed_tokens.weight</c> when tied.</summary>
    public Tensor LmHeadWeight => (lm_head is null ? model.embed_tokens.weight : lm_head.weight)!;

    /// <summary>The device of the parameters.</summary>
    public Device Device => model.embed_tokens.weight!.device;

    /// <summary>The dtype of the parameters.</summary>
    public ScalarType Dtype => model.embed_tokens.weight!.dtype;

    /// <summary>
    /// Hugging Face's <c>_init_weights</c>: Linear and Embedding weights ~ N(0, initializer_range), Linear biases 0, RMSNorm weights 1,
    /// the padding_idx row (if any) 0. Values are drawn on the CPU in float32 from a generator seeded with <paramref name="seed"/>,
    /// one parameter at a time, then copied (and rounded) into the parameter, so peak extra memory is one float32 tensor.
    /// </summary>
    public void InitializeWeights(int seed) => Qwen3Model.InitializeWeights(this, Config, seed);

    /// <summary>Final-norm hidden states (the input of the LM head).</summary>
    /// <param name="inputIds">[B,T] token ids (int64; int32 is converted; moved to the model's device if needed).</param>
    /// <param name="attentionMask">[B,T], 1 on real tokens and 0 on padding (right or left), or null when nothing is padded.</param>
    /// <returns>[B,T,D] in the model's dtype, on the model's device.</returns>
    /// <exception cref="ArgumentException">Wrong rank or dtype, mismatched mask, or a token id outside the vocabulary (the message names row and position).</exception>
    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null) => model.HiddenStates(inputIds, attentionMask);

    /// <summary>
    /// Every layer's keys and values of a prompt prefix (one row, positions 0..P-1), for <see cref="HiddenStatesAfter"/>: the
    /// rows of a batch that start with the same tokens share them instead of each recomputing them.
    /// </summary>
    /// <param name="prefixIds">The prefix's P token ids (P ≥ 1).</param>
    /// <exception cref="ArgumentException">No ids, or a token id outside the vocabulary.</exception>
    internal PrefixKeysValues PrefixKeysValues(IReadOnlyList<int> prefixIds)
    {
        using var scope = NewDisposeScope();
        if (prefixIds.Count == 0) throw new ArgumentException("The prefix has no tokens.", nameof(prefixIds));
        var ids = tensor(prefixIds.Select(i => (long)i).ToArray(), new long[] { 1, prefixIds.Count }, device: Device);
        Qwen3Model.CheckIndices(ids, Config.VocabSize, "prefixIds", "token id");
        return model.PrefixKeysValues(ids).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Final-norm hidden states of right-padded rows that continue a shared prefix: hidden state i of row b is the one
    /// <see cref="HiddenStates"/> gives at position P + i of prefix + row b (see <see cref="Qwen3Model.HiddenStatesAfter"/>).
    /// </summary>
    /// <param name="prefix">From <see cref="PrefixKeysValues"/>, in the model's current dtype and device.</param>
    /// <param name="inputIds">[B,S] token ids after the prefix (int64; moved to the model's device if needed).</param>
    /// <param name="attentionMask">[B,S], 1 on real tokens and 0 on right padding, or null when nothing is padded.</param>
    /// <returns>[B,S,D] in the model's dtype, on the model's device.</returns>
    /// <exception cref="ArgumentException">Wrong rank, mismatched mask, or a token id outside the vocabulary.</exception>
    internal Tensor HiddenStatesAfter(PrefixKeysValues prefix, Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        if (inputIds.dim() != 2 || inputIds.shape[1] == 0)
            throw new ArgumentException($"inputIds must be [batch, time > 0], got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"attentionMask shape [{string.Join(", ", attentionMask.shape)}] differs from inputIds shape [{string.Join(", ", inputIds.shape)}].", nameof(attentionMask));
        var ids = inputIds.to(ScalarType.Int64).to(Device);
        Qwen3Model.CheckIndices(ids, Config.VocabSize, "inputIds", "token id");
        return model.HiddenStatesAfter(prefix, ids, attentionMask?.to(Device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits at chosen positions only, optionally only for chosen vocabulary ids (e.g. the answer-option tokens of a classifier):
    /// the hidden rows are gathered first and multiplied by the matching rows of <see cref="LmHeadWeight"/>, so the full
    /// [B,T,V] projection is never computed.
    /// </summary>
    /// <param name="hidden">[B,T,D] from <see cref="HiddenStates"/>.</param>
    /// <param name="positions">[B] (one position per row) or [B,K] int64 positions in [0, T).</param>
    /// <param name="tokenIds">[N] vocabulary ids, or null for the whole vocabulary (N = V).</param>
    /// <returns>[B,N] when <paramref name="positions"/> is [B], else [B,K,N]; in the model's dtype. Column j is the logit of <c>tokenIds[j]</c>.</returns>
    /// <exception cref="ArgumentException">Wrong shapes, or a position or token id out of range.</exception>
    public Tensor LogitsAt(Tensor hidden, Tensor positions, Tensor? tokenIds = null)
    {
        using var phase = StepProfiler.Measure("lm head");
        using var scope = NewDisposeScope();
        if (hidden.dim() != 3 || hidden.shape[2] != Config.HiddenSize)
            throw new ArgumentException($"hidden must be [batch, time, {Config.HiddenSize}], got [{string.Join(", ", hidden.shape)}].", nameof(hidden));
        long b = hidden.shape[0], t = hidden.shape[1], d = hidden.shape[2];
        if (positions.dim() is not (1 or 2) || positions.shape[0] != b)
            throw new ArgumentException($"positions must be [{b}] or [{b}, K], got [{string.Join(", ", positions.shape)}].", nameof(positions));
        var pos = positions.to(ScalarType.Int64).to(hidden.device);
        Qwen3Model.CheckIndices(pos, t, "positions", "position");
        bool onePerRow = pos.dim() == 1;
        if (onePerRow) pos = pos.unsqueeze(1);                                         // [B,K]
        var h = hidden.gather(1, pos.unsqueeze(-1).expand(b, pos.shape[1], d));       // [B,K,D]
        var w = LmHeadWeight;
        if (tokenIds is not null)
        {
            if (tokenIds.dim() != 1) throw new ArgumentException($"tokenIds must be [N], got [{string.Join(", ", tokenIds.shape)}].", nameof(tokenIds));
            var ids = tokenIds.to(ScalarType.Int64).to(w.device);
            Qwen3Model.CheckIndices(ids, Config.VocabSize, "tokenIds", "token id");
            w = w.index_select(0, ids);                                                   // [N,D]
        }
        var logits = F.linear(h, w);                                                      // [B,K,N]
        return (onePerRow ? logits.squeeze(1) : logits).MoveToOuterDisposeScope();
    }

    /// <summary>Full logits [B,T,V] for every position (tests and parity checks; memory-hungry for long inputs).</summary>
    public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        return F.linear(HiddenStates(inputIds, attentionMask), LmHeadWeight).MoveToOuterDisposeScope();
    }

    /// <summary>Full logits [B,T,V] of an unpadded batch (see <see cref="Logits"/>).</summary>
    public override Tensor forward(Tensor inputIds) => Logits(inputIds);

}
