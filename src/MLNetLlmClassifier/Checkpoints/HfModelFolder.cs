using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.IO;
using TorchSharp;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>
/// Reads and writes Hugging Face model folders (what <c>save_pretrained</c> writes): <c>config.json</c> and the
/// weights as <c>model.safetensors</c> or as shards listed by <c>model.safetensors.index.json</c>.
/// Only safetensors is read: pickle checkpoints (<c>pytorch_model.bin</c>) can run code when loaded and are refused.
/// </summary>
public static class HfModelFolder
{
    /// <summary>The model configuration file name.</summary>
    public const string ConfigFileName = "config.json";
    /// <summary>The single-file weights name.</summary>
    public const string WeightsFileName = "model.safetensors";
    /// <summary>The sharded weights index name.</summary>
    public const string WeightsIndexFileName = "model.safetensors.index.json";

    /// <summary>
    /// An empty file that <c>init-model</c> (the families' CreateRandomCheckpoint) leaves in a random checkpoint, so that a training
    /// plan can say the run starts from random weights. Other tools ignore it.
    /// </summary>
    internal const string RandomWeightsMarkerFileName = "mlnet-random-weights";

    /// <summary>Marks <paramref name="folder"/> as a random checkpoint (see <see cref="RandomWeightsMarkerFileName"/>).</summary>
    internal static void MarkRandomWeights(string folder) => File.WriteAllText(Path.Combine(folder, RandomWeightsMarkerFileName), "");

    /// <summary>Whether <paramref name="folder"/> is a random checkpoint written by init-model.</summary>
    internal static bool HasRandomWeights(string? folder) => folder is not null && File.Exists(Path.Combine(folder, RandomWeightsMarkerFileName));

    /// <summary>Largest JSON file read (config, index): 64 MiB.</summary>
    private const long MaxJsonBytes = 64L * 1024 * 1024;

    private static readonly JsonSerializerOptions IndentedJson = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Reads <c>config.json</c> of a model folder.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder has no config.json.</exception>
    /// <exception cref="InvalidDataException">config.json is not a JSON object.</exception>
    public static JsonObject ReadConfig(string folder)
    {
        string path = Path.Combine(RequireFolder(folder), ConfigFileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} not found: a Hugging Face model folder needs config.json next to the weights.", path);
        return ReadJsonObject(path);
    }

    /// <summary>The <c>hidden_size</c> of a model folder's config.json, or null when the folder, the file or the field is missing or unreadable
    /// (callers use it only to choose a precision).</summary>
    internal static long? TryReadHiddenSize(string? folder)
    {
        try
        {
            return folder is not null && File.Exists(Path.Combine(folder, ConfigFileName))
                   && ReadConfig(folder)["hidden_size"] is JsonValue v && v.TryGetValue<long>(out long h) && h > 0 ? h : null;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Opens the weights of a model folder: <c>model.safetensors</c> if present, else the shards listed in
    /// <c>model.safetensors.index.json</c>. Every file is validated when opened (see <see cref="SafeTensorsFile.Open"/>).
    /// </summary>
    /// <exception cref="FileNotFoundException">No safetensors weights, or a shard named by the index is missing.</exception>
    /// <exception cref="NotSupportedException">The folder has only pickle (<c>pytorch_model.bin</c>) or other non-safetensors weights.</exception>
    /// <exception cref="InvalidDataException">A file or the index is invalid, or a shard lacks a tensor the index maps to it.</exception>
    public static CheckpointWeights OpenWeights(string folder)
    {
        string dir = RequireFolder(folder);
        string single = Path.Combine(dir, WeightsFileName);
        if (File.Exists(single))
        {
            var file = SafeTensorsFile.Open(single);
            return new CheckpointWeights([file], file.Tensors.ToDictionary(t => t.Name, _ => file, StringComparer.Ordinal));
        }
        string index = Path.Combine(dir, WeightsIndexFileName);
        if (File.Exists(index))
            return OpenSharded(dir, index);

        string[] other = ["pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack"];
        var found = other.Where(f => File.Exists(Path.Combine(dir, f))).ToList();
        if (found.Count > 0)
            throw new NotSupportedException(
                $"{dir} has {string.Join(" and ", found)} but no {WeightsFileName}: only safetensors weights are loaded " +
                "(pickle checkpoints can execute code when loaded, so they are never read). Convert the folder once with Python: " +
                "`from transformers import AutoModel; AutoModel.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)` " +
                "(use the model's own class, e.g. AutoModelForSequenceClassification, to keep its head).");
        throw new FileNotFoundException($"{dir} has neither {WeightsFileName} nor {WeightsIndexFileName}.", single);
    }

    /// <summary>Writes <c>model.safetensors</c> (metadata <c>{"format": "pt"}</c>, as transformers writes it) atomically.</summary>
    public static void SaveWeights(string folder, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors)
    {
        Directory.CreateDirectory(folder);
        SafeTensorsFile.Save(Path.Combine(folder, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>Writes a JSON node, indented with 2 spaces and a final newline like transformers, atomically.</summary>
    public static void WriteJson(string path, JsonNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        string text = node.ToJsonString(IndentedJson) + "\n";
        AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));
    }

    /// <summary>Reads a JSON file that must hold an object (size-capped, clear errors naming the file).</summary>
    /// <exception cref="InvalidDataException">Not valid JSON, or not an object.</exception>
    public static JsonObject ReadJsonObject(string path)
    {
        var length = new FileInfo(path).Length;
        if (length > MaxJsonBytes)
            throw new InvalidDataException($"{path} is {length} bytes, larger than the {MaxJsonBytes}-byte limit for a JSON file.");
        JsonNode? node = IO.UntrustedText.ParseJson(File.ReadAllBytes(path), path);
        return node as JsonObject ?? throw new InvalidDataException($"{path} holds a JSON {node?.GetValueKind().ToString() ?? "null"}, not an object.");
    }

    /// <summary>
    /// Reads the <c>weight_map</c> of a <c>model.safetensors.index.json</c>: tensor name → shard file name.
    /// The index is untrusted, so every shard must be a plain file name inside the model folder.
    /// </summary>
    /// <exception cref="InvalidDataException">No weight_map object, or an entry is not a plain file name.</exception>
    public static IReadOnlyDictionary<string, string> ReadWeightMap(string indexPath)
    {
        var index = ReadJsonObject(indexPath);
        if (index["weight_map"] is not JsonObject weightMap)
            throw new InvalidDataException($"{indexPath} has no 'weight_map' object.");

        var nameToShard = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in weightMap)
        {
            if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
                throw new InvalidDataException($"{indexPath}: weight_map['{name}'] is not a file name string.");
            string shard = v.GetValue<string>();
            if (shard.Length == 0 || shard is "." or ".." || shard.IndexOfAny(['/', '\\', ':']) >= 0 || shard != Path.GetFileName(shard))
                throw new InvalidDataException($"{indexPath}: weight_map['{name}'] = '{shard}' is not a plain file name in the model folder.");
            nameToShard[name] = shard;
        }
        return nameToShard;
    }

    private static CheckpointWeights OpenSharded(string dir, string indexPath)
    {
        var nameToShard = ReadWeightMap(indexPath);

        var files = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (string shard in nameToShard.Values.Distinct().Order(StringComparer.Ordinal))
            {
                string shardPath = Path.Combine(dir, shard);
                if (!File.Exists(shardPath))
                    throw new FileNotFoundException($"{indexPath} maps tensors to {shard}, which is missing from {dir}.", shardPath);
                files[shard] = SafeTensorsFile.Open(shardPath);
            }
            var byName = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (var (name, shard) in nameToShard)
            {
                var file = files[shard];
                if (!file.Contains(name))
                    throw new InvalidDataException($"{indexPath} maps tensor '{name}' to {shard}, but {file.Path} does not contain it.");
                byName[name] = file;
            }
            return new CheckpointWeights(files.Values.ToList(), byName);
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
    }

    private static string RequireFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string full = Path.GetFullPath(folder);
        if (!Directory.Exists(full))
            throw new DirectoryNotFoundException($"Model folder {full} does not exist.");
        return full;
    }
}

/// <summary>
/// The weights of a checkpoint, possibly spread over several safetensors shards, read one tensor at a time.
/// With an index, only the names in its weight_map are visible (as transformers does).
/// </summary>
public sealed class CheckpointWeights : IDisposable
{
    private readonly IReadOnlyList<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _byName;

    internal CheckpointWeights(IReadOnlyList<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> byName)
    {
        _files = files;
        _byName = byName;
    }

    /// <summary>All tensor names.</summary>
    public IReadOnlyCollection<string> Names => _byName.Keys;

    /// <summary>The safetensors files, for diagnostics.</summary>
    public IReadOnlyList<string> Files => _files.Select(f => f.Path).ToList();

    /// <summary>Whether a tensor of that name exists.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of one tensor.</summary>
    /// <exception cref="KeyNotFoundException">No tensor of that name.</exception>
    public SafeTensorInfo Info(string name) => FileOf(name).Info(name);

    /// <summary>Reads one tensor (see <see cref="SafeTensorsFile.Read"/>).</summary>
    public torch.Tensor Read(string name, torch.ScalarType? dtype = null, torch.Device? device = null) => FileOf(name).Read(name, dtype, device);

    /// <summary>Closes every file.</summary>
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }

    private SafeTensorsFile FileOf(string name) =>
        _byName.TryGetValue(name, out var file) ? file
        : throw new KeyNotFoundException($"The checkpoint ({string.Join(", ", _files.Select(f => f.Path))}) has no tensor named '{name}'.");
}
