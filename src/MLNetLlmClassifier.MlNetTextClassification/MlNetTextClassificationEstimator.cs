using Microsoft.ML;
using Microsoft.ML.Runtime;
using Microsoft.ML.TorchSharp;
using Microsoft.ML.TorchSharp.NasBert;
using TorchSharp;

namespace MLNetLlmClassifier.MlNetTextClassification;

/// <summary>
/// ML.NET's TextClassification trainer with this family's corrections around it: the weights made present (a given file, the random
/// stand-in, or ML.NET's download after a quick reachability check), the device set on the MLContext, and torch seeded right before Fit.
/// Fit returns ML.NET's own <see cref="TextClassificationTransformer"/>, which saves and loads as ML.NET's.
/// </summary>
internal sealed class MlNetTextClassificationEstimator(MLContext ml, MlNetTextClassificationFamily.Options options) : IEstimator<ITransformer>
{
    /// <summary>The file ML.NET's trainer loads, under <c>&lt;TempFilePath&gt;/mlnet/</c>.</summary>
    internal const string WeightsFileName = "NasBert2000000.tsm";

    /// <summary>Where ML.NET downloads from: its own base URL, or MICROSOFTML_RESOURCE_PATH.</summary>
    internal static string ResourceUrl =>
        (Environment.GetEnvironmentVariable("MICROSOFTML_RESOURCE_PATH") is { Length: > 0 } b ? b.TrimEnd('/') + "/" : "https://aka.ms/mlnet-resources/")
        + "models/" + WeightsFileName;

    private TextClassificationTrainer.TextClassificationOptions MlNetOptions() => new()
    {
        LabelColumnName = options.LabelColumnName,
        Sentence1ColumnName = options.TextColumnName,
        Sentence2ColumnName = options.Text2ColumnName,
        BatchSize = options.BatchSize,
        MaxEpoch = options.NumberOfEpochs,
        LearningRate = [options.LearningRate],
        WarmupRatio = options.WarmupRatio,
        WeightDecay = options.WeightDecay,
        ClipNorm = options.ClipNorm,
        Dropout = options.Dropout,
        FreezeEncoder = options.FreezeEncoder,
        ValidationSet = options.ValidationSet,
    };

    private void Validate()
    {
        static void Check(bool ok, string name, object? value, string rule)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"Option {name} = {value ?? "null"} is invalid: {rule}.");
        }
        Check(!string.IsNullOrWhiteSpace(options.TextColumnName), nameof(options.TextColumnName), options.TextColumnName, "give a column name");
        Check(options.BatchSize >= 1, nameof(options.BatchSize), options.BatchSize, "must be at least 1");
        Check(options.NumberOfEpochs >= 1, nameof(options.NumberOfEpochs), options.NumberOfEpochs, "must be at least 1");
        Check(options.LearningRate > 0 && double.IsFinite(options.LearningRate), nameof(options.LearningRate), options.LearningRate, "must be a positive number");
        Check(options.WarmupRatio is >= 0 and < 1, nameof(options.WarmupRatio), options.WarmupRatio, "must be in [0, 1)");
        Check(options.WeightsPath is null || File.Exists(options.WeightsPath), nameof(options.WeightsPath), options.WeightsPath, "the file does not exist");
        Torch.TorchDevice.Validate(options.Device, nameof(options.Device));
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        Validate();
        return ml.MulticlassClassification.Trainers.TextClassification(MlNetOptions()).GetOutputSchema(inputSchema);
    }

    /// <inheritdoc/>
    public ITransformer Fit(IDataView input)
    {
        Validate();
        int seed = options.Seed ?? ((IHostEnvironment)ml).Register(nameof(MlNetTextClassificationEstimator)).Rand.Next();
        SetDevice();
        // ML.NET reads the weights from <TempFilePath>/mlnet/NasBert2000000.tsm. A given file or the random stand-in gets a folder of its
        // own, so that the real download and a stand-in can never be taken for one another; TempFilePath points there during Fit only.
        string? folder = options.RandomWeights ? NasBertStandIn.Ensure(ml.TempFilePath)
            : options.WeightsPath is { } given ? LocalCopy(given)
            : null;
        if (folder is null) EnsureDownloadable();
        string temp = ml.TempFilePath;
        if (folder is not null) ml.TempFilePath = folder;
        try
        {
            var trainer = ml.MulticlassClassification.Trainers.TextClassification(MlNetOptions());
            torch.manual_seed(seed);
            return trainer.Fit(input);
        }
        finally
        {
            ml.TempFilePath = temp;
        }
    }

    private void SetDevice()
    {
        var d = options.Device.Trim().ToLowerInvariant();
        if (d == "cpu") { ml.GpuDeviceId = null; return; }
        if (d == "auto")
        {
            if (ml.GpuDeviceId is null && torch.cuda.is_available()) ml.GpuDeviceId = 0;
            return;
        }
        var device = Torch.TorchDevice.Resolve(options.Device, nameof(options.Device)); // CUDA asked for without one: the usual error
        ml.GpuDeviceId = device.index < 0 ? 0 : device.index;
        ml.FallbackToCpu = false;
    }

    /// <summary>A folder whose mlnet/ holds a copy of the given weights file (made once per file).</summary>
    private string LocalCopy(string path)
    {
        var full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        string key = $"{(uint)StringComparer.Ordinal.GetHashCode(full):x8}-{info.Length}-{info.LastWriteTimeUtc.Ticks}";
        var root = Path.Combine(ml.TempFilePath, "mlnetllm-nasbert", key);
        var target = Path.Combine(root, "mlnet", WeightsFileName);
        if (!File.Exists(target))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var tmp = MLNetLlmClassifier.IO.TempArtifacts.Sibling(target);
            using var tracked = MLNetLlmClassifier.IO.TempArtifacts.Track(tmp);
            File.Copy(full, tmp);
            File.Move(tmp, target, overwrite: true);
        }
        return root;
    }

    /// <summary>
    /// Without the file, ML.NET downloads it and, offline, retries for about 70 s before failing. Check first that the address answers
    /// (a few seconds at most) and fail with one line that says what to do.
    /// </summary>
    private void EnsureDownloadable()
    {
        var local = Path.Combine(ml.TempFilePath, "mlnet", WeightsFileName);
        if (File.Exists(local)) return;
        string url = ResourceUrl;
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            using var request = new HttpRequestMessage(HttpMethod.Head, url);
            using var response = http.Send(request, HttpCompletionOption.ResponseHeadersRead);
            if ((int)response.StatusCode >= 400)
                throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException or NotSupportedException)
        {
            throw new InvalidOperationException(
                $"ML.NET's TextClassification needs {WeightsFileName} in {Path.GetDirectoryName(local)}, and {url} cannot be reached ({e.Message}). " +
                "Give the file (option WeightsPath, or --mlnet-textclassification <file> in compare), or train from a random stand-in (RandomWeights = true).", e);
        }
    }
}
