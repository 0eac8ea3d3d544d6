using MLNetLlmClassifier.Checkpoints;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

// Loading and saving Hugging Face model folders (config.json + model.safetensors or a sharded index).
public sealed partial class Qwen3ForCausalLM
{
    /// <summary>
    /// Loads a Hugging Face Qwen3 folder (<c>config.json</c> and <c>model.safetensors</c>, or shards listed in
    /// <c>model.safetensors.index.json</c>), strictly: every parameter must be present with its shape and every stored tensor
    /// used (all differences are reported together). The only tolerated extra is a redundant <c>lm_head.weight</c> in a
    /// tied checkpoint, which Hugging Face ignores as well. Weights are converted to <paramref name="dtype"/> on <paramref name="device"/>.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="device">Where the model lives.</param>
    /// <param name="dtype">Parameter dtype (Float32, BFloat16 or Float16), whatever the stored dtype.</param>
    /// <param name="log">Receives one-line progress messages (optional).</param>
    /// <returns>The model, in eval mode.</returns>
    /// <exception cref="InvalidDataException">config.json is invalid or describes an unsupported model.</exception>
    /// <exception cref="CheckpointMismatchException">Missing, unexpected or mis-shaped tensors.</exception>
    public static Qwen3ForCausalLM FromPretrained(string folder, Device device, ScalarType dtype, Action<string>? log = null)
    {
        string configPath = Path.Combine(folder, HfModelFolder.ConfigFileName);
        var config = Qwen3Config.FromJson(HfModelFolder.ReadConfig(folder), configPath);
        if (!config.Architectures.Contains("Qwen3ForCausalLM") && config.Architectures.Contains(Qwen3ForSequenceClassification.ArchitectureName))
            throw new InvalidDataException($"{configPath}: architectures = [{Qwen3ForSequenceClassification.ArchitectureName}]: a sequence classifier (a score head, no LM head), " +
                                           "not a causal LM: train it with the qwen3-seqcls family (Qwen3SequenceClassifier).");
        // The config's sizes are checked against the checkpoint's headers and the memory before anything is allocated.
        using var weights = HfModelFolder.OpenWeights(folder);
        Checkpoints.ModelSizeGuard.CheckAgainstCheckpoint(configPath, weights, config.ImpliedTensors(), "num_hidden_layers", config.NumHiddenLayers,
            config.SizeTerms(), dtype == ScalarType.Float32 ? 4 : 2);
        if (device.type == TorchSharp.DeviceType.CPU) CheckFitsInMemory(config, dtype, configPath);
        log?.Invoke($"Qwen3: building {config} in {Qwen3Config.DtypeName(dtype)} on {device}");
        var model = new Qwen3ForCausalLM(config, device, dtype);
        try
        {
            var options = new StateDictLoadOptions { IgnoreUnexpected = config.TieWordEmbeddings ? ["lm_head.weight"] : [] };
            var report = StateDictLoader.Load(model, weights, options);
            log?.Invoke($"Qwen3: loaded {report.Loaded.Count} tensors from {string.Join(", ", weights.Files)}" +
                        (report.IgnoredUnexpected.Count > 0 ? $" (ignored {string.Join(", ", report.IgnoredUnexpected)}: tied to the embedding)" : ""));
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes a Hugging Face compatible folder: <c>model.safetensors</c> (in the parameters' dtype; no <c>lm_head.weight</c>
    /// when tied) then <c>config.json</c> (its <c>torch_dtype</c> set to that dtype). Each file is written atomically.
    /// Tokenizer files are not written: copy them yourself.
    /// </summary>
    public void SaveToFolder(string folder) => SaveFolder(this, Config, Dtype, folder);

    /// <summary>The weights of <paramref name="model"/> (Hugging Face key names), then <paramref name="config"/> with <c>torch_dtype</c> = <paramref name="dtype"/>; shared by both Qwen3 heads.</summary>
    internal static void SaveFolder(TorchSharp.torch.nn.Module model, Qwen3Config config, ScalarType dtype, string folder) =>
        SaveFolder(StateDictLoader.Export(model), config, dtype, folder);

    /// <summary><paramref name="weights"/> (Hugging Face key names), then <paramref name="config"/> with <c>torch_dtype</c> = <paramref name="dtype"/>.</summary>
    internal static void SaveFolder(IEnumerable<KeyValuePair<string, Tensor>> weights, Qwen3Config config, ScalarType dtype, string folder)
    {
        Directory.CreateDirectory(folder);
        HfModelFolder.SaveWeights(folder, weights);
        var written = config.Clone();
        written.TorchDtype = Qwen3Config.DtypeName(dtype);
        HfModelFolder.WriteJson(Path.Combine(folder, HfModelFolder.ConfigFileName), written.ToJsonObject());
    }

    /// <summary>
    /// Writes a randomly initialised (Hugging Face init, <paramref name="seed"/>) checkpoint folder: config.json and model.safetensors.
    /// The model is built directly in <paramref name="dtype"/> on the CPU and initialised one parameter at a time, so peak
    /// memory stays near the checkpoint's size plus its largest tensor in float32 (Qwen3-0.6B in bfloat16: 1.2 GB + 0.6 GB).
    /// The caller copies the tokenizer files.
    /// </summary>
    /// <param name="config">Architecture (e.g. <see cref="Qwen3Config.Qwen3_0_6B"/>).</param>
    /// <param name="outFolder">Created if needed; existing config.json/model.safetensors are replaced atomically.</param>
    /// <param name="seed">Initialisation seed.</param>
    /// <param name="dtype">Stored dtype (use <see cref="Qwen3Config.WeightDtype"/> to follow the config's torch_dtype).</param>
    public static void CreateRandomCheckpoint(Qwen3Config config, string outFolder, int seed, ScalarType dtype)
    {
        using var model = new Qwen3ForCausalLM(config, seed, CPU, dtype);
        model.SaveToFolder(outFolder);
    }
}
