using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Training;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.MLNet;

/// <summary>
/// Rebuilds a saved classifier from its folder: <c>mlnet-classifier.json</c> names the family, and
/// the family's loader reads the rest. New model families register here.
/// </summary>
internal static class ClassifierFamilies
{
    public const string SettingsFile = "mlnet-classifier.json";

    private static readonly Dictionary<string, Func<string, JsonObject, Device, ITrainableClassifier>> Loaders = new()
    {
        [Bert.BertClassifierModel.FamilyName] = Bert.BertClassifierModel.Load,
        [Qwen3.PromptedDecoderClassifierModel.FamilyName] = Qwen3.PromptedDecoderClassifierModel.Load,
    };

    /// <summary>Registers the loader of a model family (idempotent for the same name).</summary>
    public static void Register(string family, Func<string, JsonObject, Device, ITrainableClassifier> loader)
    {
        lock (Loaders) Loaders[family] = loader;
    }

    /// <summary>Writes the classifier settings file (atomically).</summary>
    public static void WriteSettings(string folder, string family, JsonObject settings)
    {
        settings["family"] = family;
        settings["format_version"] = 1;
        HfModelFolder.WriteJson(Path.Combine(folder, SettingsFile), settings);
    }

    /// <summary>Loads a classifier saved by <see cref="ITrainableClassifier.SaveModelFolder"/>.</summary>
    public static ITrainableClassifier Load(string folder, Device device)
    {
        var path = Path.Combine(folder, SettingsFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} is missing: this folder was not saved by MLNetLlmClassifier.", path);
        JsonObject settings;
        try { settings = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException("empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException)
        { throw new InvalidDataException($"{path} is not a valid classifier settings file: {e.Message}", e); }
        var family = settings["family"]?.GetValue<string>() ?? throw new InvalidDataException($"{path} names no model family.");
        Func<string, JsonObject, Device, ITrainableClassifier>? loader;
        lock (Loaders) Loaders.TryGetValue(family, out loader);
        if (loader is null) throw new InvalidDataException($"{path} names the model family '{family}', which this version does not know (known: {string.Join(", ", Loaders.Keys)}).");
        return loader(folder, settings, device);
    }
}
