using System.Globalization;
using System.Text;
using MLNetLlmClassifier.Qwen3;

namespace MLNetLlmClassifier.Training;

/// <summary>What is trained: every parameter, or LoRA adapters on a frozen base.</summary>
internal enum TrainedParameters
{
    /// <summary>Full fine-tuning: every parameter has a gradient and AdamW state.</summary>
    Full,
    /// <summary>LoRA: the base is frozen in its stored dtype; only the rank-r adapters (fp32) are trained.</summary>
    Lora,
}

/// <summary>The linear projections of a Qwen3 decoder layer that LoRA can adapt (PEFT's target module names).</summary>
internal static class LoraTargets
{
    /// <summary>All seven, PEFT's <c>all-linear</c> for a decoder (the LM head excluded).</summary>
    public static readonly string[] AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Parses "all-linear" or a comma-separated list of module names.</summary>
    /// <exception cref="ArgumentException">An unknown module name.</exception>
    public static string[] Parse(string text)
    {
        if (text.Trim().Equals("all-linear", StringComparison.OrdinalIgnoreCase)) return AllLinear;
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var n in names)
            if (!AllLinear.Contains(n))
                throw new ArgumentException($"LoRA target '{n}' is not a Qwen3 projection: use all-linear or some of {string.Join(", ", AllLinear)}.");
        return names.Length > 0 ? names.Distinct().ToArray() : throw new ArgumentException("Give at least one LoRA target module.");
    }

    /// <summary>(in, out) features of a target module.</summary>
    public static (long In, long Out) Shape(Qwen3Config c, string module)
    {
        long d = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        return module switch
        {
            "q_proj" => (d, q),
            "k_proj" or "v_proj" => (d, kv),
            "o_proj" => (q, d),
            "gate_proj" or "up_proj" => (d, i),
            "down_proj" => (i, d),
            _ => throw new ArgumentException($"'{module}' is not a Qwen3 projection.", nameof(module)),
        };
    }
}

/// <summary>The settings a training-memory estimate depends on.</summary>
/// <param name="Config">The Qwen3 architecture.</param>
/// <param name="BatchSize">Rows per forward pass (B).</param>
/// <param name="SequenceLength">Tokens per row after padding (T): the longest row of the batch, at most MaxSequenceLength.</param>
/// <param name="BFloat16">bf16 weights and activations (with fp32 master weights for trained bf16 parameters), else fp32.</param>
/// <param name="Trained">Full fine-tuning or LoRA.</param>
/// <param name="LoraRank">LoRA rank r (LoRA only).</param>
/// <param name="LoraTargetModules">LoRA target modules (LoRA only).</param>
/// <param name="GradientCheckpointing">Whether each decoder layer is recomputed in backward.</param>
/// <param name="LogitPositions">Positions per row whose LM-head logits are computed: the answer tokens (marker + end of turn, 2 with
/// single-token markers) for the full-vocabulary loss.</param>
/// <param name="LogitColumns">Logits per position: the vocabulary for the full-vocabulary loss, the number of options for the options loss.</param>
/// <param name="FusedCpuOptimizer">Whether AdamW updates fp32 parameters with the fused CPU kernel (no per-tensor temporaries).</param>
/// <param name="GradientAccumulationSteps">Micro-batches per optimizer step: above 1, every gradient is alive while the later micro-batches
/// run forward and backward.</param>
internal sealed record MemoryPlan(Qwen3Config Config, int BatchSize, int SequenceLength, bool BFloat16, TrainedParameters Trained,
    int LoraRank, IReadOnlyList<string> LoraTargetModules, bool GradientCheckpointing, int LogitPositions, int LogitColumns,
    bool FusedCpuOptimizer = false, int GradientAccumulationSteps = 1);

/// <summary>
/// Peak memory of one training step of a Qwen3 model (the prompted decoder; the sequence-classification head differs only in its
/// tiny head), computed from the configuration alone (nothing is allocated, so an 8B model is sized on a laptop). Every term is a
/// count of the tensors this project's implementation keeps, times their element size; docs/memory.md lists the formulas and compares
/// them with measured peaks.
/// </summary>
/// <remarks>
/// <para>With P parameters, s bytes per element of the model dtype (4 fp32, 2 bf16), N = B·T tokens, D hidden, Q = heads × head_dim,
/// KV = key/value heads × head_dim, I intermediate, L layers:</para>
/// <list type="bullet">
/// <item><b>Weights</b> P·s (LoRA: plus the adapters in fp32, 4 bytes each).</item>
/// <item><b>Gradients</b> trainable × s (the gradient has the parameter's dtype); full: P·s, LoRA: adapters × 4.</item>
/// <item><b>AdamW</b> 8 bytes per trained parameter (two fp32 moments) plus a 4-byte fp32 master copy of each trained bf16 parameter;
/// frozen parameters have none.</item>
/// <item><b>Activations kept for backward, per layer and token</b> (the tensors autograd saves in this implementation):
/// each RMSNorm of width W keeps its input in fp32 and its normalised output (W·(4 + s)) and the projection after it keeps the norm's
/// output (W·s): 2 norms of D and the q/k norms of Q and KV; rotary keeps the rotated halves and the result of q (2·Q·s) and the rotated
/// k (KV·s); attention keeps k and v expanded to all heads (2·Q·s with grouped heads, 2·KV·s without), its output and the reshaped copy
/// for o_proj (2·Q·s) and a log-sum-exp per head (4·heads bytes); the MLP keeps gate, silu(gate), up and their product (4·I·s).
/// Without checkpointing all L layers' activations are alive at the start of backward; with it only each layer's input (D·s per
/// token per layer) plus one layer's activations, recomputed during its backward.</item>
/// <item><b>Logits</b>: only the chosen positions are projected (<see cref="Qwen3ForCausalLM.LogitsAt"/>), B × positions × columns
/// elements, kept in the model dtype, in fp32, and as fp32 log-probabilities (s + 8 bytes each), plus the fp32 and model-dtype
/// gradients in backward (4 + s). A full [B, T, V] projection would cost T/positions times more; this implementation never makes one.</item>
/// <item><b>The final norm and the hidden states</b>: D·(4 + 2s) per token; the embedding output D·s per token.</item>
/// <item><b>Transients</b>: backward of a layer makes gradients of its activations (assumed one layer's activations); the embedding
/// gradient [V, D] (full fine-tuning) appears when backward starts, through the LM-head rows, and a tied embedding gets a second
/// dense [V, D] gradient from the lookup at the end, summed with the first (3 × V·D·s then, 2 of them beyond the gradient); the
/// non-fused AdamW step makes up to three fp32 temporaries the size of the largest trained tensor.</item>
/// <item><b>Gradient accumulation</b>: with more than one micro-batch per step, all gradients of the earlier micro-batches are alive
/// during the later ones' forward and backward.</item>
/// </list>
/// <para>The peak is weights + AdamW + the largest of: activations + logits + the gradients alive at the start of backward + one
/// layer's backward transients; all gradients + the tied embedding's transients (end of backward); all gradients + the optimizer's
/// temporaries: gradients grow as activations are freed, layer by layer, so the two
/// ends of backward bound it. Not counted: the runtime itself (CUDA context and cuBLAS workspace, about 0.5-1 GB, printed apart),
/// allocator fragmentation, the tokenizer and data, the attention mask ([B, 1, T, T] booleans) and rotary tables (B·T·head_dim).</para>
/// </remarks>
internal sealed record MemoryEstimate
{
    /// <summary>Runtime memory on a GPU outside the tensors (CUDA context, cuBLAS/cuDNN workspaces), assumed for the fit check.</summary>
    public const double CudaRuntimeBytes = 1.0 * (1L << 30);

    /// <summary>The plan estimated.</summary>
    public required MemoryPlan Plan { get; init; }
    /// <summary>Parameters of the base model.</summary>
    public required long Parameters { get; init; }
    /// <summary>LoRA adapter parameters (0 for full fine-tuning).</summary>
    public required long AdapterParameters { get; init; }
    /// <summary>Parameters with a gradient and optimizer state.</summary>
    public required long TrainableParameters { get; init; }
    /// <summary>Bytes of the weights (base + adapters).</summary>
    public required double Weights { get; init; }
    /// <summary>Bytes of all gradients.</summary>
    public required double Gradients { get; init; }
    /// <summary>Bytes of AdamW's moments and fp32 master copies.</summary>
    public required double Optimizer { get; init; }
    /// <summary>Bytes one decoder layer keeps for backward (without checkpointing).</summary>
    public required double ActivationsPerLayer { get; init; }
    /// <summary>Bytes kept for backward by all layers at the start of backward: L × per layer, or with checkpointing L layer inputs + one layer recomputed.</summary>
    public required double Activations { get; init; }
    /// <summary>Bytes of the embedding output, final norm and hidden states.</summary>
    public required double EmbeddingAndFinalNorm { get; init; }
    /// <summary>Bytes of the logits and loss buffers (forward and backward).</summary>
    public required double Logits { get; init; }
    /// <summary>Bytes of the gradients alive as backward starts: the embedding/LM-head gradient made first (full fine-tuning only),
    /// plus all the accumulated gradients with gradient accumulation.</summary>
    public required double HeldGradients { get; init; }

    /// <summary>Bytes beyond the gradients at the end of backward with a tied, trained embedding: its two dense [V, D] gradients (LM head
    /// and lookup) and their sum (one of the three becomes the gradient unless one is accumulated into).</summary>
    public required double TiedEmbeddingTransient { get; init; }
    /// <summary>Bytes of one layer's backward temporaries.</summary>
    public required double BackwardTransient { get; init; }
    /// <summary>Bytes of the optimizer step's temporaries.</summary>
    public required double OptimizerTransient { get; init; }

    /// <summary>Peak as backward starts, all activations alive (see the class remarks).</summary>
    public double BackwardPeak => Weights + Optimizer + Activations + EmbeddingAndFinalNorm + Logits + HeldGradients + BackwardTransient;

    /// <summary>Peak as backward ends, every gradient made (the tied embedding's two gradients being summed).</summary>
    public double BackwardEndPeak => Weights + Optimizer + Gradients + TiedEmbeddingTransient;

    /// <summary>Peak during the optimizer step.</summary>
    public double StepPeak => Weights + Optimizer + Gradients + OptimizerTransient;

    /// <summary>Peak bytes of tensors in a training step.</summary>
    public double Peak => Math.Max(BackwardPeak, Math.Max(BackwardEndPeak, StepPeak));

    /// <summary>
    /// The peak resident memory of the tensors on the CPU, where freed memory stays with the process (glibc's heap, and this project's
    /// <see cref="Torch.CpuAllocatorTuning"/>): the activations freed during backward are not returned, so the gradients made at the end
    /// of backward come on top of them. The backward-start peak plus what backward adds by its end (all gradients and the tied
    /// embedding's transients, less the gradients already held). The process itself (runtime, libtorch, tokenizer) comes on top.
    /// </summary>
    public double CpuResidentPeak => Math.Max(Peak, BackwardPeak + Gradients + TiedEmbeddingTransient - HeldGradients);

    /// <summary>Whether the peak plus <see cref="CudaRuntimeBytes"/> fits a GPU of <paramref name="gigabytes"/> GB (10^9 bytes, as cards are sold).</summary>
    public bool FitsGpu(double gigabytes) => Peak + CudaRuntimeBytes <= gigabytes * 1e9;

    /// <summary>The GPU sizes the printout checks, in GB.</summary>
    public static readonly double[] GpuSizes = [8, 12, 16, 24, 40, 48, 80];

    /// <summary>Exact parameter count of a Qwen3 model built from <paramref name="c"/> (embedding, layers with norms, final norm, LM head unless tied).</summary>
    public static long CountParameters(Qwen3Config c)
    {
        long d = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        long bias = c.AttentionBias ? q + 2 * kv + d : 0;
        long layer = d * q + 2 * d * kv + q * d + bias + 2L * c.HeadDim + 2 * d + 3 * d * i;
        return (long)c.VocabSize * d * (c.TieWordEmbeddings ? 1 : 2) + c.NumHiddenLayers * layer + d;
    }

    /// <summary>LoRA adapter parameters: layers × rank × Σ over the targets of (in + out) features.</summary>
    public static long CountAdapterParameters(Qwen3Config c, int rank, IEnumerable<string> targets) =>
        c.NumHiddenLayers * (long)rank * targets.Sum(t => { var (i, o) = LoraTargets.Shape(c, t); return i + o; });

    /// <summary>Bytes one decoder layer keeps for backward per token, in this implementation (see the class remarks).</summary>
    public static double ActivationBytesPerToken(Qwen3Config c, double s)
    {
        const double f = 4;
        double d = c.HiddenSize, q = (double)c.NumAttentionHeads * c.HeadDim, kv = (double)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        bool grouped = c.NumAttentionHeads != c.NumKeyValueHeads;
        double norms = 2 * d * (f + 2 * s) + q * (f + 2 * s) + kv * (f + 2 * s);   // input and post-attention norms, q_norm and k_norm
        double rotary = 2 * q * s + kv * s;                                          // rotated halves of q and k, rotated q
        double keysValues = grouped ? 2 * q * s : 2 * kv * s;                        // k and v as attention reads them
        double attention = 2 * q * s + 4.0 * c.NumAttentionHeads;                    // output, reshaped copy, log-sum-exp
        double mlp = 4 * i * s;                                                      // gate, silu(gate), up, product
        return norms + rotary + keysValues + attention + mlp;
    }

    /// <summary>Computes the estimate.</summary>
    /// <exception cref="ArgumentException">A setting out of range.</exception>
    public static MemoryEstimate For(MemoryPlan p)
    {
        if (p.BatchSize < 1) throw new ArgumentException($"Batch size {p.BatchSize} must be at least 1.");
        if (p.SequenceLength < 1) throw new ArgumentException($"Sequence length {p.SequenceLength} must be at least 1.");
        if (p.LogitPositions < 1 || p.LogitPositions > p.SequenceLength)
            throw new ArgumentException($"Logit positions {p.LogitPositions} must be in [1, {p.SequenceLength}].");
        if (p.LogitColumns < 1) throw new ArgumentException($"Logit columns {p.LogitColumns} must be at least 1.");
        if (p.GradientAccumulationSteps < 1) throw new ArgumentException($"Gradient accumulation steps {p.GradientAccumulationSteps} must be at least 1.");
        bool lora = p.Trained == TrainedParameters.Lora;
        if (lora && p.LoraRank < 1) throw new ArgumentException($"LoRA rank {p.LoraRank} must be at least 1.");
        var c = p.Config;
        double s = p.BFloat16 ? 2 : 4;
        long parameters = CountParameters(c);
        long adapters = lora ? CountAdapterParameters(c, p.LoraRank, p.LoraTargetModules) : 0;
        long trainable = lora ? adapters : parameters;
        double n = (double)p.BatchSize * p.SequenceLength;
        double d = c.HiddenSize;

        double weights = parameters * s + adapters * 4.0;
        double gradients = lora ? adapters * 4.0 : parameters * s;
        double optimizer = trainable * 8.0 + (!lora && p.BFloat16 ? parameters * 4.0 : 0);
        double perLayer = ActivationBytesPerToken(c, s) * n;
        double layerInputs = c.NumHiddenLayers * n * d * s;
        double activations = p.GradientCheckpointing ? layerInputs + perLayer : c.NumHiddenLayers * perLayer;
        double embeddingAndNorm = n * d * s + n * d * (4 + 2 * s);
        double logitElements = (double)p.BatchSize * p.LogitPositions * p.LogitColumns;
        double logits = logitElements * (s + 8) + logitElements * (4 + s);
        double vocabRows = (double)c.VocabSize * d;
        double early = lora ? 0 : vocabRows * s;                                     // embedding / LM-head gradient
        double largestTrained = lora
            ? p.LoraTargetModules.Max(t => { var (i, o) = LoraTargets.Shape(c, t); return (double)p.LoraRank * Math.Max(i, o); })
            : vocabRows;
        bool fused = p.FusedCpuOptimizer && !p.BFloat16;
        double optimizerTransient = fused ? 0 : 3 * 4 * largestTrained;
        return new MemoryEstimate
        {
            Plan = p,
            Parameters = parameters,
            AdapterParameters = adapters,
            TrainableParameters = trainable,
            Weights = weights,
            Gradients = gradients,
            Optimizer = optimizer,
            ActivationsPerLayer = perLayer,
            Activations = activations,
            EmbeddingAndFinalNorm = embeddingAndNorm,
            Logits = logits,
            HeldGradients = (p.GradientAccumulationSteps > 1 ? gradients : 0) + early,
            TiedEmbeddingTransient = !lora && c.TieWordEmbeddings ? vocabRows * s * (p.GradientAccumulationSteps > 1 ? 3 : 2) : 0,
            BackwardTransient = perLayer,
            OptimizerTransient = optimizerTransient,
        };
    }

    /// <summary>The breakdown as text, one component per line, then the GPU sizes it fits.</summary>
    public string Format()
    {
        var p = Plan;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        void Line(string what, double bytes, string detail) => sb.AppendLine(string.Create(inv, $"  {what,-34} {Gib(bytes),10}  {detail}"));
        sb.AppendLine(string.Create(inv, $"{p.Config}: {Parameters:N0} parameters; batch {p.BatchSize} x {p.SequenceLength} tokens, {(p.BFloat16 ? "bf16" : "fp32")}, " +
            $"{(p.Trained == TrainedParameters.Lora ? $"LoRA r{p.LoraRank} on {string.Join(",", p.LoraTargetModules)} ({AdapterParameters:N0} adapter parameters)" : "full fine-tuning")}, " +
            $"gradient checkpointing {(p.GradientCheckpointing ? "on" : "off")}, {p.GradientAccumulationSteps} micro-batch(es) per step, logits {p.LogitPositions} positions x {p.LogitColumns}"));
        Line("weights", Weights, p.Trained == TrainedParameters.Lora ? "frozen base in its dtype + fp32 adapters" : "");
        Line("gradients", Gradients, string.Create(inv, $"{TrainableParameters:N0} trained parameters"));
        Line("AdamW state", Optimizer, p.BFloat16 && p.Trained == TrainedParameters.Full ? "2 fp32 moments + fp32 master copy" : "2 fp32 moments");
        Line("activations per layer", ActivationsPerLayer, "kept for backward without checkpointing");
        Line("activations, all layers", Activations, p.GradientCheckpointing
            ? string.Create(inv, $"{p.Config.NumHiddenLayers} layer inputs + 1 layer recomputed")
            : string.Create(inv, $"{p.Config.NumHiddenLayers} layers"));
        Line("embedding output, final norm", EmbeddingAndFinalNorm, "");
        Line("logits and loss", Logits, "forward and backward buffers");
        Line("gradients held in backward", HeldGradients, p.GradientAccumulationSteps > 1 ? "accumulated + embedding / LM-head gradient" : "embedding / LM-head gradient");
        Line("tied embedding gradients", TiedEmbeddingTransient, "end of backward: LM-head and lookup gradients, and their sum");
        Line("backward temporaries", BackwardTransient, "one layer");
        Line("optimizer-step temporaries", OptimizerTransient, "fp32 copies of the largest trained tensor");
        string when = Peak == BackwardPeak ? "as backward starts" : Peak == BackwardEndPeak ? "as backward ends" : "in the optimizer step";
        sb.AppendLine(string.Create(inv, $"  {"peak (tensors)",-34} {Gib(Peak),10}  {when}"));
        sb.AppendLine(string.Create(inv, $"  {"CPU resident peak (tensors)",-34} {Gib(CpuResidentPeak),10}  on the CPU freed activations stay with the process"));
        sb.Append("  fits (peak + ").Append(Gib(CudaRuntimeBytes).Trim()).Append(" CUDA runtime): ");
        sb.Append(string.Join(", ", GpuSizes.Select(g => string.Create(inv, $"{g:0} GB {(FitsGpu(g) ? "yes" : "no")}"))));
        return sb.ToString();
    }

    /// <summary>Bytes as GiB with two decimals (MiB below 1 GiB).</summary>
    public static string Gib(double bytes) => bytes >= 1 << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (1L << 30):F2} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (1 << 20):F1} MiB");
}
