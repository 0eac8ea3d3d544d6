using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Training;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Families;

/// <summary>
/// The one table of model families. Everything that depends on a family (the CLI's <c>--trainer</c>, <c>compare</c>'s columns,
/// sweep candidates, <c>init-model</c>, <c>logits</c>, loading saved models) looks the family up here by name, alias or
/// <c>model_type</c>. A new family is one folder with a <see cref="ClassifierFamily"/> subclass and one line in
/// <see cref="BuiltIn"/> (or one <see cref="Register"/> call from outside the library).
/// </summary>
public static class ClassifierFamilies
{
    /// <summary>The settings file of a saved classifier folder; its "family" field names the family that loads it.</summary>
    public const string SettingsFile = "mlnet-classifier.json";

    // The built-in families, in the order of compare's columns. One line per family.
    private static ClassifierFamily[] BuiltIn() =>
    [
        Sdca.SdcaTextBaselineFamily.Instance,
        Bert.BertFamily.Instance,
        Qwen3.PromptedDecoderFamily.Instance,
        Qwen3.Qwen3SequenceClassifierFamily.Instance,
    ];

    private static readonly List<ClassifierFamily> Families = new(BuiltIn());

    /// <summary>Every registered family, built-in first, then in registration order.</summary>
    public static IReadOnlyList<ClassifierFamily> All
    {
        get { lock (Families) return Families.ToArray(); }
    }

    /// <summary>The names of all families, for messages and help texts.</summary>
    public static string Names => string.Join(", ", All.Select(f => f.Name));

    /// <summary>
    /// Adds a family. Registering the same instance again is a no-op; a name or alias that another family already answers to is an
    /// <see cref="ArgumentException"/>.
    /// </summary>
    public static void Register(ClassifierFamily family)
    {
        ArgumentNullException.ThrowIfNull(family);
        if (string.IsNullOrWhiteSpace(family.Name)) throw new ArgumentException("A family needs a name.", nameof(family));
        lock (Families)
        {
            if (Families.Contains(family)) return;
            foreach (var name in family.Aliases.Prepend(family.Name))
                if (Families.FirstOrDefault(f => f.IsCalled(name)) is { } other)
                    throw new ArgumentException($"The family name '{name}' of {family.GetType().Name} is already taken by the '{other.Name}' family.", nameof(family));
            Families.Add(family);
        }
    }

    /// <summary>Removes a family registered with <see cref="Register"/> (tests and plug-ins); built-in families stay.</summary>
    public static bool Unregister(ClassifierFamily family)
    {
        lock (Families) return Families.Remove(family);
    }

    /// <summary>The family called <paramref name="nameOrAlias"/> (case-insensitive), or null.</summary>
    public static ClassifierFamily? Find(string? nameOrAlias) =>
        nameOrAlias is null ? null : All.FirstOrDefault(f => f.IsCalled(nameOrAlias.Trim()));

    /// <summary>The family called <paramref name="nameOrAlias"/>; an unknown name is an <see cref="ArgumentException"/> listing the families.</summary>
    /// <param name="nameOrAlias">A family name or alias.</param>
    /// <param name="what">What the name was given as, for the message (e.g. "--trainer").</param>
    public static ClassifierFamily Get(string nameOrAlias, string what = "family") =>
        Find(nameOrAlias) ?? throw new ArgumentException($"{what} '{nameOrAlias}' is not a model family: use one of {Names}.");

    /// <summary>The first family that trains checkpoints of config.json's <paramref name="modelType"/>, or null.</summary>
    public static ClassifierFamily? ForModelType(string? modelType) =>
        modelType is null ? null : All.FirstOrDefault(f => f.UsesCheckpoint && string.Equals(f.ModelType, modelType, StringComparison.Ordinal));

    /// <summary>
    /// The family of a Hugging Face folder, by config.json's <c>model_type</c> and, among the families of that type, the one whose
    /// <see cref="ClassifierFamily.Architectures"/> the config's <c>architectures</c> names; an unsupported type is an error naming the file.
    /// </summary>
    public static ClassifierFamily ForModelFolder(string modelFolder)
    {
        var config = HfModelFolder.ReadConfig(modelFolder);
        var modelType = config["model_type"]?.GetValue<string>();
        var architectures = (config["architectures"] as JsonArray)?.Select(a => (a as JsonValue)?.TryGetValue<string>(out var s) == true ? s : null).ToHashSet() ?? [];
        var byArchitecture = All.FirstOrDefault(f => f.UsesCheckpoint && string.Equals(f.ModelType, modelType, StringComparison.Ordinal)
                                                     && f.Architectures.Any(architectures.Contains));
        return byArchitecture ?? ForModelType(modelType) ?? throw new InvalidDataException(
            $"{Path.Combine(modelFolder, "config.json")}: model_type '{modelType}' is not supported " +
            $"(supported: {string.Join(", ", All.Where(f => f.UsesCheckpoint).Select(f => f.ModelType).Distinct())}).");
    }

    /// <summary>Writes a classifier folder's settings file (atomically), naming the family.</summary>
    internal static void WriteSettings(string folder, ClassifierFamily family, JsonObject settings)
    {
        settings["family"] = family.Name;
        settings["format_version"] = 1;
        HfModelFolder.WriteJson(Path.Combine(folder, SettingsFile), settings);
    }

    /// <summary>
    /// The dtype to load a saved classifier in: its settings' "dtype" (Float32 when absent), except that bfloat16 or float16 weights
    /// load in float32 where <see cref="Precision.Auto"/> would not compute in bfloat16 (<see cref="Torch.TorchDevice.AutoDtype(Device, long?)"/>:
    /// a CPU without native bfloat16, or a small model; the conversion is exact).
    /// </summary>
    internal static ScalarType SavedDtype(JsonObject settings, Device device, string folder)
    {
        var dtype = settings.Enum<ScalarType>("dtype", ScalarType.Float32);
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new SettingsFieldException($"\"dtype\" = {dtype} is not a weight dtype (Float32, BFloat16, Float16).");
        if (dtype == ScalarType.Float32 || Torch.TorchDevice.SupportsFastBf16(device)) return dtype;
        return dtype == ScalarType.BFloat16 && AutoDtype(folder, device) == ScalarType.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
    }

    /// <summary>What <see cref="Precision.Auto"/> computes in for the model of <paramref name="folder"/> on <paramref name="device"/>
    /// (<see cref="Torch.TorchDevice.AutoDtype(Device, long?)"/> with the hidden size of its config.json).</summary>
    internal static ScalarType AutoDtype(string? folder, Device device) =>
        Torch.TorchDevice.AutoDtype(device, Checkpoints.HfModelFolder.TryReadHiddenSize(folder));

    /// <summary>
    /// Loads a classifier saved by <see cref="ITrainableClassifier.SaveModelFolder"/> through the family its settings name,
    /// and refuses one with a NaN or infinite weight (see <see cref="Checkpoints.NonFiniteWeights"/>).
    /// </summary>
    /// <param name="folder">The classifier folder.</param>
    /// <param name="device">Where the model runs.</param>
    /// <param name="source">Names the model in errors about its weights (default: the folder's weights file).</param>
    internal static ITrainableClassifier LoadClassifier(string folder, Device device, string? source = null)
    {
        var model = LoadClassifierUnchecked(folder, device);
        try
        {
            Checkpoints.NonFiniteWeights.Require(model.Module, source ?? Path.Combine(folder, HfModelFolder.WeightsFileName));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Saves a classifier folder: <see cref="ITrainableClassifier.SaveModelFolder"/> (the base weights under their Hugging Face keys),
    /// plus, for a model with a LoRA adapter, the adapter in PEFT's files (<see cref="Peft.PeftAdapterFolder"/>), which
    /// <see cref="LoadClassifier"/> puts back on the base. With <paramref name="merge"/> the adapter is first merged into the base
    /// weights (merge-and-unload, which changes this model instance), so the folder is a plain Hugging Face model.
    /// <paramref name="form"/> <see cref="ExportForm.SequenceClassification"/> writes
    /// <see cref="ITrainableClassifier.SaveSequenceClassificationFolder"/> instead, always without adapter files: a LoRA model must be merged.
    /// </summary>
    /// <exception cref="InvalidOperationException">The sequence-classification form of a LoRA model without <paramref name="merge"/>.</exception>
    internal static void SaveClassifier(ITrainableClassifier model, string folder, bool merge = false, ExportForm form = ExportForm.Native)
    {
        var lora = Peft.LoraModel.Of(model.Module);
        if (form == ExportForm.SequenceClassification && lora is not null && !merge)
            throw new InvalidOperationException($"The {model.Family.Name} classifier has a LoRA adapter: its sequence-classification form is written merged (pass --merge, or call ExportMergedHuggingFaceFolder).");
        if (merge) lora?.MergeAndUnload();
        if (form == ExportForm.SequenceClassification)
        {
            model.SaveSequenceClassificationFolder(folder);
            return;
        }
        model.SaveModelFolder(folder);
        if (lora is not null && !merge) Peft.PeftAdapterFolder.Write(lora, folder);
    }

    private static ITrainableClassifier LoadClassifierUnchecked(string folder, Device device)
    {
        var path = Path.Combine(folder, SettingsFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} is missing: this folder was not saved by MLNetLlmClassifier.", path);
        JsonObject settings;
        settings = IO.UntrustedText.ParseJson(File.ReadAllBytes(path), path) as JsonObject
            ?? throw new InvalidDataException($"{path} is not a valid classifier settings file: it does not hold a JSON object.");
        string? name;
        try { name = settings["family"]?.GetValue<string>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new InvalidDataException($"{path}: 'family' is not a string ({IO.UntrustedText.OneLine(e.Message)}).", e); }
        if (name is null) throw new InvalidDataException($"{path} names no model family.");
        var family = Find(name);
        if (family is null || !family.UsesCheckpoint)
            throw new InvalidDataException($"{path} names the model family '{IO.UntrustedText.OneLine(name, 80)}', which this version does not know (known: {Names}).");
        try
        {
            var model = family.LoadClassifier(folder, settings, device);
            if (!Peft.PeftAdapterFolder.Has(folder)) return model;
            try
            {
                Peft.PeftAdapterFolder.Apply(model.Module, model.HeadModules, folder);
                return model;
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        catch (SettingsFieldException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException or OverflowException)
        {
            // A field of the settings with the wrong JSON type or value (JsonNode.GetValue throws these): name the file.
            throw new InvalidDataException($"{path}: a setting has the wrong type or value ({IO.UntrustedText.OneLine(e.Message)}).", e);
        }
    }
}
