using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Peft;

/// <summary>
/// A LoRA adapter on one frozen <see cref="Linear"/>: <c>y = W x + b + scaling · B(A(dropout(x)))</c>, with
/// <c>lora_A</c> [r, in] and <c>lora_B</c> [out, r] (PEFT's shapes and names). The base Linear is left where it is in the module
/// tree, with its weight and bias in their stored dtype (no fp32 copy); the two adapter Linears are registered as its children, so
/// the state dict holds <c>….q_proj.lora_A.weight</c> beside <c>….q_proj.weight</c>, and the adapter's output is added by a forward
/// hook on the base Linear (TorchSharp's Linear is sealed and models call their typed fields, so the module cannot be swapped).
/// </summary>
/// <remarks>
/// The adapter weights are float32 (PEFT's default, autocast_adapter_dtype): a bfloat16 input is cast to float32 for the adapter
/// path, and the sum is cast back to the base output's dtype, as PEFT does. <c>lora_A</c> starts as PEFT's kaiming-uniform
/// (a = √5, i.e. U(−1/√in, 1/√in)) and <c>lora_B</c> as zeros, so a fresh adapter leaves the outputs exactly as they were.
/// </remarks>
internal sealed class LoraLinear
{
    /// <summary>The names of the adapter's child modules, as PEFT names them.</summary>
    public const string AName = "lora_A", BName = "lora_B";

    private Action? _unhook;

    private LoraLinear(string name, Linear baseLayer, Linear a, Linear b, double scaling, double dropout)
    {
        Name = name;
        Base = baseLayer;
        A = a;
        B = b;
        Scaling = scaling;
        Dropout = dropout;
    }

    /// <summary>The module's name in the model (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public string Name { get; }

    /// <summary>The frozen base Linear.</summary>
    public Linear Base { get; }

    /// <summary>lora_A: in → r, no bias.</summary>
    public Linear A { get; }

    /// <summary>lora_B: r → out, no bias.</summary>
    public Linear B { get; }

    /// <summary>The rank r.</summary>
    public long Rank => A.weight!.shape[0];

    /// <summary>alpha / r (or alpha / √r with rsLoRA).</summary>
    public double Scaling { get; }

    /// <summary>Dropout probability on the adapter's input (training only).</summary>
    public double Dropout { get; }

    /// <summary>
    /// Puts an adapter of rank <paramref name="rank"/> on <paramref name="baseLayer"/>: lora_A drawn from <paramref name="generator"/>
    /// (on the CPU in float32, then moved to the base's device), lora_B zeros, both float32 and trainable.
    /// </summary>
    public static LoraLinear Attach(string name, Linear baseLayer, int rank, double scaling, double dropout, Generator generator)
    {
        var w = baseLayer.weight!;
        long outFeatures = w.shape[0], inFeatures = w.shape[1];
        var device = w.device;
        var a = nn.Linear(inFeatures, rank, hasBias: false, device: device, dtype: ScalarType.Float32);
        var b = nn.Linear(rank, outFeatures, hasBias: false, device: device, dtype: ScalarType.Float32);
        using (no_grad())
        {
            double bound = 1.0 / Math.Sqrt(inFeatures);
            using var values = empty(a.weight!.shape, ScalarType.Float32).uniform_(-bound, bound, generator);
            a.weight!.copy_(values);
            b.weight!.zero_();
        }
        baseLayer.register_module(AName, a);
        baseLayer.register_module(BName, b);
        var lora = new LoraLinear(name, baseLayer, a, b, scaling, dropout);
        var hook = baseLayer.register_forward_hook((module, x, y) => lora.AddAdapterOutput(module, x, y));
        lora._unhook = hook.remove;
        return lora;
    }

    private Tensor AddAdapterOutput(nn.Module<Tensor, Tensor> module, Tensor x, Tensor y)
    {
        var h = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
        if (Dropout > 0 && module.training) h = nn.functional.dropout(h, Dropout, training: true);
        var delta = B.call(A.call(h));
        if (Scaling != 1.0) delta = delta.mul(Scaling);
        return y.dtype == ScalarType.Float32 ? y.add(delta) : y.add(delta).to(y.dtype); // bf16 + fp32 adds in fp32
    }

    /// <summary>B·A·scaling, [out, in] in float32 (the change the adapter makes to W).</summary>
    public Tensor DeltaWeight()
    {
        using var scope = NewDisposeScope();
        return B.weight!.detach().matmul(A.weight!.detach()).mul_(Scaling).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Merge and unload: <c>W ← (W + scaling · B A)</c> computed in float32 and cast to W's dtype, then the hook is removed so the
    /// Linear computes <c>W' x + b</c> alone. The adapter modules stay registered (they no longer take part in the forward pass,
    /// and saved weights leave them out).
    /// </summary>
    public void MergeIntoBase()
    {
        if (_unhook is null) return;
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            var w = Base.weight!;
            var merged = w.detach().to(ScalarType.Float32).add(DeltaWeight()).to(w.dtype);
            w.copy_(merged);
        }
        _unhook();
        _unhook = null;
        foreach (var p in new[] { A.weight!, B.weight! }) p.requires_grad = false;
    }

    /// <summary>Whether a state-dict key is an adapter tensor (<c>….lora_A.weight</c> / <c>….lora_B.weight</c>).</summary>
    public static bool IsAdapterKey(string key) =>
        key.Contains("." + AName + ".", StringComparison.Ordinal) || key.Contains("." + BName + ".", StringComparison.Ordinal)
        || key.StartsWith(AName + ".", StringComparison.Ordinal) || key.StartsWith(BName + ".", StringComparison.Ordinal);
}
