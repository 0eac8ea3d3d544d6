using System.Globalization;
using MLNetLlmClassifier.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Peft;

/// <summary>
/// Applies the parameter-efficient options of <see cref="TransformerTrainerOptions"/> to a freshly built classifier, once, for
/// every trainer: an existing PEFT adapter (<see cref="TransformerTrainerOptions.AdapterPath"/>), a new LoRA adapter
/// (<see cref="TransformerTrainerOptions.LoraRank"/> ≥ 1), or freezing without LoRA (<see cref="TransformerTrainerOptions.FreezeEmbeddings"/>,
/// <see cref="TransformerTrainerOptions.FreezeFirstLayers"/>). Frozen parameters get requires_grad = false, so the shared
/// training loop's AdamW keeps no state (and no fp32 master copy) for them and best-restore snapshots skip them.
/// </summary>
internal static class ParameterEfficientTraining
{
    /// <summary>Applies the options and logs one line with the trainable and total parameter counts.</summary>
    public static void Apply(ITrainableClassifier model, TransformerTrainerOptions o, int seed, Action<string> log)
    {
        var root = model.Module;
        if (string.IsNullOrEmpty(o.AdapterPath) && o.ModelPath is not null && PeftAdapterFolder.Has(o.ModelPath))
            log($"Note: {o.ModelPath} also holds a PEFT adapter ({PeftAdapterFolder.ConfigFileName}); it is not applied to the base weights. " +
                "To train on from it, pass the folder as AdapterPath (--adapter) too; to score with it, load the saved model instead.");
        if (!string.IsNullOrEmpty(o.AdapterPath))
        {
            var lora = PeftAdapterFolder.Apply(root, model.HeadModules, o.AdapterPath, seed);
            log($"LoRA: loaded the adapter of {o.AdapterPath} ({Describe(lora)}); training continues from it.");
        }
        else if (o.LoraRank > 0)
        {
            var lora = LoraModel.Attach(root, ConfigFromOptions(model, o), seed);
            log($"LoRA: {Describe(lora)}.");
        }
        else if (o.FreezeEmbeddings || o.FreezeFirstLayers > 0)
        {
            Freeze(root, o.FreezeEmbeddings, o.FreezeFirstLayers, model.HeadModules);
        }
        else return;
        var (trainable, total) = LoraModel.CountParameters(root);
        log(string.Create(CultureInfo.InvariantCulture,
            $"Trainable parameters: {trainable:N0} of {total:N0} ({100.0 * trainable / Math.Max(1, total):F2}%)."));
    }

    /// <summary>The LoRA settings of the options, for <paramref name="model"/> (its heads are modules_to_save).</summary>
    internal static LoraConfig ConfigFromOptions(ITrainableClassifier model, TransformerTrainerOptions o) => new()
    {
        Rank = o.LoraRank,
        Alpha = o.LoraAlpha,
        Dropout = o.LoraDropout,
        TargetModules = LoraConfig.ParseTargets(o.LoraTargetModules),
        Bias = o.LoraBias,
        UseRsLora = o.LoraUseRsLora,
        ModulesToSave = model.HeadModules,
        // FreezeFirstLayers with LoRA: no adapters in the first N layers (PEFT's layers_to_transform).
        LayersToTransform = o.FreezeFirstLayers > 0 ? Enumerable.Range(o.FreezeFirstLayers, Math.Max(0, LayerCount(model.Module) - o.FreezeFirstLayers)).ToArray() : null,
        TaskType = model.HeadModules.Count > 0 ? "SEQ_CLS" : "CAUSAL_LM",
        BaseModelNameOrPath = o.ModelPath,
    };

    private static string Describe(LoraModel lora)
    {
        var c = lora.Config;
        var ranks = lora.Layers.Select(l => l.Rank).Distinct().ToArray();
        string heads = c.ModulesToSave.Count > 0 ? ", fully trained: " + string.Join(", ", c.ModulesToSave) : "";
        string modules = string.Join(", ", lora.Layers.Select(l => l.Name[(l.Name.LastIndexOf('.') + 1)..]).Distinct());
        return string.Create(CultureInfo.InvariantCulture,
            $"rank {string.Join("/", ranks)}, alpha {c.Alpha}{(c.UseRsLora ? " (rsLoRA)" : "")}, dropout {c.Dropout}, bias {c.Bias}, {lora.Layers.Count} Linear modules ({modules}){heads}");
    }

    /// <summary>The number of layers: one more than the largest layer index of a parameter name (0 when there are none).</summary>
    internal static int LayerCount(nn.Module root) =>
        root.named_parameters().Select(p => LoraConfig.LayerIndex(p.name)).Max() is int max ? max + 1 : 0;

    /// <summary>
    /// Freezing without LoRA: with <paramref name="embeddings"/>, the parameters of every Embedding module and of a module named
    /// <c>embeddings</c> (BERT's word, position and token-type embeddings and their LayerNorm); with <paramref name="firstLayers"/>
    /// = N, every parameter of layers 0..N−1. Heads are never frozen. Note a tied LM head (Qwen3's <c>tie_word_embeddings</c>) is
    /// the embedding matrix, so freezing embeddings freezes it too.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">N is more than the model's number of layers.</exception>
    internal static void Freeze(nn.Module root, bool embeddings, int firstLayers, IReadOnlyList<string> heads)
    {
        int layers = LayerCount(root);
        if (firstLayers > layers)
            throw new ArgumentOutOfRangeException(nameof(TransformerTrainerOptions.FreezeFirstLayers), firstLayers,
                $"Option FreezeFirstLayers = {firstLayers} is more than the model's {layers} layers.");
        var embeddingModules = root.named_modules()
            .Where(m => m.module is Embedding || m.name == "embeddings" || m.name.EndsWith(".embeddings", StringComparison.Ordinal))
            .Select(m => m.name).ToList();
        foreach (var (name, p) in root.named_parameters())
        {
            if (LoraModel.InHead(name, heads)) continue;
            bool frozen = (embeddings && embeddingModules.Any(e => name.StartsWith(e + ".", StringComparison.Ordinal)))
                          || (LoraConfig.LayerIndex(name) is int i && i < firstLayers);
            if (frozen) p.requires_grad = false;
        }
    }
}
