using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using TorchSharp;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>
/// How <see cref="StateDictLoader.Load"/> matches checkpoint keys to model keys and which differences it tolerates.
/// </summary>
/// <remarks>
/// Patterns (in <see cref="IgnoreUnexpected"/>, <see cref="AllowMissing"/>, <see cref="ReinitializeOnShapeMismatch"/>):
/// without <c>*</c> a pattern matches a key that starts with it (<c>"cls."</c>, <c>"classifier."</c>) or equals it;
/// with <c>*</c> it must match the whole key, <c>*</c> standing for any characters (<c>"*.position_ids"</c>).
/// </remarks>
public sealed class StateDictLoadOptions
{
    /// <summary>
    /// Prefixes a checkpoint key may carry or lack. A model key is looked up exactly first; then, for each prefix in
    /// order, with the prefix stripped (model key <c>bert.embeddings.x</c> → checkpoint <c>embeddings.x</c>) or
    /// added (model key <c>embeddings.x</c> → checkpoint <c>bert.embeddings.x</c>).
    /// </summary>
    public List<string> KeyPrefixes { get; init; } = [];

    /// <summary>
    /// Suffix renames applied to checkpoint keys before matching (an exact key always wins), e.g.
    /// <c>("LayerNorm.gamma", "LayerNorm.weight")</c> for old TensorFlow-converted BERT checkpoints.
    /// </summary>
    public List<(string From, string To)> CheckpointSuffixRenames { get; init; } = [];

    /// <summary>Checkpoint keys (as stored, or with a <see cref="KeyPrefixes"/> prefix stripped) that may be left unused, e.g. <c>"cls."</c>.</summary>
    public List<string> IgnoreUnexpected { get; init; } = [];

    /// <summary>Model keys that may be absent from the checkpoint; they keep their initial values, e.g. <c>"classifier."</c>.</summary>
    public List<string> AllowMissing { get; init; } = [];

    /// <summary>Model keys whose checkpoint tensor may have another shape; they keep their initial values, e.g. <c>"classifier."</c>.</summary>
    public List<string> ReinitializeOnShapeMismatch { get; init; } = [];
}

/// <summary>A tensor whose checkpoint shape differs from the model's.</summary>
/// <param name="ModelKey">The model's state-dict key.</param>
/// <param name="CheckpointKey">The matching checkpoint key.</param>
/// <param name="Expected">The model's shape.</param>
/// <param name="Found">The checkpoint's shape.</param>
public sealed record ShapeMismatch(string ModelKey, string CheckpointKey, long[] Expected, long[] Found)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{ModelKey}{(ModelKey == CheckpointKey ? "" : $" (checkpoint '{CheckpointKey}')")}: model {SafeTensorInfo.ShapeToText(Expected)}, checkpoint {SafeTensorInfo.ShapeToText(Found)}";
}

/// <summary>What <see cref="StateDictLoader.Load"/> did.</summary>
public sealed class StateDictLoadReport
{
    internal StateDictLoadReport(IReadOnlyDictionary<string, string> loaded, IReadOnlyList<string> missing,
        IReadOnlyList<string> ignored, IReadOnlyList<ShapeMismatch> reinitialized)
    {
        Loaded = loaded;
        MissingKeptInitialized = missing;
        IgnoredUnexpected = ignored;
        Reinitialized = reinitialized;
    }

    /// <summary>Model key → the checkpoint key it was loaded from.</summary>
    public IReadOnlyDictionary<string, string> Loaded { get; }

    /// <summary>Model keys absent from the checkpoint that were allowed to be (they keep their initial values).</summary>
    public IReadOnlyList<string> MissingKeptInitialized { get; }

    /// <summary>Checkpoint keys that were not used and were allowed not to be.</summary>
    public IReadOnlyList<string> IgnoredUnexpected { get; }

    /// <summary>Model keys left at their initial values because the checkpoint shape differs (allowed).</summary>
    public IReadOnlyList<ShapeMismatch> Reinitialized { get; }

    /// <inheritdoc/>
    public override string ToString()
    {
        var sb = new StringBuilder($"loaded {Loaded.Count} tensors");
        if (MissingKeptInitialized.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"; not in checkpoint, kept initialised: {string.Join(", ", MissingKeptInitialized)}");
        if (Reinitialized.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"; shape differs, kept initialised: {string.Join("; ", Reinitialized)}");
        if (IgnoredUnexpected.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"; ignored {IgnoredUnexpected.Count} unused checkpoint tensors ({string.Join(", ", IgnoredUnexpected.Take(5))}{(IgnoredUnexpected.Count > 5 ? ", ..." : "")})");
        return sb.ToString();
    }
}

/// <summary>
/// The checkpoint does not fit the model: every missing, unexpected and mis-shaped tensor is listed at once,
/// in the message and in the properties. The model was not modified.
/// </summary>
public sealed class CheckpointMismatchException : Exception
{
    private const int MaxListed = 20;

    /// <summary>Creates the exception; the message (one line) lists all three groups, up to 20 items each.</summary>
    public CheckpointMismatchException(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<ShapeMismatch> mismatched)
        : base(BuildMessage(source, missing, unexpected, mismatched))
    {
        Missing = missing;
        Unexpected = unexpected;
        Mismatched = mismatched;
    }

    /// <summary>Model keys the checkpoint lacks.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Checkpoint keys that match no model key.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Tensors whose shapes differ.</summary>
    public IReadOnlyList<ShapeMismatch> Mismatched { get; }

    private static string BuildMessage(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<ShapeMismatch> mismatched)
    {
        var sb = new StringBuilder($"The checkpoint {source} does not match the model (nothing was loaded):");
        string separator = " ";
        void Group<T>(string title, IReadOnlyList<T> items)
        {
            if (items.Count == 0) return;
            sb.Append(CultureInfo.InvariantCulture, $"{separator}{title} ({items.Count}): ").AppendJoin(", ", items.Take(MaxListed));
            if (items.Count > MaxListed) sb.Append(CultureInfo.InvariantCulture, $", ... and {items.Count - MaxListed} more");
            separator = "; ";
        }
        Group("missing from the checkpoint", missing);
        Group("unexpected in the checkpoint", unexpected);
        Group("shape mismatch (model vs checkpoint)", mismatched);
        return sb.ToString();
    }
}

/// <summary>
/// Strict loading of checkpoint tensors into a TorchSharp module, by Hugging Face key names, and the reverse
/// (exporting a module's state dict for saving).
/// </summary>
public static class StateDictLoader
{
    /// <summary>
    /// Copies the checkpoint into <paramref name="model"/>'s state dict (parameters and persistent buffers).
    /// Every model key must be found (after the prefix and rename rules of <paramref name="options"/>) with the same
    /// shape, and every checkpoint key must be used, except where the options allow it. All differences are checked
    /// before anything is copied, and reported together in one <see cref="CheckpointMismatchException"/>.
    /// Tensors are read one at a time and copied without gradient tracking, converted to each parameter's dtype
    /// and device (e.g. a bfloat16 checkpoint into a float32 model on CUDA); each read tensor is freed at once.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Missing, unexpected or mis-shaped tensors that the options do not allow.</exception>
    public static StateDictLoadReport Load(torch.nn.Module model, CheckpointWeights weights, StateDictLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(weights);
        options ??= new StateDictLoadOptions();
        var ignoreUnexpected = KeyPattern.Many(options.IgnoreUnexpected);
        var allowMissing = KeyPattern.Many(options.AllowMissing);
        var reinitialize = KeyPattern.Many(options.ReinitializeOnShapeMismatch);

        // Checkpoint lookup: stored name, plus renamed aliases that do not collide with a stored name.
        var lookup = weights.Names.ToDictionary(n => n, n => n, StringComparer.Ordinal);
        foreach (string name in weights.Names.Order(StringComparer.Ordinal))
            foreach (var (from, to) in options.CheckpointSuffixRenames)
                if (name.EndsWith(from, StringComparison.Ordinal))
                    lookup.TryAdd(name[..^from.Length] + to, name);

        var state = model.state_dict();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var toLoad = new List<(string ModelKey, string CheckpointKey, torch.Tensor Target)>();
        var missing = new List<string>();
        var missingAllowed = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        var reinitialized = new List<ShapeMismatch>();

        foreach (var (modelKey, target) in state.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            string? checkpointKey = Candidates(modelKey, options.KeyPrefixes)
                .Select(c => lookup.TryGetValue(c, out var stored) && !used.Contains(stored) ? stored : null)
                .FirstOrDefault(s => s is not null);
            if (checkpointKey is null)
            {
                (Matches(allowMissing, modelKey) ? missingAllowed : missing).Add(modelKey);
                continue;
            }
            used.Add(checkpointKey);
            long[] found = weights.Info(checkpointKey).Shape;
            if (!found.SequenceEqual(target.shape))
            {
                var m = new ShapeMismatch(modelKey, checkpointKey, target.shape, found);
                (Matches(reinitialize, modelKey) ? reinitialized : mismatched).Add(m);
                continue;
            }
            toLoad.Add((modelKey, checkpointKey, target));
        }

        var unexpected = new List<string>();
        var ignored = new List<string>();
        foreach (string name in weights.Names.Where(n => !used.Contains(n)).Order(StringComparer.Ordinal))
        {
            bool ignore = Candidates(name, options.KeyPrefixes).Any(c => Matches(ignoreUnexpected, c));
            (ignore ? ignored : unexpected).Add(name);
        }

        if (missing.Count > 0 || unexpected.Count > 0 || mismatched.Count > 0)
            throw new CheckpointMismatchException(string.Join(", ", weights.Files), missing, unexpected, mismatched);

        using (torch.no_grad())
        {
            foreach (var (_, checkpointKey, target) in toLoad)
            {
                // copy_ converts dtype and device itself; the CPU tensor read from the file is freed at once.
                using var source = weights.Read(checkpointKey);
                target.copy_(source);
            }
        }
        return new StateDictLoadReport(
            toLoad.ToDictionary(t => t.ModelKey, t => t.CheckpointKey, StringComparer.Ordinal),
            missingAllowed, ignored, reinitialized);
    }

    /// <summary>
    /// The module's state dict (parameters and persistent buffers) as name → tensor pairs, sorted by name, for
    /// <see cref="HfModelFolder.SaveWeights"/> or <see cref="SafeTensorsFile.Save"/>. The tensors are the live
    /// parameters, not copies: do not dispose them. LoRA adapter tensors (<c>….lora_A.weight</c>, <c>….lora_B.weight</c>) are left
    /// out: the base weights keep their Hugging Face keys, and the adapter is saved in its own PEFT files.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, torch.Tensor>> Export(torch.nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.state_dict().Where(kv => !Peft.LoraLinear.IsAdapterKey(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
    }

    /// <summary>The key itself, then with each prefix stripped (if it has it) or added (if it has not).</summary>
    private static IEnumerable<string> Candidates(string key, IEnumerable<string> prefixes)
    {
        yield return key;
        foreach (string p in prefixes)
            yield return key.StartsWith(p, StringComparison.Ordinal) ? key[p.Length..] : p + key;
    }

    private static bool Matches(IReadOnlyList<KeyPattern> patterns, string key) => patterns.Any(p => p.IsMatch(key));
}

/// <summary>A key pattern: a prefix (no <c>*</c>), or a whole-key glob where <c>*</c> is any characters.</summary>
internal sealed class KeyPattern
{
    private readonly string _text;
    private readonly Regex? _glob;

    internal KeyPattern(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        _text = text;
        if (text.Contains('*'))
            _glob = new Regex("^" + string.Join(".*", text.Split('*').Select(Regex.Escape)) + "$", RegexOptions.CultureInvariant);
    }

    internal bool IsMatch(string key) => _glob?.IsMatch(key) ?? key.StartsWith(_text, StringComparison.Ordinal);

    internal static IReadOnlyList<KeyPattern> Many(IEnumerable<string> patterns) => patterns.Select(p => new KeyPattern(p)).ToList();
}
